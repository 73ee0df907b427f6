"""GET /healthz for container healthchecks and load balancers: can this process serve?

No login and no data: the answer names a dependency that failed, never why (an error message
could carry a host name or a password from a URL). It checks the database (SELECT 1) and, when
REDIS_URL is set, Redis (PING), each bounded so the answer comes within about a second even
when Redis does not answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 0.5


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            row: tuple[object, ...] | None = cursor.fetchone()
            return row == (1,)
    except DatabaseError:
        return False


@contextmanager
def bounded_redis(url: str) -> Iterator[redis.Redis]:
    """A Redis client whose connect and every answer are bounded (REDIS_TIMEOUT_SECONDS), closed
    at the end: the health check and the metrics' queue lengths must answer when Redis does not.
    Callers catch `redis.RedisError` and `OSError`."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )
    try:
        yield client
    finally:
        client.close()


def redis_ok(url: str) -> bool:
    try:
        with bounded_redis(url) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def failed_dependencies() -> list[str]:
    failed = []
    if not database_ok():
        failed.append("database")
    redis_url = getattr(settings, "REDIS_URL", "")
    if redis_url and not redis_ok(redis_url):
        failed.append("redis")
    return failed


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    failed = failed_dependencies()
    if failed:
        logger.warning("health check failed: %s", ", ".join(failed))
        return JsonResponse({"status": "unavailable", "failed": failed}, status=503)
    return JsonResponse({"status": "ok"})
