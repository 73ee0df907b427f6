"""gunicorn for the web service (docker-compose.yml, Dockerfile):
`gunicorn --config config/gunicorn.conf.py config.wsgi:application`.

Sync workers: the web processes do short database work only (PDFs are rendered by the Celery
worker), so a request that takes longer than `timeout` is a bug or a stuck database and the
worker is replaced rather than left holding a connection.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import environ

# gunicorn has put the project folder on sys.path before it reads this file.
from core.logging import gunicorn_logconfig, log_format

# Past this many, more processes on one host mostly add database connections; scale out with
# more web containers instead (or set WEB_CONCURRENCY explicitly).
MAX_DEFAULT_WORKERS = 9


def default_workers(cpus: int) -> int:
    """gunicorn's rule of thumb, 2 × cores + 1, capped."""
    return min(2 * cpus + 1, MAX_DEFAULT_WORKERS)


def workers_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """WEB_CONCURRENCY when set (a positive integer, else a loud error), else the default."""
    value = environ.get("WEB_CONCURRENCY", "").strip()
    if not value:
        return default_workers(multiprocessing.cpu_count())
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"WEB_CONCURRENCY must be a positive integer, not {value!r}")
    return int(value)


# All interfaces inside the container; compose publishes the port.
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = workers_from_env()
worker_class = "sync"
# A request is given 30 s; a worker that does not answer the arbiter by then is killed and
# replaced. On stop (SIGTERM) running requests get graceful_timeout to finish.
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle each worker after about a thousand requests (the jitter keeps them from restarting
# together), so a slow leak cannot grow without bound.
max_requests = 1000
max_requests_jitter = 100
# The workers' heartbeat files in memory: a container's overlay filesystem can stall them.
# /dev/shm is the container's own memory filesystem, not a shared /tmp.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 # nosec B108

# Logs to stdout (access) and stderr for the container runtime, in the application's format
# (core.logging: JSON or plain by LOG_FORMAT, UTC time with the offset, the request id), so
# gunicorn's lines sit with Django's. The access line is the message: the path without its
# query string (%(U)s, not %(r)s), no referrer or user agent (URLs never carry identity
# numbers, and what is not logged cannot leak), and the request id the response echoes
# (core.request_id), which core.logging also puts in the line's request_id.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '"%(m)s %(U)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
logconfig_dict = gunicorn_logconfig(
    log_format(
        os.environ.get("LOG_FORMAT"), debug=environ.Env().bool("DJANGO_DEBUG", default=False)
    ),
    level=loglevel,
)


# Metrics (core.metrics): with PROMETHEUS_MULTIPROC_DIR each worker writes its counters to files
# there and a scrape adds them up. The folder is emptied when gunicorn starts (counters from a
# previous run would be added again), and an exited worker's gauges are dropped.
def on_starting(server: Any) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
