"""The Celery app. With REDIS_URL a real broker and worker; without it tasks run eagerly."""

from __future__ import annotations

import logging
import os

from celery import Celery
from celery.signals import worker_init

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


# Connected by a call rather than as `@worker_init.connect`: celery is untyped, and strict mypy
# refuses an untyped decorator (it would make the function Any).
worker_init.connect(_worker_init)
