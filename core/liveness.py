"""Is a background job's worker alive? A session-level PostgreSQL advisory lock per job.

While an attempt works on a job (a report run, a journal import), its process holds a
session-level advisory lock keyed on the job. The lock lives exactly as long as the attempt or
its database session: a worker killed in the middle (SIGKILL, out of memory, Celery's hard time
limit) or a database restart frees it at once, so a job marked as in progress whose lock nobody
holds has lost its worker, however recently it started; one whose lock is held is being worked
on, however long ago it started. The job's service takes the lock before it claims the job and
releases it when the attempt ends; its sweep and a repeated request ask `holders()`.

Each kind of job has its own `WorkLock` with its own first key (the two-key form
`(space, 31 bits of the job's id)`; funding's month locks use the one-key form, visits' identity
locks another first key). Two jobs of a kind sharing the 31 bits (one in 2**31) only look alive
while the other works, and a delivery of one skips while the other holds it; the sweep picks such
a job up later.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable

from django.db import DatabaseError, InterfaceError, connection

logger = logging.getLogger(__name__)

_KEY_MASK = 0x7FFFFFFF  # non-negative, so pg_locks.objid (an oid) shows the same number

# A delivery that finds the lock held looks again for this long before it gives up: a message
# redelivered because its worker died can arrive before PostgreSQL has noticed the death (a
# backend busy in a query notices within client_connection_check_interval, config/settings.py).
ACQUIRE_WAIT_SECONDS = 3.0
ACQUIRE_POLL_SECONDS = 0.1


class WorkLock:
    """The liveness locks of one kind of job: `space` is the kind's first key, `what` names
    the kind in log lines."""

    def __init__(self, space: int, what: str) -> None:
        self.space = space
        self.what = what

    @staticmethod
    def key(job_id: uuid.UUID) -> int:
        """The lock's second key: the low 31 bits of the id (random in a uuid4)."""
        return job_id.int & _KEY_MASK

    def _try(self, job_id: uuid.UUID) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [self.space, self.key(job_id)])
            row = cursor.fetchone()
        return bool(row and row[0])

    def acquire(self, job_id: uuid.UUID, wait: float | None = None) -> bool:
        """Take the job's lock in this process's connection: False when another session still
        holds it after `wait` seconds (ACQUIRE_WAIT_SECONDS by default): another live attempt.
        Polled rather than waited for in PostgreSQL, so no lock_timeout is left on a pooled
        connection. Advisory locks are re-entrant within a session, so call `release` once per
        successful `acquire`."""
        deadline = time.monotonic() + (ACQUIRE_WAIT_SECONDS if wait is None else wait)
        while not self._try(job_id):
            if time.monotonic() >= deadline:
                return False
            time.sleep(ACQUIRE_POLL_SECONDS)
        return True

    def release(self, job_id: uuid.UUID) -> None:
        """Give the lock up. A session-level lock outlives transactions and, with CONN_MAX_AGE
        or the psycopg pool, the request or task: it must be released explicitly. When that
        fails the connection is broken (its lock went with the session) or its transaction is
        aborted; the physical connection is then closed, which ends the session and its lock
        either way (a pooled one is discarded, never handed out with the lock still held)."""
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [self.space, self.key(job_id)])
        except (DatabaseError, InterfaceError):
            logger.warning(
                "%s %s: could not release its lock; closing the connection", self.what, job_id
            )
            if connection.in_atomic_block:
                return  # the outer transaction's owner closes or rolls back (tests, eager mode)
            raw = connection.connection
            try:
                if raw is not None:
                    raw.close()
            finally:
                connection.close()

    def holders(self, job_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """The jobs among `job_ids` whose lock some session of this database holds: their
        worker is alive (one query, whoever holds it, this session included)."""
        by_key: dict[int, list[uuid.UUID]] = {}
        for job_id in job_ids:
            by_key.setdefault(self.key(job_id), []).append(job_id)
        if not by_key:
            return set()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT DISTINCT objid::bigint FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND objsubid = 2
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND classid::bigint = %s AND objid::bigint = ANY(%s)
                """,
                [self.space, list(by_key)],
            )
            held = [row[0] for row in cursor.fetchall()]
        return {job_id for key in held for job_id in by_key[key]}

    def is_alive(self, job_id: uuid.UUID) -> bool:
        return job_id in self.holders([job_id])
