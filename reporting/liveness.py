"""Is a report run's worker alive? (issue 25, items 3 and 4.) The report runs' `WorkLock`
(core.liveness): `reporting.runs` takes it before it claims a run and releases it when the
attempt ends; `requeue_stuck` and a repeated request ask `holders()`."""

from __future__ import annotations

from core.liveness import ACQUIRE_WAIT_SECONDS, WorkLock

__all__ = [
    "ACQUIRE_WAIT_SECONDS",
    "LOCK_SPACE",
    "acquire",
    "holders",
    "is_alive",
    "lock_key",
    "release",
]

LOCK_SPACE = 0x52554E53  # "RUNS"
RUNS = WorkLock(LOCK_SPACE, "report run")

lock_key = RUNS.key
acquire = RUNS.acquire
release = RUNS.release
holders = RUNS.holders
is_alive = RUNS.is_alive
