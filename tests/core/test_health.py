"""GET /healthz (issue 25): no login, no data, 200 when the database (and Redis, when
REDIS_URL is set) answer, 503 naming the failed dependency otherwise; reachable over plain http
even where production redirects to https, since the container healthcheck calls it so."""

from __future__ import annotations

import socket
import time

import pytest

from core import health

pytestmark = pytest.mark.django_db
URL = "/healthz"


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_healthy_answers_200_ok_without_login(client, settings):
    settings.REDIS_URL = ""
    response = client.get(URL)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


def test_a_failing_database_answers_503_naming_only_the_database(client, settings, monkeypatch):
    settings.REDIS_URL = ""
    monkeypatch.setattr(health, "database_ok", lambda: False)
    response = client.get(URL)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["database"]}


def test_the_database_check_really_queries(monkeypatch):
    assert health.database_ok() is True

    class BrokenCursor:
        def __enter__(self):
            from django.db import OperationalError

            raise OperationalError("connection to server at 10.0.0.5 failed: password …")

        def __exit__(self, *args):
            return False

    monkeypatch.setattr(health.connection, "cursor", lambda: BrokenCursor())
    assert health.database_ok() is False


def test_an_unreachable_redis_answers_503_quickly_without_details(client, settings):
    settings.REDIS_URL = f"redis://:secret-password@127.0.0.1:{closed_port()}/0"
    started = time.monotonic()
    response = client.get(URL)
    assert time.monotonic() - started < 1.5
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["redis"]}
    assert b"secret-password" not in response.content
    assert b"127.0.0.1" not in response.content


@pytest.mark.redis
def test_a_reachable_redis_is_healthy(client, settings, redis_url):
    settings.REDIS_URL = redis_url
    response = client.get(URL)
    assert response.status_code == 200, response.content


def test_redis_is_not_checked_without_redis_url(settings, monkeypatch):
    settings.REDIS_URL = ""
    monkeypatch.setattr(health, "redis_ok", lambda url: pytest.fail("checked Redis"))
    assert health.failed_dependencies() == []


def test_healthz_is_served_over_plain_http_where_everything_else_redirects(client, settings):
    settings.REDIS_URL = ""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/accounts/login/").status_code == 301
    response = client.get(URL)
    assert response.status_code == 200


def test_only_get(client, settings):
    settings.REDIS_URL = ""
    assert client.post(URL).status_code == 405
