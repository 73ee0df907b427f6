"""The journal import (issue 26; API.md "Importing visits from the journal system"): every
outcome with its reason in the visit form's words, the commit through the typed visit's service
(compensation, ZV509, locked months), idempotency, the rollback, the access log, the private
store, the column mapping and `manage.py import_visits`."""

from __future__ import annotations

import datetime
import io
import logging
import os
import stat
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from core.exceptions import Conflict
from core.models import Role
from funding import ledger
from funding.compensation import month_pay
from funding.models import CompensationRule, VisitCompensation
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.test_compensation import at, d, rule
from tests.visits.factories import (
    ChildFactory,
    EnrolmentFactory,
    log_visit,
    nurse_at,
    personnummer,
    zv509,
)
from visits.imports import service
from visits.imports.service import (
    import_commit,
    import_create,
    import_preview,
    import_purge_files,
    stored_path,
)
from visits.models import (
    AccessLog,
    ColumnMapping,
    ImportStatus,
    Visit,
    VisitImport,
    VisitImportRow,
)

pytestmark = pytest.mark.django_db

HSA = "SE2321000164-BVC1"
HEADER = (
    "personnummer",
    "datum",
    "vardenhet",
    "besokstyp",
    "status",
    "kva",
    "socialtjanst",
    "tolk",
    "sprak",
    "besokstillfalle",
)


@pytest.fixture(autouse=True)
def _store(settings, tmp_path):
    settings.IMPORT_STORE = tmp_path / "store"


@pytest.fixture
def centre():
    zv509()
    organisation = OrganisationFactory()
    # As the typed visit's test (tests/funding/test_compensation.py, the API's compensation).
    CompensationRule.objects.create(
        organisation=organisation,
        valid_from=datetime.date(2020, 1, 1),
        programme_variable=Decimal("2500.00"),
        ordinary=Decimal("1800.00"),
    )
    return CentreFactory(organisation=organisation, hsa_id=HSA)


@pytest.fixture
def nurse(centre):
    return nurse_at(centre)


def written(identity: str) -> str:
    """A 12-digit number as journals write it."""
    return f"{identity[:8]}-{identity[8:]}"


def enrolled(centre, **child):
    return EnrolmentFactory(child=ChildFactory(current_centre=centre, **child))


def day(enrolment, age_days: int) -> datetime.date:
    return enrolment.child.birth_date + datetime.timedelta(days=age_days)


def line(identity: str, date: object, **values: str) -> dict[str, str]:
    """A row of a joint home visit (social services present), completed."""
    return {
        "personnummer": written(identity),
        "datum": str(date),
        "vardenhet": HSA,
        "besokstyp": "hembesök",
        "socialtjanst": "ja",
        **values,
    }


def csv_file(folder: Path, rows: list[dict[str, str]], header=HEADER, name="export.csv") -> Path:
    path = folder / name
    lines = [";".join(header)]
    lines += [";".join(row.get(column, "") for column in HEADER) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(tmp_path, user, centre, rows, **kwargs) -> VisitImport:
    path = csv_file(tmp_path, rows, **kwargs)
    visit_import = import_create(user=user, centre=centre, path_or_file=path, file_name=path.name)
    return import_preview(visit_import)


def outcomes(visit_import: VisitImport) -> list[tuple[int, str, str]]:
    return list(
        VisitImportRow.objects.filter(visit_import=visit_import)
        .order_by("number")
        .values_list("number", "outcome", "reason")
    )


# --- Classification ---------------------------------------------------------------------------
def test_every_outcome_with_the_visit_forms_words(tmp_path, centre, nurse):
    a = enrolled(centre)
    b = enrolled(centre)
    not_enrolled = ChildFactory(current_centre=centre)
    elsewhere = EnrolmentFactory(
        child=ChildFactory(current_centre=CentreFactory(organisation=centre.organisation))
    )
    elsewhere.centre.hsa_id = "SE2321000164-BVC2"
    elsewhere.centre.save()
    wrong = a.child.identity[:-1] + str((int(a.child.identity[-1]) + 1) % 10)
    stranger = personnummer(a.child.birth_date, 998)
    today = timezone.localdate()
    rows = [
        line(a.child.identity, day(a, 60)),  # 2: new (slot 2m from the date)
        line(b.child.identity, day(b, 60), kva="ZV509", socialtjanst="nej"),  # 3
        line(b.child.identity, today + datetime.timedelta(days=1)),  # 4: future
        line(b.child.identity, day(b, -10)),  # 5: before birth
        line(b.child.identity, day(b, 62), kva="XX999"),  # 6: unknown code
        line(wrong, day(a, 61)),  # 7: check digit
        line(not_enrolled.identity, day(a, 61)),  # 8
        line(elsewhere.child.identity, day(a, 61), vardenhet="SE2321000164-BVC2"),  # 9
        line(stranger, day(a, 61)),  # 10
        line(b.child.identity, day(b, 61), besokstyp="telefonbesök"),  # 11
        line(a.child.identity, day(a, 60)),  # 12: the same visit again
    ]
    visit_import = run(tmp_path, nurse, centre, rows)

    assert visit_import.status == ImportStatus.READY
    assert outcomes(visit_import) == [
        (2, "new", ""),
        (3, "invalid", "ZV509 (medverkan av socialtjänst) kräver att socialtjänsten deltog."),
        (4, "invalid", "Besöket kan inte ligga i framtiden."),
        (5, "invalid", "Besöket kan inte ligga före barnets födelse."),
        (6, "invalid", "Okänd KVÅ-kod, eller inte giltig på besöksdagen: XX999."),
        (7, "invalid", "Kontrollsiffran stämmer inte."),
        (8, "unmatched", "Barnet är inte inskrivet vid BVC:n."),
        (9, "unmatched", "Vårdenheten är okänd eller ingen BVC som importen gäller för dig."),
        (10, "unmatched", "Barnet är inte registrerat i organisationen."),
        (11, "invalid", "Okänt värde i kolumnen besokstyp: telefonbesök."),
        (12, "duplicate", "Besöket står redan på en tidigare rad."),
    ]
    assert visit_import.counts == {
        "rows": 11,
        "new": 1,
        "duplicate": 1,
        "conflict": 0,
        "unmatched": 3,
        "invalid": 6,
    }
    assert (visit_import.progress_done, visit_import.progress_total) == (11, 11)
    new = VisitImportRow.objects.get(visit_import=visit_import, number=2)
    assert (new.child, new.enrolment, new.visit) == (a.child, a, None)
    assert new.child_masked == f"{a.child.identity[:8]}-****"
    assert new.key == f"{a.child.pk}|{day(a, 60)}|home|2m"
    assert new.values["kva_codes"] == ["ZV509"]  # derived, as for a typed visit
    assert Visit.objects.count() == 0  # a preview saves nothing


def test_a_typed_visit_is_a_duplicate_and_a_different_one_for_its_slot_a_conflict(
    tmp_path, centre, nurse
):
    a = enrolled(centre)
    typed = log_visit(a, nurse, date=day(a, 60), slot="2m", social_services_present=True)
    rows = [
        line(a.child.identity, day(a, 60)),  # the typed visit (its slot from the date)
        line(a.child.identity, day(a, 60), besokstillfalle="2m"),
        line(a.child.identity, day(a, 63)),  # another completed visit for slot 2m
        line(a.child.identity, day(a, 63), besokstillfalle="2m", besokstyp="mottagningsbesök"),
    ]
    visit_import = run(tmp_path, nurse, centre, rows)

    taken = "Besökstillfället har redan ett genomfört besök."
    assert outcomes(visit_import) == [
        (2, "duplicate", "Besöket finns redan."),
        (3, "duplicate", "Besöket finns redan."),
        (4, "conflict", taken),
        (5, "conflict", taken),
    ]
    assert set(VisitImportRow.objects.values_list("visit", flat=True)) == {typed.pk}


def test_two_rows_of_one_file_for_one_slot_the_second_is_a_conflict(tmp_path, centre, nurse):
    a = enrolled(centre)
    visit_import = run(
        tmp_path,
        nurse,
        centre,
        [line(a.child.identity, day(a, 60)), line(a.child.identity, day(a, 64))],
    )
    assert outcomes(visit_import) == [
        (2, "new", ""),
        (3, "conflict", "Besökstillfället har redan ett genomfört besök."),
    ]


def test_a_row_in_a_paid_month_is_a_conflict(tmp_path):
    """As tests/funding/test_month_payment.py locks a month: August paid on 15 September."""
    zv509()
    organisation = OrganisationFactory()
    rule(organisation)
    centre = CentreFactory(organisation=organisation, hsa_id=HSA)
    nurse = nurse_at(centre)
    finance = member(Role.FINANCE, organisation=organisation)
    with at(d(1, 5)):
        grant = ledger.grant_create(
            user=finance,
            organisation=organisation,
            funder="socialstyrelsen",
            reference="26RS1",
            year=2026,
            amount=Decimal("100000"),
            received_on=d(1, 5),
            use_by=d(12, 31),
            report_due=d(3, 1, 2027),
        )
    a = enrolled(centre, birth_date=d(6, 1))
    b = enrolled(centre, birth_date=d(6, 1))
    with at(d(9, 15)):
        log_visit(a, nurse, date=d(8, 3), social_services_present=True)
        month_pay(user=finance, grant=grant, year=2026, month=8)
        visit_import = run(
            tmp_path,
            nurse,
            centre,
            [line(b.child.identity, d(8, 10)), line(b.child.identity, d(9, 2), besokstyp="annat")],
        )
    assert outcomes(visit_import) == [
        (
            2,
            "conflict",
            "Månaden 2026-08 är betald och låst. Markera ändringen som en justering; skillnaden "
            "bokas då i nästa öppna månad.",
        ),
        (3, "new", ""),
    ]


# --- Commit -----------------------------------------------------------------------------------
def test_commit_saves_the_new_rows_as_typed_visits_with_compensation(tmp_path, centre, nurse):
    a = enrolled(centre)
    b = enrolled(centre)
    rows = [
        line(a.child.identity, day(a, 60)),  # joint home visit: ZV509 derived, 2 500 kr
        line(b.child.identity, day(b, 90), socialtjanst="nej", tolk="telefon", sprak="arabiska"),
        line(b.child.identity, day(b, 91), kva="ZV509", socialtjanst="nej"),  # invalid
    ]
    visit_import = run(tmp_path, nurse, centre, rows)
    path = stored_path(visit_import)
    assert path.exists()

    visit_import = import_commit(visit_import, user=nurse)

    assert visit_import.status == ImportStatus.COMMITTED
    assert visit_import.committed_at is not None
    assert Visit.objects.count() == 2
    joint = Visit.objects.get(enrolment=a)
    assert (joint.slot, joint.kva_codes, joint.place, joint.status, joint.nurse) == (
        "2m",
        ["ZV509"],
        "home",
        "completed",
        nurse,
    )
    extra = Visit.objects.get(enrolment=b)
    assert (extra.slot, extra.interpreter_mode, extra.interpreter_language, extra.kva_codes) == (
        "",
        "phone",
        "arabiska",
        [],
    )
    compensation = VisitCompensation.objects.get(visit=joint)
    assert (compensation.type, compensation.amount) == ("programme_variable", Decimal("2500.00"))
    assert VisitCompensation.objects.get(visit=extra).amount == Decimal("1800.00")
    rows_by_number = {r.number: r for r in VisitImportRow.objects.filter(visit_import=visit_import)}
    assert (rows_by_number[2].visit, rows_by_number[3].visit, rows_by_number[4].visit) == (
        joint,
        extra,
        None,
    )
    assert not path.exists()  # removed after commit
    # The typed visit's access log: one `create` per saved visit, by the importer.
    created = AccessLog.objects.filter(action="create", what="visit")
    assert sorted(created.values_list("child_id", "username")) == sorted(
        [(a.child.pk, nurse.username), (b.child.pk, nurse.username)]
    )


def test_a_second_commit_is_a_conflict_and_changes_nothing(tmp_path, centre, nurse):
    a = enrolled(centre)
    visit_import = run(tmp_path, nurse, centre, [line(a.child.identity, day(a, 60))])
    import_commit(visit_import, user=nurse)
    with pytest.raises(Conflict) as refused:
        import_commit(VisitImport.objects.get(pk=visit_import.pk), user=nurse)
    assert refused.value.detail == "Importen är redan sparad."
    assert Visit.objects.count() == 1
    assert VisitImport.objects.get(pk=visit_import.pk).status == ImportStatus.COMMITTED


def test_importing_the_same_file_again_finds_every_row_duplicate(tmp_path, centre, nurse):
    a = enrolled(centre)
    b = enrolled(centre)
    typed = log_visit(b, nurse, date=day(b, 90), place="clinic")
    rows = [
        line(a.child.identity, day(a, 60)),
        line(b.child.identity, day(b, 90), besokstyp="mottagningsbesök", socialtjanst="nej"),
    ]
    first = run(tmp_path, nurse, centre, rows)
    assert [o for _n, o, _r in outcomes(first)] == ["new", "duplicate"]
    import_commit(first, user=nurse)
    imported = Visit.objects.get(enrolment=a)

    again = run(tmp_path, nurse, centre, rows)
    assert outcomes(again) == [
        (2, "duplicate", "Besöket finns redan."),
        (3, "duplicate", "Besöket finns redan."),
    ]
    assert [r.visit for r in again.rows.order_by("number")] == [imported, typed]
    assert import_commit(again, user=nurse).status == ImportStatus.COMMITTED
    assert Visit.objects.count() == 2


def test_a_row_refused_at_commit_rolls_back_every_row(tmp_path, centre, nurse):
    a = enrolled(centre)
    b = enrolled(centre)
    rows = [line(a.child.identity, day(a, 60)), line(b.child.identity, day(b, 60))]
    visit_import = run(tmp_path, nurse, centre, rows)
    assert visit_import.count_new == 2
    # Between preview and commit a nurse types a visit for the second row's slot.
    log_visit(b, nurse, date=day(b, 58), slot="2m", social_services_present=True)

    visit_import = import_commit(visit_import, user=nurse)

    assert visit_import.status == ImportStatus.FAILED
    assert visit_import.error == (
        "Rad 3: Besökstillfället har redan ett genomfört besök. Inget sparades."
    )
    assert not Visit.objects.filter(enrolment=a).exists()  # the first row is rolled back
    assert Visit.objects.count() == 1
    assert not VisitImportRow.objects.filter(visit__isnull=False, outcome="new").exists()
    assert stored_path(visit_import).exists()  # kept for the 30 days; nothing was saved
    with pytest.raises(Conflict):
        import_commit(visit_import, user=nurse)


# --- Who, what is logged, what is kept --------------------------------------------------------
def test_only_a_nurse_or_manager_of_the_centre_imports(tmp_path, centre):
    path = csv_file(tmp_path, [])
    other = nurse_at(CentreFactory(organisation=centre.organisation))
    with pytest.raises(PermissionDenied):
        import_create(user=other, centre=centre, path_or_file=path, file_name="x.csv")
    manager = member(Role.CENTRE_MANAGER, centre=centre)
    assert import_create(user=manager, centre=centre, path_or_file=path, file_name="x.csv")


def test_the_access_log_has_one_import_row_per_touched_child(tmp_path, centre, nurse, monkeypatch):
    monkeypatch.setattr(service, "BATCH_SIZE", 2)  # the same child in several batches
    a = enrolled(centre)
    not_enrolled = ChildFactory(current_centre=centre)
    rows = [
        line(a.child.identity, day(a, 60)),
        line(a.child.identity, day(a, 60)),
        line(not_enrolled.identity, day(a, 60)),
        line(a.child.identity, day(a, 90), socialtjanst="nej"),
        line(personnummer(a.child.birth_date, 997), day(a, 60)),  # nobody's: no child touched
    ]
    run(tmp_path, nurse, centre, rows)
    logged = AccessLog.objects.filter(action="import")
    assert sorted(logged.values_list("child_id", "username", "care_unit", "what")) == sorted(
        [
            (a.child.pk, nurse.username, centre.pk, "visit_import"),
            (not_enrolled.pk, nurse.username, centre.pk, "visit_import"),
        ]
    )


def test_no_identity_number_is_kept_or_logged(tmp_path, centre, nurse, caplog, settings):
    caplog.set_level(logging.DEBUG)
    a = enrolled(centre)
    b = enrolled(centre)
    wrong = b.child.identity[:-1] + str((int(b.child.identity[-1]) + 1) % 10)
    rows = [
        line(a.child.identity, day(a, 60)),
        line(wrong, day(b, 60)),
        line(b.child.identity, day(b, 60), besokstyp=written(a.child.identity)),
    ]
    visit_import = run(tmp_path, nurse, centre, rows, name="export.csv")
    assert visit_import.count_invalid == 2
    import_commit(visit_import, user=nurse)
    stored = [
        str(v)
        for r in VisitImportRow.objects.values("reason", "values", "child_masked", "key")
        for v in r.values()
    ]
    stored += [visit_import.file_name, visit_import.stored_name, visit_import.error]
    stored += os.listdir(settings.IMPORT_STORE)
    stored += [caplog.text, *(str(r.args) for r in caplog.records)]
    text = "\n".join(stored)
    for identity in (a.child.identity, b.child.identity, wrong):
        for form in (identity, identity[2:], written(identity), written(identity)[2:]):
            assert form not in text
    assert "[personnummer borttaget]" in text  # the number in the wrong column, masked


def test_the_file_is_stored_privately_under_the_imports_id(tmp_path, centre, nurse, settings):
    visit_import = import_create(
        user=nurse,
        centre=centre,
        path_or_file=csv_file(tmp_path, []),
        file_name="C:\\Users\\BVC\\..\\x.csv",  # as an old browser sends it
    )
    path = stored_path(visit_import)
    assert path.parent == settings.IMPORT_STORE
    assert path.name == str(visit_import.pk) == visit_import.stored_name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert visit_import.file_name == "x.csv"


def test_a_file_object_is_stored_too(centre, nurse):
    content = ";".join(HEADER).encode() + b"\n"
    visit_import = import_create(
        user=nurse, centre=centre, path_or_file=io.BytesIO(content), file_name="upload.csv"
    )
    assert stored_path(visit_import).read_bytes() == content


def test_files_older_than_30_days_are_purged(tmp_path, centre, nurse):
    old = run(tmp_path, nurse, centre, [])
    new = run(tmp_path, nurse, centre, [])
    VisitImport.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=31)
    )
    old_path = stored_path(old)
    assert import_purge_files() == 1
    assert not old_path.exists()
    assert stored_path(new).exists()
    assert VisitImport.objects.get(pk=old.pk).stored_name == ""
    assert import_purge_files() == 0


def test_the_purge_task_is_scheduled(settings):
    from visits.tasks import purge_import_files

    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "visits.purge_import_files" in names
    assert purge_import_files.name == "visits.purge_import_files"


# --- Column mapping ---------------------------------------------------------------------------
def test_the_organisations_column_mapping_is_used(tmp_path, centre, nurse):
    ColumnMapping.objects.create(
        organisation=centre.organisation,
        personnummer="Personnr",
        datum="Besöksdatum",
        vardenhet="HSA-id",
        besokstyp="Kontakttyp",
    )
    a = enrolled(centre)
    header = ("Personnr", "Besöksdatum", "HSA-id", "Kontakttyp", *HEADER[4:])
    mapped = run(tmp_path, nurse, centre, [line(a.child.identity, day(a, 60))], header=header)
    assert outcomes(mapped) == [(2, "new", "")]

    # Refused at upload, with the missing columns named; neither the import nor its file kept.
    with pytest.raises(ValidationError) as refused:
        run(tmp_path, nurse, centre, [line(a.child.identity, day(a, 60))])
    assert refused.value.message_dict == {
        "file": [
            "Kolumner saknas: Personnr (personnummer), Besöksdatum (datum), HSA-id (vardenhet), "
            "Kontakttyp (besokstyp)."
        ]
    }
    assert VisitImport.objects.count() == 1
    assert [p.name for p in (tmp_path / "store").iterdir()] == [str(mapped.pk)]


def test_column_mapping_blank_means_the_contract_name(centre):
    mapping = ColumnMapping(organisation=centre.organisation, datum=" Besöksdatum ")
    assert mapping.mapping() == {"datum": "Besöksdatum"}


# --- manage.py import_visits ------------------------------------------------------------------
def test_the_command_prints_counts_and_rows_and_fails_on_an_invalid_row(tmp_path, centre, nurse):
    a = enrolled(centre)
    not_enrolled = ChildFactory(current_centre=centre)
    path = csv_file(
        tmp_path,
        [
            line(a.child.identity, day(a, 60)),
            line(not_enrolled.identity, day(a, 60)),
            line(a.child.identity, day(a, 61), kva="XX999"),
        ],
    )
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command(
            "import_visits", str(path), centre=HSA, user=nurse.username, commit=True, stdout=out
        )
    assert failed.value.returncode == 1
    assert str(failed.value) == "1 ogiltiga rader: inget sparades."
    masked_a, masked_other = a.child.masked, not_enrolled.masked
    assert out.getvalue().splitlines() == [
        "rader 3, nya 1, dubbletter 0, konflikter 0, omatchade 1, ogiltiga 1",
        f"rad 3 (omatchad, {masked_other}): Barnet är inte inskrivet vid BVC:n.",
        f"rad 4 (ogiltig, {masked_a}): Okänd KVÅ-kod, eller inte giltig på besöksdagen: XX999.",
    ]
    assert Visit.objects.count() == 0


def test_the_command_commits_only_with_commit(tmp_path, centre, nurse):
    a = enrolled(centre)
    path = csv_file(tmp_path, [line(a.child.identity, day(a, 60))])
    out = io.StringIO()
    call_command("import_visits", str(path), centre=HSA, user=nurse.username, stdout=out)
    assert out.getvalue().splitlines()[0] == (
        "rader 1, nya 1, dubbletter 0, konflikter 0, omatchade 0, ogiltiga 0"
    )
    assert Visit.objects.count() == 0

    out = io.StringIO()
    call_command(
        "import_visits", str(path), centre=HSA, user=nurse.username, commit=True, stdout=out
    )
    assert out.getvalue().splitlines() == [
        "rader 1, nya 1, dubbletter 0, konflikter 0, omatchade 0, ogiltiga 0",
        "Sparade 1 nya besök.",
    ]
    assert Visit.objects.get().enrolment == a


def test_the_command_refuses_a_user_outside_the_centre(tmp_path, centre):
    outsider = nurse_at(CentreFactory())
    path = csv_file(tmp_path, [])
    with pytest.raises(CommandError) as refused:
        call_command("import_visits", str(path), centre=HSA, user=outsider.username)
    assert str(refused.value) == "Du kan bara importera besök för BVC där du arbetar."
    with pytest.raises(CommandError) as unknown:
        call_command("import_visits", str(path), centre="SE-okänd", user=outsider.username)
    assert str(unknown.value) == "Ingen BVC har det HSA-id:t."


def test_an_organisations_admin_sees_only_its_column_mapping(client):
    ours = ColumnMapping.objects.create(organisation=OrganisationFactory(name="Region Västxq"))
    theirs = ColumnMapping.objects.create(organisation=OrganisationFactory(name="Region Östxq"))
    administrator = member(Role.ADMIN, organisation=ours.organisation)
    administrator.is_staff = True
    administrator.save(update_fields=["is_staff"])
    client.force_login(administrator)
    listing = client.get(reverse("admin:visits_columnmapping_changelist"))
    assert listing.status_code == 200
    assert "Region Västxq" in listing.content.decode()
    assert "Region Östxq" not in listing.content.decode()
    page = client.get(reverse("admin:visits_columnmapping_change", args=[theirs.pk]))
    assert page.status_code == 404
    page = client.get(reverse("admin:visits_columnmapping_change", args=[ours.pk]))
    assert page.status_code == 200
    assert 'name="besokstillfalle"' in page.content.decode()
