"""The journal import in Celery (issue 26, items 1 and 7): the preview and the commit run as
tasks whose only argument is the import's id, a delivery while another attempt lives skips, the
sweep queues again an import whose worker or message was lost, and a real worker reads and saves
an upload end to end. Also: the preview's and the commit's queries do not grow per row beyond
the checks that are the visit's own."""

from __future__ import annotations

import datetime
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.exceptions import Conflict
from tests.reporting.test_recovery import Services, broker  # noqa: F401 (a fixture)
from tests.visits.test_visit_import import (  # noqa: F401 (fixtures)
    _store,
    centre,
    csv_file,
    day,
    enrolled,
    line,
    nurse,
)
from visits import tasks
from visits.imports import service
from visits.imports.service import (
    IMPORTS,
    import_commit,
    import_create,
    import_preview,
    import_request,
    import_request_commit,
    import_resume_stuck,
)
from visits.models import ImportStatus, Visit, VisitImport

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """The tasks sent (name, args) instead of run."""
    calls: list[tuple[str, tuple[object, ...]]] = []
    for name in ("import_preview", "import_commit"):
        task = getattr(tasks, name)
        monkeypatch.setattr(task, "delay", lambda *args, _n=task.name: calls.append((_n, args)))
    return calls


def upload(tmp_path: Path, nurse, centre, rows) -> VisitImport:  # noqa: F811
    path = csv_file(tmp_path, rows)
    with path.open("rb") as file:
        return import_request(user=nurse, centre=centre, file=file, file_name="export.csv")


def test_an_upload_queues_its_preview_with_the_imports_id_only_after_commit(
    tmp_path,
    centre,  # noqa: F811
    nurse,  # noqa: F811
    sent,
    django_capture_on_commit_callbacks,
):
    a = enrolled(centre)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        visit_import = upload(tmp_path, nurse, centre, [line(a.child.identity, day(a, 60))])
        assert sent == []  # not before the upload's transaction commits
    assert len(callbacks) == 1
    assert sent == [("visits.import_preview", (str(visit_import.pk),))]
    assert visit_import.status == ImportStatus.QUEUED


def test_the_preview_and_commit_tasks_read_and_save_the_import(
    tmp_path,
    centre,  # noqa: F811
    nurse,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    a = enrolled(centre)
    with django_capture_on_commit_callbacks(execute=True):
        visit_import = upload(tmp_path, nurse, centre, [line(a.child.identity, day(a, 60))])
    visit_import.refresh_from_db()
    assert (visit_import.status, visit_import.count_new) == (ImportStatus.READY, 1)

    with django_capture_on_commit_callbacks(execute=True):
        claimed = import_request_commit(visit_import, user=nurse)
        assert (claimed.status, claimed.committed_by) == (ImportStatus.COMMITTING, nurse)
    visit_import.refresh_from_db()
    assert visit_import.status == ImportStatus.COMMITTED
    assert visit_import.committed_by == nurse
    visit = Visit.objects.get()
    assert (visit.enrolment, visit.nurse, visit.slot) == (a, nurse, "2m")
    with pytest.raises(Conflict) as second:
        import_request_commit(visit_import, user=nurse)
    assert second.value.detail == "Importen är redan sparad."


def test_a_task_for_a_missing_or_malformed_id_skips():
    assert tasks.import_preview(str(uuid.uuid4())) == "skipped"
    assert tasks.import_commit("not-an-id") == "skipped"


@pytest.fixture
def other_session():
    s = connection.settings_dict
    other = psycopg.connect(
        dbname=s["NAME"],
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"] or None,
        autocommit=True,
    )
    yield other
    other.close()


@pytest.mark.django_db(transaction=True)
def test_a_delivery_while_another_attempt_holds_the_lock_skips_and_changes_nothing(
    tmp_path,
    centre,  # noqa: F811
    nurse,  # noqa: F811
    other_session,
    monkeypatch,
):
    a = enrolled(centre)
    path = csv_file(tmp_path, [line(a.child.identity, day(a, 60))])
    visit_import = import_create(user=nurse, centre=centre, path_or_file=path, file_name="x.csv")
    other_session.execute(
        "SELECT pg_advisory_lock(%s, %s)", [IMPORTS.space, IMPORTS.key(visit_import.pk)]
    )
    monkeypatch.setattr("core.liveness.ACQUIRE_WAIT_SECONDS", 0.2)
    assert IMPORTS.is_alive(visit_import.pk)
    assert tasks.import_preview(str(visit_import.pk)) == "skipped"
    visit_import.refresh_from_db()
    assert (visit_import.status, visit_import.rows.count()) == (ImportStatus.QUEUED, 0)
    # The sweep leaves a live attempt alone, however long it takes.
    VisitImport.objects.filter(pk=visit_import.pk).update(status=ImportStatus.PREVIEWING)
    assert import_resume_stuck() == 0

    other_session.execute("SELECT pg_advisory_unlock_all()")
    assert tasks.import_preview(str(visit_import.pk)) == ImportStatus.READY
    assert not IMPORTS.is_alive(visit_import.pk)  # released after the attempt


def test_the_sweep_queues_imports_whose_worker_or_message_was_lost(
    tmp_path,
    centre,  # noqa: F811
    nurse,  # noqa: F811
    sent,
    django_capture_on_commit_callbacks,
):
    a = enrolled(centre)
    path = csv_file(tmp_path, [line(a.child.identity, day(a, 60))])

    def made(status: str, age: datetime.timedelta = datetime.timedelta(0)) -> VisitImport:
        visit_import = import_create(
            user=nurse, centre=centre, path_or_file=path, file_name="x.csv"
        )
        VisitImport.objects.filter(pk=visit_import.pk).update(
            status=status, updated_at=timezone.now() - age
        )
        return visit_import

    previewing = made(ImportStatus.PREVIEWING)  # its worker died a moment ago
    committing = made(ImportStatus.COMMITTING)
    lost = made(ImportStatus.QUEUED, datetime.timedelta(minutes=16))
    made(ImportStatus.QUEUED, datetime.timedelta(minutes=5))  # still waiting in the queue
    made(ImportStatus.READY, datetime.timedelta(days=3))  # waits for the user
    made(ImportStatus.COMMITTED)

    with django_capture_on_commit_callbacks(execute=True):
        assert import_resume_stuck() == 3
    assert sorted(sent) == sorted(
        [
            ("visits.import_preview", (str(previewing.pk),)),
            ("visits.import_commit", (str(committing.pk),)),
            ("visits.import_preview", (str(lost.pk),)),
        ]
    )
    # Queued again, the lost message is not sent a second time by the next sweep.
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert import_resume_stuck() == 2
    assert {args[0] for _name, args in sent} == {str(previewing.pk), str(committing.pk)}


def test_a_preview_started_again_starts_over_and_a_commit_left_committing_is_saved(
    tmp_path,
    centre,  # noqa: F811
    nurse,  # noqa: F811
):
    """What the sweep's new delivery does: a preview whose worker died half-way is read from
    the first row again (no row twice); a commit whose worker died left nothing (its
    transaction), so the new attempt saves every new row once."""
    a, b = enrolled(centre), enrolled(centre)
    path = csv_file(
        tmp_path, [line(a.child.identity, day(a, 60)), line(b.child.identity, day(b, 60))]
    )
    visit_import = import_create(user=nurse, centre=centre, path_or_file=path, file_name="x.csv")
    import_preview(visit_import)
    VisitImport.objects.filter(pk=visit_import.pk).update(status=ImportStatus.PREVIEWING)
    assert tasks.import_preview(str(visit_import.pk)) == ImportStatus.READY
    visit_import.refresh_from_db()
    assert (visit_import.rows.count(), visit_import.count_new) == (2, 2)

    service.import_claim_commit(visit_import, user=nurse)
    assert tasks.import_commit(str(visit_import.pk)) == ImportStatus.COMMITTED
    assert tasks.import_commit(str(visit_import.pk)) == ImportStatus.COMMITTED  # redelivered
    assert Visit.objects.count() == 2


def _queries(tmp_path, nurse, centre, n: int) -> tuple[int, int]:  # noqa: F811
    enrolments = [enrolled(centre) for _ in range(n)]
    rows = [line(e.child.identity, day(e, 60)) for e in enrolments]
    path = csv_file(tmp_path, rows, name=f"{n}.csv")
    visit_import = import_create(user=nurse, centre=centre, path_or_file=path, file_name="x.csv")
    with CaptureQueriesContext(connection) as preview:
        import_preview(visit_import)
    with CaptureQueriesContext(connection) as commit:
        import_commit(visit_import, user=nurse)
    assert Visit.objects.filter(enrolment__in=enrolments).count() == n
    return len(preview), len(commit)


def test_the_previews_queries_per_row_are_only_the_slot_check_and_the_commits_the_save(
    tmp_path,
    centre,  # noqa: F811
    nurse,  # noqa: F811
):
    """Children, enrolments, stored visits, codes, the centre's organisation, its paid months
    and compensation rule are read once per chunk or import, not per row. Per new row the
    preview asks whether its slot is taken; the commit saves the visit (savepoint, lock,
    slot check, insert, its compensation, the access log)."""
    preview_10, commit_10 = _queries(tmp_path, nurse, centre, 10)
    preview_20, commit_20 = _queries(tmp_path, nurse, centre, 20)
    assert preview_20 - preview_10 == 10 * 1
    assert commit_20 - commit_10 == 10 * 8


# --- A real worker ------------------------------------------------------------------------------
class _ImportServices(Services):
    def __init__(self, redis_url: str, tmp_path: Path, store: Path) -> None:
        super().__init__(redis_url, tmp_path)
        self.store = store

    def env(self, port: int) -> dict[str, str]:
        return {**super().env(port), "IMPORT_STORE": str(self.store)}


def _wait_for(visit_import: VisitImport, status: str, seconds: float = 60) -> VisitImport:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        visit_import.refresh_from_db()
        if visit_import.status == status:
            return visit_import
        time.sleep(0.2)
    raise AssertionError(f"still {visit_import.status} after {seconds} s")


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_previews_and_commits_an_upload(
    broker,  # noqa: F811
    tmp_path,
    settings,
    centre,  # noqa: F811
    nurse,  # noqa: F811
):
    a, b = enrolled(centre), enrolled(centre)
    services = _ImportServices(broker, tmp_path, Path(settings.IMPORT_STORE))
    try:
        services.worker("worker", int(connection.settings_dict["PORT"] or 5432))
        visit_import = upload(
            tmp_path,
            nurse,
            centre,
            [line(a.child.identity, day(a, 60)), line(b.child.identity, day(b, 60))],
        )
        ready = _wait_for(visit_import, ImportStatus.READY)
        assert ready.counts == {
            "rows": 2,
            "new": 2,
            "duplicate": 0,
            "conflict": 0,
            "unmatched": 0,
            "invalid": 0,
        }
        import_request_commit(ready, user=nurse)
        _wait_for(visit_import, ImportStatus.COMMITTED)
        assert Visit.objects.filter(enrolment__in=[a, b]).count() == 2
        assert not (Path(settings.IMPORT_STORE) / str(visit_import.pk)).exists()
        log = services.log("worker")
        assert "visits.import_preview" in log and "visits.import_commit" in log
        assert a.child.identity not in log
    finally:
        services.stop()
