"""End to end with a real Celery worker and Redis: request through the API → the task goes
through Redis to a worker thread (its own database connection) → done → download. A task
delivered twice renders once; a transient database error is retried, then the run is done.

Skipped with the reason without Redis (REDIS_URL), failed instead when REQUIRE_SERVICES=1.
The renderer is a fake one (tests.reporting.test_runs.FakeRenderer): the real ones have their
own tests; this tests the machinery.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import task_postrun
from django.db import OperationalError

from config.celery import app
from reporting import runs, services, tasks
from reporting.models import ReportRun, RunStatus

# The shared fixtures live in test_runs (a conftest here belongs to the lead); using an imported
# fixture as an argument looks like a redefinition to ruff.
# ruff: noqa: F811
from tests.reporting.test_runs import (  # noqa: F401 - fixtures
    fake_renderer,
    finance,
    grant,
    org,
)

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
URL = "/api/v1/reports/"
WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def celery_worker(redis_url: str) -> Iterator[Any]:
    """One worker thread for the module, on the Redis of REDIS_URL, eager mode off."""
    from celery.contrib.testing.worker import start_worker

    saved = {
        "broker_url": app.conf.broker_url,
        "task_always_eager": app.conf.task_always_eager,
    }
    app.conf.update(broker_url=redis_url, task_always_eager=False)
    try:
        # Nothing left over from earlier (aborted) runs, on any queue the worker consumes.
        queues = {queue.name for queue in app.conf.task_queues or ()}
        with app.connection_for_write() as connection:
            for name in queues | {app.conf.task_default_queue}:
                connection.default_channel.queue_purge(name)
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as w:
            yield w
    finally:
        app.conf.update(**saved)


@pytest.fixture
def outcomes(monkeypatch) -> Iterator[list[Any]]:
    """What each `reporting.run_report` delivery returned, in the worker thread."""
    seen: list[Any] = []

    def record(sender: Any = None, retval: Any = None, state: str = "", **_: Any) -> None:
        if sender is not None and sender.name == tasks.run_report.name:
            seen.append(retval if state == "SUCCESS" else state)

    task_postrun.connect(record, weak=False)
    monkeypatch.setattr(tasks, "RETRY_BASE_SECONDS", 0)  # back off, but not in a test
    yield seen
    task_postrun.disconnect(record)


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the worker did not finish in time")
        time.sleep(0.05)


def test_request_through_the_api_then_download(
    celery_worker, outcomes, api_client_for, finance, grant, fake_renderer
):
    client = api_client_for(finance)
    response = client.post(
        URL, {"kind": "socialstyrelsen", "year": 2023, "grant": str(grant.pk)}, format="json"
    )
    assert response.status_code == 202
    run_id = response.json()["id"]
    url = f"{URL}{run_id}/"
    wait_for(lambda: client.get(url).json()["status"] in ("done", "failed"))
    body = client.get(url).json()
    assert body["status"] == "done", body
    download = client.get(body["file"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF fake socialstyrelsen 2023"
    assert outcomes == [runs.Outcome.DONE]


def test_a_task_delivered_twice_renders_once(
    celery_worker, outcomes, finance, grant, fake_renderer, settings
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    tasks.run_report.delay(str(run.pk))  # the same message again (a redelivery)
    wait_for(lambda: len(outcomes) == 2)
    assert sorted(outcomes) == [runs.Outcome.DONE, runs.Outcome.SKIPPED]
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.attempts == 1
    assert len(fake_renderer.calls) == 1
    assert [p.name for p in settings.REPORT_STORE.iterdir()] == [f"{run.pk}.pdf"]


def test_a_transient_error_is_retried_then_done(
    celery_worker, outcomes, finance, grant, fake_renderer
):
    fake_renderer.fail_with = [OperationalError("could not serialize access")]
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    wait_for(lambda: ReportRun.objects.get(pk=run.pk).status == RunStatus.DONE)
    run.refresh_from_db()
    assert run.attempts == 2 and len(fake_renderer.calls) == 2
    wait_for(lambda: len(outcomes) == 2)
    assert outcomes == ["RETRY", runs.Outcome.DONE]
