"""Logs, metrics and errors (issue 25, items 7 and 11): JSON or plain lines in UTC with the
request id (core.logging, core.request_id), the id carried into Celery tasks (config.celery),
/metrics and who may read it (core.metrics, reporting.metrics), gunicorn's logging and
multiprocess hooks (config/gunicorn.conf.py), and what Sentry is sent (core.sentry).

This module is also the URL configuration of the tests that need views of their own
(`pytest.mark.urls(__name__)`): one that logs, one that answers 403 itself, one that fails.
"""

from __future__ import annotations

import io
import json
import logging
import re
import runpy
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from celery.app.task import Context
from celery.signals import before_task_publish, setup_logging
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.test import Client
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from kombu.entity import Queue

from config.celery import REQUEST_ID_HEADER, app, task_request_id
from core.logging import (
    FORMATTERS,
    MASKED,
    REQUEST_ID,
    JsonFormatter,
    PlainFormatter,
    gunicorn_logconfig,
    log_format,
)
from core.models import OutgoingMail, Role
from core.request_id import HEADER
from reporting.models import ReportKind, ReportRun, RunStatus
from tests.core.factories import OrganisationFactory, member

ROOT = Path(__file__).resolve().parent.parent.parent
GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"
# 2026-01-01 00:00:00.5 UTC (01:00:00.5 in Stockholm: the line must still say UTC).
CREATED = 1767225600.5
# An identity-shaped number made up for these tests (not a real person's).
NUMBER = "201001011239"
NEW_ID = re.compile(r"[0-9a-f]{32}")

view_logger = logging.getLogger("hembesok.tests.observability")


def logging_view(request: HttpRequest) -> HttpResponse:
    view_logger.info("in the view")
    return HttpResponse("ok")


def forbidden_view(request: HttpRequest) -> HttpResponse:
    return HttpResponseForbidden("nej")  # Django logs "Forbidden: …" after the middleware


@csrf_exempt  # posted through the WSGI handler, without the test client's CSRF pass
def failing_view(request: HttpRequest) -> HttpResponse:
    raise ValueError(f"duplicate key: Key (identity)=({NUMBER}) already exists")


urlpatterns = [
    path("obs/log/", logging_view),
    path("obs/forbidden/", forbidden_view),
    path("obs/fail/", failing_view),
]


@app.task(name="tests.observability.log_line")
def log_line() -> None:
    view_logger.info("in the task")


class Lines(logging.Handler):
    """Formats each record when it is emitted (as the console handler does), with our JSON
    formatter, and keeps the parsed lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def of(self, logger: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["logger"] == logger]


@pytest.fixture
def lines() -> Any:
    handler = Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    saved = view_logger.level
    view_logger.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    view_logger.setLevel(saved)


def record(message: str = "hello", **extra: Any) -> logging.LogRecord:
    made = logging.makeLogRecord(
        {"name": "hembesok.test", "levelno": logging.INFO, "levelname": "INFO", "msg": message}
    )
    made.created = CREATED
    made.__dict__.update(extra)
    return made


# --- Line format ------------------------------------------------------------------------------
def test_a_json_line_has_the_literal_keys_and_utc_time_with_offset() -> None:
    line = json.loads(JsonFormatter().format(record("hej åäö")))
    assert line == {
        "time": "2026-01-01T00:00:00.500+00:00",
        "level": "INFO",
        "logger": "hembesok.test",
        "message": "hej åäö",
        "request_id": None,
    }


def test_a_json_line_carries_the_current_request_id_and_the_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = record("failed", exc_info=sys.exc_info())
    token = REQUEST_ID.set("req-abcdef12")
    try:
        line = json.loads(JsonFormatter().format(failed))
    finally:
        REQUEST_ID.reset(token)
    assert line["request_id"] == "req-abcdef12"
    assert line["exc_info"].startswith("Traceback (most recent call last):")
    assert line["exc_info"].endswith("RuntimeError: boom")


def test_a_plain_line_has_utc_time_with_offset_and_the_request_id() -> None:
    assert PlainFormatter().format(record()) == (
        "2026-01-01T00:00:00.500+00:00 INFO hembesok.test [-] hello"
    )
    token = REQUEST_ID.set("req-abcdef12")
    try:
        assert PlainFormatter().format(record()) == (
            "2026-01-01T00:00:00.500+00:00 INFO hembesok.test [req-abcdef12] hello"
        )
    finally:
        REQUEST_ID.reset(token)


def test_identity_shaped_numbers_are_masked_in_messages_and_tracebacks() -> None:
    try:
        raise ValueError(f"Key (identity)=({NUMBER[:8]}-{NUMBER[8:]}) already exists")
    except ValueError:
        failed = record(f"refused {NUMBER[2:]}", exc_info=sys.exc_info())
    line = JsonFormatter().format(failed)
    plain = PlainFormatter().format(failed)
    for text in (line, plain):
        assert NUMBER[2:8] not in text
        assert MASKED in text
    assert json.loads(line)["message"] == f"refused {MASKED}"


def test_log_format_defaults_by_debug_and_refuses_unknown_values() -> None:
    assert log_format("", debug=False) == "json"
    assert log_format(None, debug=True) == "plain"
    assert log_format("json", debug=True) == "json"
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        log_format("yaml", debug=False)


def test_settings_send_every_logger_through_the_one_console_handler(settings) -> None:
    logging_settings = settings.LOGGING
    assert logging_settings["root"]["handlers"] == ["console"]
    assert logging_settings["handlers"]["console"]["formatter"] == "hembesok"
    assert logging_settings["formatters"]["hembesok"] == {"()": "core.logging.PlainFormatter"}
    # Django's own development console handler would write a second, non-UTC line.
    assert logging_settings["loggers"]["django"]["handlers"] == []


# --- Request ids --------------------------------------------------------------------------------
@pytest.mark.urls(__name__)
def test_the_proxys_request_id_is_echoed_and_in_the_log_line(lines: Lines) -> None:
    response = Client().get("/obs/log/", headers={HEADER: "proxy-id_12.345678"})
    assert response.status_code == 200
    assert response[HEADER] == "proxy-id_12.345678"
    [line] = lines.of("hembesok.tests.observability")
    assert line["message"] == "in the view"
    assert line["request_id"] == "proxy-id_12.345678"


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    "given", ["bad id; rm -rf", "short", "x" * 65, "zwölfzeichen", 'quote"inside-1234']
)
def test_an_unsafe_request_id_is_replaced_by_a_new_one(lines: Lines, given: str) -> None:
    response = Client().get("/obs/log/", headers={HEADER: given})
    new = response[HEADER]
    assert new != given
    assert NEW_ID.fullmatch(new)
    [line] = lines.of("hembesok.tests.observability")
    assert line["request_id"] == new


@pytest.mark.urls(__name__)
def test_each_request_gets_its_own_id_and_none_is_left_behind(lines: Lines) -> None:
    client = Client()
    first = client.get("/obs/log/")[HEADER]
    second = client.get("/obs/log/")[HEADER]
    assert NEW_ID.fullmatch(first) and NEW_ID.fullmatch(second) and first != second
    assert [line["request_id"] for line in lines.of("hembesok.tests.observability")] == [
        first,
        second,
    ]
    assert REQUEST_ID.get() is None


@pytest.mark.urls(__name__)
def test_djangos_late_4xx_line_carries_the_request_id(lines: Lines) -> None:
    response = Client().get("/obs/forbidden/", headers={HEADER: "late-line-12345678"})
    assert response.status_code == 403
    [line] = lines.of("django.request")
    assert line["message"] == "Forbidden: /obs/forbidden/"
    assert line["request_id"] == "late-line-12345678"


# --- Celery -----------------------------------------------------------------------------------
def test_a_task_queued_in_a_request_logs_with_the_requests_id(lines: Lines) -> None:
    token = REQUEST_ID.set("web-request-1234")
    try:
        log_line.delay()  # eager in the tests (tests/conftest.py)
        assert REQUEST_ID.get() == "web-request-1234"  # restored after the task
    finally:
        REQUEST_ID.reset(token)
    [line] = lines.of("hembesok.tests.observability")
    assert line == {**line, "message": "in the task", "request_id": "web-request-1234"}


def test_a_task_logs_with_the_id_in_its_headers_else_its_own(lines: Lines) -> None:
    log_line.apply_async(headers={REQUEST_ID_HEADER: "from-header-1234"})
    log_line.apply_async(task_id="the-task-id-5678")
    assert [line["request_id"] for line in lines.of("hembesok.tests.observability")] == [
        "from-header-1234",
        "the-task-id-5678",
    ]
    assert REQUEST_ID.get() is None


def test_publishing_a_task_puts_the_current_request_id_in_its_headers() -> None:
    def publish(headers: dict[str, Any]) -> dict[str, Any]:
        before_task_publish.send(
            sender="tests.observability.log_line",
            body=((), {}, {}),
            exchange="",
            routing_key="default",
            headers=headers,
            properties={},
            declare=[],
            retry_policy=None,
        )
        return headers

    assert REQUEST_ID_HEADER not in publish({"id": "t1"})  # no request: nothing to pass
    token = REQUEST_ID.set("web-request-1234")
    try:
        assert publish({"id": "t2"})[REQUEST_ID_HEADER] == "web-request-1234"
        # A header set by whoever queued it is kept.
        assert publish({REQUEST_ID_HEADER: "given-123456"})[REQUEST_ID_HEADER] == "given-123456"
    finally:
        REQUEST_ID.reset(token)


def test_a_worker_takes_the_id_from_the_message_headers() -> None:
    """A worker builds the task's request from the message's headers, each an attribute."""
    task = SimpleNamespace(
        request=Context(id="t-1", is_eager=False, **{REQUEST_ID_HEADER: "web-request-1234"})
    )
    assert task_request_id(task, "t-1") == "web-request-1234"
    plain = SimpleNamespace(request=Context(id="t-2", is_eager=False))
    token = REQUEST_ID.set("a-stale-context-id")  # a worker never inherits a context id
    try:
        assert task_request_id(plain, "t-2") == "t-2"
    finally:
        REQUEST_ID.reset(token)


def test_the_worker_leaves_logging_to_our_handlers(settings) -> None:
    """Celery configures logging itself unless setup_logging has a receiver; ours applies
    settings.LOGGING, so the worker's lines come out as the web's."""
    assert setup_logging.receivers
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        app.log.setup_logging_subsystem(loglevel="INFO")
        # pytest's own capturing handlers may sit on the root too, depending on the run.
        formatters = [
            type(handler.formatter)
            for handler in root.handlers
            if not type(handler).__module__.startswith("_pytest")
        ]
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert formatters == [FORMATTERS[settings.LOG_FORMAT]]


# --- /metrics ---------------------------------------------------------------------------------
def done_and_failed_runs() -> None:
    organisation = OrganisationFactory()
    finance = member(Role.FINANCE, organisation=organisation)
    for status in (RunStatus.DONE, RunStatus.DONE, RunStatus.FAILED):
        ReportRun.objects.create(
            kind=ReportKind.FINANCE_XLSX,
            organisation=organisation,
            year=2026,
            requested_by=finance,
            status=status,
            file_name=f"{uuid.uuid4()}.xlsx" if status == RunStatus.DONE else "",
            sha256="0" * 64 if status == RunStatus.DONE else "",
        )


@pytest.mark.django_db
def test_metrics_from_loopback_show_requests_report_runs_and_mail() -> None:
    done_and_failed_runs()
    OutgoingMail.objects.create(to="a@example.se", subject="s", body="b")
    client = Client()
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    body = response.content.decode()
    assert 'django_http_requests_total_by_method_total{method="GET"}' in body
    assert 'hembesok_report_runs{status="done"} 2.0' in body
    assert 'hembesok_report_runs{status="failed"} 1.0' in body
    assert 'hembesok_report_runs{status="queued"} 0.0' in body
    assert "hembesok_outgoing_mail_pending 1.0" in body


@pytest.mark.django_db
def test_the_report_runs_are_counted_in_one_query(django_assert_num_queries) -> None:
    from core.metrics import exposition

    done_and_failed_runs()
    with django_assert_num_queries(2):  # the runs by status, the unsent mail
        exposition()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "extra",
    [
        {"headers": {"X-Forwarded-For": "9.9.9.9"}},  # through the reverse proxy
        {"REMOTE_ADDR": "9.9.9.9"},  # a public address
        {"REMOTE_ADDR": "not an address"},
    ],
)
def test_metrics_are_not_found_from_outside(extra: dict[str, Any]) -> None:
    response = Client().get("/metrics", **extra)
    assert response.status_code == 404
    assert b"hembesok_" not in response.content


@pytest.mark.django_db
def test_metrics_through_the_proxy_need_the_token(settings) -> None:
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    proxied = {"REMOTE_ADDR": "9.9.9.9", "HTTP_X_FORWARDED_FOR": "9.9.9.10"}
    client = Client()
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
    assert ok.status_code == 200
    ok = client.get(
        "/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"}, **proxied
    )
    assert ok.status_code == 200
    for wrong in ("Bearer scrape-token-012345678", "scrape-token-0123456789", ""):
        answer = client.get("/metrics", headers={"Authorization": wrong}, **proxied)
        assert answer.status_code == 404, wrong
    assert client.post("/metrics").status_code == 405


@pytest.mark.django_db
def test_a_redis_that_does_not_answer_gives_no_queue_sample(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert b"hembesok_queue_length" not in response.content
    assert b"hembesok_report_runs" in response.content


@pytest.mark.django_db
def test_without_redis_there_is_no_queue_length(settings) -> None:
    settings.REDIS_URL = ""
    assert b"hembesok_queue_length" not in Client().get("/metrics").content


@pytest.mark.redis
@pytest.mark.django_db
def test_the_queue_length_is_each_queues_waiting_messages(settings, redis_url: str) -> None:
    import redis

    # Queues of this test's own, so no worker of another test takes the messages.
    busy, idle = f"obs-busy-{uuid.uuid4().hex}", f"obs-idle-{uuid.uuid4().hex}"
    settings.REDIS_URL = redis_url
    settings.CELERY_TASK_QUEUES = (Queue(busy), Queue(idle))
    client = redis.Redis.from_url(redis_url)
    try:
        client.rpush(busy, "m1", "m2", "m3")
        body = Client().get("/metrics").content.decode()
    finally:
        client.delete(busy, idle)
        client.close()
    assert f'hembesok_queue_length{{queue="{busy}"}} 3.0' in body
    assert f'hembesok_queue_length{{queue="{idle}"}} 0.0' in body


@pytest.mark.django_db
def test_multiprocess_mode_adds_up_the_workers_files(monkeypatch, tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, Counter
    from prometheus_client.values import MultiProcessValue

    from core.metrics import exposition

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    # Two "workers" (pids) counting into the folder, as gunicorn's would.
    for pid, count in ((101, 2), (102, 3)):
        monkeypatch.setattr(
            "prometheus_client.values.ValueClass", MultiProcessValue(lambda p=pid: p)
        )
        counter = Counter("obs_test_hits", "test", registry=CollectorRegistry())
        counter.inc(count)
    body = exposition().decode()
    assert "obs_test_hits_total 5.0" in body
    assert 'hembesok_report_runs{status="done"} 0.0' in body


def test_gunicorn_empties_the_metrics_folder_and_marks_exited_workers_dead(
    monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    conf = runpy.run_path(str(GUNICORN_CONF))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_99.db").write_bytes(b"old")
    conf["on_starting"](None)
    assert list((tmp_path / "metrics").iterdir()) == []
    live = tmp_path / "metrics" / "gauge_livesum_4242.db"
    live.write_bytes(b"")
    conf["child_exit"](None, SimpleNamespace(pid=4242))
    assert not live.exists()


def test_gunicorns_lines_use_our_formatter_and_carry_the_request_id(monkeypatch) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.setenv("DJANGO_DEBUG", "0")
    conf = runpy.run_path(str(GUNICORN_CONF))
    assert conf["logconfig_dict"] == gunicorn_logconfig("json", level="info")
    assert conf["logconfig_dict"]["formatters"]["hembesok"] == {"()": "core.logging.JsonFormatter"}
    # An access line as gunicorn logs it: its format with the atoms as the arguments.
    access = logging.makeLogRecord(
        {
            "name": "gunicorn.access",
            "levelname": "INFO",
            "msg": conf["access_log_format"],
            "args": {
                "m": "GET",
                "U": "/barn/",
                "s": 200,
                "B": 12,
                "M": 7,
                "{x-request-id}o": "r-12345678",
            },
        }
    )
    access.created = CREATED
    assert json.loads(JsonFormatter().format(access)) == {
        "time": "2026-01-01T00:00:00.500+00:00",
        "level": "INFO",
        "logger": "gunicorn.access",
        "message": '"GET /barn/" 200 12 7ms request_id=r-12345678',
        "request_id": "r-12345678",
    }


# --- Sentry -----------------------------------------------------------------------------------
@pytest.fixture
def sentry_events() -> Any:
    import sentry_sdk
    from sentry_sdk.transport import Transport

    from core.sentry import init_sentry

    events: list[dict[str, Any]] = []

    class Capturing(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            event = envelope.get_event()
            if event is not None:
                events.append(event)

    init_sentry(dsn="https://public@sentry.invalid/1", environment="test", transport=Capturing())
    yield events
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def wsgi_post(path: str, query: str, body: bytes, **headers: str) -> tuple[str, bytes]:
    """A request through Django's WSGI handler, as gunicorn makes it: Sentry's WSGI layer
    (url, method, headers, query string) sits there, which the test client bypasses."""
    from django.core.handlers.wsgi import WSGIHandler

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "HTTP_HOST": "testserver",
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    status: list[str] = []
    # As the test client does: the test's database connection is not the request's to close.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = WSGIHandler()(environ, lambda code, _headers, *_: status.append(code))
        try:
            return status[0], b"".join(chunks)
        finally:
            chunks.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.urls(__name__)
def test_sentry_gets_the_error_with_the_request_id_and_nothing_of_the_request(
    sentry_events: list[dict[str, Any]],
) -> None:
    status, _ = wsgi_post(
        "/obs/fail/",
        "identity=secret-query-value",
        b"identity=secret-body-value",
        x_request_id="sentry-req-12345678",
        cookie="tracking=secret-cookie-value",
        referer="https://x.se/?q=secret-referer-value",
        authorization="Bearer secret-token-value",
        user_agent="test-agent",
    )
    assert status.startswith("500")
    [event] = sentry_events
    assert event["tags"]["request_id"] == "sentry-req-12345678"
    assert event["environment"] == "test"
    request = event["request"]
    assert sorted(request) == ["headers", "method", "url"]
    assert request["url"] == "http://testserver/obs/fail/"
    assert request["headers"] == {
        "Content-Length": "26",
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "test-agent",
    }
    [exception] = event["exception"]["values"]
    assert exception["type"] == "ValueError"
    assert exception["value"] == f"duplicate key: Key (identity)=({MASKED}) already exists"
    frames = exception["stacktrace"]["frames"]
    assert frames and all("vars" not in frame for frame in frames)
    assert "user" not in event
    sent = json.dumps(event)
    for secret in ("cookie", "query", "body", "referer", "token"):
        assert f"secret-{secret}-value" not in sent, secret
    assert NUMBER not in sent
    assert NUMBER[2:] not in sent
