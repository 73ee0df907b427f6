"""The Celery app. With REDIS_URL a real broker and worker; without it tasks run eagerly."""

from __future__ import annotations

import logging
import logging.config
import os
from contextvars import Token
from typing import Any

from celery import Celery
from celery.signals import (
    before_task_publish,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
)

from core.logging import REQUEST_ID, current_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("hembesok")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)
_eager_notice_given = False


def announce_eager_mode() -> None:
    """Say once per process that tasks run in the web process (no REDIS_URL)."""
    global _eager_notice_given
    if app.conf.task_always_eager and not _eager_notice_given:
        _eager_notice_given = True
        logger.warning(
            "REDIS_URL is not set: Celery tasks run eagerly in the calling process "
            "(development only; set REDIS_URL for a real worker)."
        )


def _worker_init(**_: object) -> None:
    logger.info("Celery worker using broker %s", app.conf.broker_url.split("@")[-1])


# --- Logs (core.logging) -------------------------------------------------------------------
# The worker's and beat's lines go through settings.LOGGING's handlers (JSON or plain, UTC, with
# the request id) rather than Celery's own formatting: a receiver of setup_logging tells Celery
# to leave logging alone.
def _setup_logging(**_: object) -> None:
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


# Each task's lines carry a request id: that of the web request (or task) that queued it,
# passed in this message header, else the task's own id.
REQUEST_ID_HEADER = "hembesok_request_id"
_tokens: dict[str, Token[str | None]] = {}


def _publish_request_id(headers: dict[str, Any] | None = None, **_: object) -> None:
    request_id = current_request_id()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


def task_request_id(task: Any, task_id: str) -> str:
    """The header's id (a worker's message has it as an attribute of the task's request, an
    eager call in its `headers`), else, in an eager call, the caller's, else the task's id."""
    request = task.request
    found = getattr(request, REQUEST_ID_HEADER, None) or (request.headers or {}).get(
        REQUEST_ID_HEADER
    )
    if not found and request.is_eager:
        found = current_request_id()
    return str(found or task_id)


def _task_prerun(task_id: str, task: Any, **_: object) -> None:
    _tokens[task_id] = REQUEST_ID.set(task_request_id(task, task_id))


def _task_postrun(task_id: str, **_: object) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        REQUEST_ID.reset(token)


# Connected by a call rather than as `@worker_init.connect`: celery is untyped, and strict mypy
# refuses an untyped decorator (it would make the function Any). Strong references and
# dispatch uids, so the receivers live as long as the process and are never connected twice.
worker_init.connect(_worker_init)
setup_logging.connect(_setup_logging, weak=False, dispatch_uid="hembesok.setup_logging")
before_task_publish.connect(
    _publish_request_id, weak=False, dispatch_uid="hembesok.publish_request_id"
)
task_prerun.connect(_task_prerun, weak=False, dispatch_uid="hembesok.task_prerun")
task_postrun.connect(_task_postrun, weak=False, dispatch_uid="hembesok.task_postrun")
