import datetime
import time

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from config.celery import app
from core.tasks import clear_expired_sessions


def _sessions(expired: int, live: int) -> None:
    now = timezone.now()
    for i in range(expired):
        Session.objects.create(
            session_key=f"old{i}", session_data="", expire_date=now - datetime.timedelta(hours=1)
        )
    for i in range(live):
        Session.objects.create(
            session_key=f"new{i}", session_data="", expire_date=now + datetime.timedelta(hours=1)
        )


@pytest.mark.django_db
def test_clear_expired_sessions_deletes_only_expired_ones():
    _sessions(expired=3, live=2)
    assert clear_expired_sessions() == 3
    assert set(Session.objects.values_list("session_key", flat=True)) == {"new0", "new1"}


def test_beat_schedules_the_cleanup_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["clear-expired-sessions"]
    assert entry["task"] == clear_expired_sessions.name
    assert entry["schedule"] == 24 * 60 * 60


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_task_from_redis(redis_url):
    """End to end: the task goes through Redis to a worker thread with its own connection."""
    from celery.contrib.testing.worker import start_worker

    _sessions(expired=2, live=1)
    conf = {
        "broker_url": app.conf.broker_url,
        "task_always_eager": app.conf.task_always_eager,
    }
    app.conf.update(broker_url=redis_url, task_always_eager=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            clear_expired_sessions.delay()
            deadline = time.monotonic() + 20
            while Session.objects.count() != 1 and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        app.conf.update(**conf)
    assert list(Session.objects.values_list("session_key", flat=True)) == ["new0"]
