"""Is a report run's worker alive? (issue 25, items 3 and 4.)

While an attempt renders a run, its process holds a session-level PostgreSQL advisory lock keyed
on the run. The lock lives exactly as long as the attempt or its database session: a worker
killed in the middle of a render (SIGKILL, out of memory, Celery's hard time limit) or a
database restart frees it at once, so a run marked `running` whose lock nobody holds has lost
its worker, however recently it started; one whose lock is held is being rendered, however long
ago it started. `reporting.runs` takes the lock before it claims a run and releases it when the
attempt ends; `requeue_stuck` and a repeated request ask `holders()`.

The lock is the two-key form `(LOCK_SPACE, 31 bits of the run's id)`: its own key space
(funding's month locks use the one-key form, visits' identity locks another first key). Two
runs sharing the 31 bits (one in 2**31) only look alive while the other renders, and a delivery
of one skips while the other holds it; the sweep picks such a run up later.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable

from django.db import DatabaseError, InterfaceError, connection

logger = logging.getLogger(__name__)

LOCK_SPACE = 0x52554E53  # "RUNS"
_KEY_MASK = 0x7FFFFFFF  # non-negative, so pg_locks.objid (an oid) shows the same number


def lock_key(run_id: uuid.UUID) -> int:
    """The lock's second key: the low 31 bits of the id (random in a uuid4)."""
    return run_id.int & _KEY_MASK


# A delivery that finds the lock held looks again for this long before it gives up: a message
# redelivered because its worker died can arrive before PostgreSQL has noticed the death (a
# backend busy in a query notices within client_connection_check_interval, config/settings.py).
ACQUIRE_WAIT_SECONDS = 3.0
ACQUIRE_POLL_SECONDS = 0.1


def _try(run_id: uuid.UUID) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_SPACE, lock_key(run_id)])
        row = cursor.fetchone()
    return bool(row and row[0])


def acquire(run_id: uuid.UUID, wait: float | None = None) -> bool:
    """Take the run's lock in this process's connection: False when another session still
    holds it after `wait` seconds (ACQUIRE_WAIT_SECONDS by default): another live attempt.
    Polled rather than waited for in PostgreSQL, so no lock_timeout is left on a pooled
    connection. Advisory locks are re-entrant within a session, so call `release` once per
    successful `acquire`."""
    deadline = time.monotonic() + (ACQUIRE_WAIT_SECONDS if wait is None else wait)
    while not _try(run_id):
        if time.monotonic() >= deadline:
            return False
        time.sleep(ACQUIRE_POLL_SECONDS)
    return True


def release(run_id: uuid.UUID) -> None:
    """Give the lock up. A session-level lock outlives transactions and, with CONN_MAX_AGE or
    the psycopg pool, the request or task: it must be released explicitly. When that fails the
    connection is broken (its lock went with the session) or its transaction is aborted; the
    physical connection is then closed, which ends the session and its lock either way (a
    pooled one is discarded, never handed out with the lock still held)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_SPACE, lock_key(run_id)])
    except (DatabaseError, InterfaceError):
        logger.warning("report run %s: could not release its lock; closing the connection", run_id)
        if connection.in_atomic_block:
            return  # the outer transaction's owner closes or rolls back (tests, eager mode)
        raw = connection.connection
        try:
            if raw is not None:
                raw.close()
        finally:
            connection.close()


def holders(run_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The runs among `run_ids` whose lock some session of this database holds: their worker
    is alive (one query, whoever holds it, this session included)."""
    by_key: dict[int, list[uuid.UUID]] = {}
    for run_id in run_ids:
        by_key.setdefault(lock_key(run_id), []).append(run_id)
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
            [LOCK_SPACE, list(by_key)],
        )
        held = [row[0] for row in cursor.fetchall()]
    return {run_id for key in held for run_id in by_key[key]}


def is_alive(run_id: uuid.UUID) -> bool:
    return run_id in holders([run_id])
