"""Log lines (issue 25, items 7 and 11): one line per record, its time in UTC with the offset
written out, and the id of the request or task it belongs to, so the lines of one request can
be found together across web, gunicorn and the Celery workers.

`LOG_FORMAT=json` (the default whenever DEBUG is off) writes one JSON object per line for a log
collector; `plain` (the default in development) is for reading in a terminal and carries the
same time and request id. The request id lives in a context variable: set by
core.request_id.RequestIdMiddleware for a request, by config.celery for a task. Only the
standard library here: gunicorn's master process loads this module before Django.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FORMATS = ("json", "plain")

REQUEST_ID: ContextVar[str | None] = ContextVar("hembesok_request_id", default=None)
# Where the middleware also leaves the id on the request: Django logs a 4xx/5xx answer
# ("Not Found: /…", django.request) after the middleware has returned, with the request in the
# record, so the line is matched to its request through it.
REQUEST_ID_META = "hembesok.request_id"
# gunicorn's access line: the atom of the response's X-Request-ID header (config/gunicorn.conf.py).
GUNICORN_REQUEST_ID_ATOM = "{x-request-id}o"

# Shaped like an identity number (YYMMDDNNNN, with the century, a "-" or a "+"): written as
# MASKED in tracebacks and messages. No log line should hold one in the first place; this is
# for what the code does not write itself, such as a database error's DETAIL ("Key
# (identity)=(…)") in a traceback. Unlike visits.identity.mask_identities (exports, where
# every other number must survive), it does not check date or check digit: a diagnostic line
# loses nothing by a masked ten-digit number.
_IDENTITY_SHAPED = re.compile(r"(?<![0-9])(?:[0-9]{2})?[0-9]{6}[-+]?[0-9]{4}(?![0-9])")
MASKED = "[nummer borttaget]"


def mask_numbers(text: str) -> str:
    """`text` with every run of digits shaped like an identity number replaced by MASKED."""
    return _IDENTITY_SHAPED.sub(MASKED, text)


def log_format(value: str | None, *, debug: bool) -> str:
    """LOG_FORMAT's value, or the default: plain in development, JSON otherwise. An unknown
    value fails loudly rather than falling back."""
    if not value:
        return "plain" if debug else "json"
    if value not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def request_id_of(record: logging.LogRecord) -> str | None:
    """The id of the request or task a record belongs to: the context's, else the one on a
    record's request (Django's late 4xx/5xx line), else gunicorn's access line's header."""
    found = REQUEST_ID.get()
    if found:
        return found
    request = getattr(record, "request", None)
    meta = getattr(request, "META", None)
    if isinstance(meta, Mapping):
        value = meta.get(REQUEST_ID_META)
        if isinstance(value, str):
            return value
    if isinstance(record.args, Mapping):
        value = record.args.get(GUNICORN_REQUEST_ID_ATOM)
        if isinstance(value, str) and value != "-":
            return value
    return None


def utc_time(created: float) -> str:
    """`2026-03-01T09:15:02.123+00:00`: UTC, milliseconds, the offset written out."""
    return datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and exc_info (the
    formatted traceback) when there is one. Non-ASCII is written as is (UTF-8), so a name in a
    line is as visible to a scan as it is to a reader."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": utc_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_numbers(record.getMessage()),
            "request_id": request_id_of(record),
        }
        if record.exc_info:
            entry["exc_info"] = mask_numbers(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc_info"] = mask_numbers(record.exc_text)
        if record.stack_info:
            entry["stack_info"] = mask_numbers(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """`<UTC time> LEVEL logger [request id] message`, then any traceback."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_time(record.created)

    def format(self, record: logging.LogRecord) -> str:
        record.request_id = request_id_of(record) or "-"
        return mask_numbers(super().format(record))


FORMATTERS: dict[str, type[logging.Formatter]] = {"json": JsonFormatter, "plain": PlainFormatter}


def formatter_config(name: str) -> dict[str, str]:
    """The dictConfig entry of a formatter named by LOG_FORMAT's value."""
    cls = FORMATTERS[name]
    return {"()": f"{cls.__module__}.{cls.__qualname__}"}


def gunicorn_logconfig(name: str, *, level: str = "info") -> dict[str, Any]:
    """gunicorn's own lines (its `logconfig_dict`) in the same format: the error log on
    stderr, the access log on stdout, neither passed on to the root logger (Django configures
    that one in each worker)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"hembesok": formatter_config(name)},
        "handlers": {
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "hembesok",
                "stream": "ext://sys.stderr",
            },
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "hembesok",
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"level": "INFO", "handlers": ["error_console"]},
        "loggers": {
            "gunicorn.error": {
                "level": level.upper(),
                "handlers": ["error_console"],
                "propagate": False,
            },
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }
