"""Celery beat's scheduler: django-celery-beat's DatabaseScheduler, made to outlive a database
outage (issue 25, item 3; settings.CELERY_BEAT_SCHEDULER).

django-celery-beat catches a database error in its change check and its write-back, but not in
the full re-read of the schedule it forces every five minutes, nor when it starts: an outage that
reaches either ends the beat process (and with it every periodic task, the sweep of stuck report
runs included) until something restarts it. This scheduler:

- waits for the database when beat starts, instead of exiting;
- keeps the last schedule it read while the database is away, so the tasks it sends through
  Redis keep going (the workers retry or skip what needs the database), and writes back the
  entries' last run times once the database is back;
- logs one warning when the outage starts and one line when it ends, instead of a traceback on
  every tick.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import DatabaseError, InterfaceError, close_old_connections, connection
from django_celery_beat.schedulers import DatabaseScheduler as BaseScheduler

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (DatabaseError, InterfaceError)
# While the database is away, look again this often (seconds).
OUTAGE_RETRY_SECONDS = 5.0


class DatabaseScheduler(BaseScheduler):  # type: ignore[misc]  # django-celery-beat is untyped
    _database_lost_at: float | None = None

    # --- Outage bookkeeping --------------------------------------------------------------------
    def _database_answers(self) -> bool:
        """SELECT 1 on a fresh connection if the last one broke; notes an outage's start/end."""
        try:
            close_old_connections()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DATABASE_ERRORS as exc:
            self._lost(exc)
            return False
        self._back()
        return True

    def _lost(self, exc: BaseException) -> None:
        close_old_connections()
        if self._database_lost_at is None:
            self._database_lost_at = time.monotonic()
            # The class only: the message could carry a host name or a password from a URL.
            logger.warning(
                "beat: the database is unavailable (%s); keeping the last schedule and "
                "retrying every %.0f s",
                exc.__class__.__name__,
                OUTAGE_RETRY_SECONDS,
            )

    def _back(self) -> None:
        if self._database_lost_at is not None:
            seconds = time.monotonic() - self._database_lost_at
            self._database_lost_at = None
            logger.warning("beat: the database is back after %.0f s", seconds)

    # --- The scheduler's entry points ----------------------------------------------------------
    def setup_schedule(self) -> None:
        """At start: wait for the database (there is no schedule to keep yet)."""
        while not self._database_answers():
            time.sleep(OUTAGE_RETRY_SECONDS)
        super().setup_schedule()

    def schedule_changed(self) -> bool:
        # The base class logs a traceback for each failed check (every tick); ask first.
        if not self._database_answers():
            return False
        return bool(super().schedule_changed())

    def sync(self) -> None:
        # Entries written back while the database is away stay dirty for the next sync.
        if self._database_lost_at is not None and not self._database_answers():
            return
        super().sync()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One beat: send what is due. A database error (the five-minutely full re-read, an
        entry that disables itself) keeps the schedule read last and tries again shortly."""
        try:
            return float(super().tick(*args, **kwargs))
        except DATABASE_ERRORS as exc:
            self._lost(exc)
            return min(OUTAGE_RETRY_SECONDS, float(self.max_interval))
