"""Shared test set-up.

Tests that need Redis or a browser skip with the reason when those are missing, unless
REQUIRE_SERVICES=1 (CI), when they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, settings

from core.second_factor import VERIFIED

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls from the
# live-server fixtures must be allowed there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


# `Client.force_login(user)` stands for a user who has signed in completely: password and,
# where her role needs one, the second factor (core.second_factor). Tests of signing in itself
# go through the login form and the second-factor pages, which this does not touch.
_force_login = Client.force_login


def _force_login_verified(self: Client, user: Any, backend: str | None = None) -> None:
    _force_login(self, user, backend)
    session = self.session
    session[VERIFIED] = "tests.force_login"
    session.save()


Client.force_login = _force_login_verified  # type: ignore[method-assign]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))


def missing_service(reason: str) -> None:
    """Skip locally, fail in CI: a test that needs a service must not pass silently there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        missing_service("REDIS_URL is not set (Redis tests need a Redis server)")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        missing_service(f"Redis at REDIS_URL does not answer: {exc.__class__.__name__}")
    return url


@pytest.fixture(scope="session", autouse=True)
def _own_redis_database() -> None:
    """Before anything publishes: this test process's broker, result of `own_redis_database`,
    for the settings, the Celery app and the worker processes tests start (their env)."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        return
    from django.conf import settings as django_settings

    from config.celery import app

    own = own_redis_database(url)
    os.environ["REDIS_URL"] = own
    django_settings.REDIS_URL = own
    django_settings.CELERY_BROKER_URL = own
    app.conf.broker_url = own


def own_redis_database(url: str) -> str:
    """A Redis database of this pytest-xdist worker's own (REDIS_URL's number plus the worker's,
    of Redis' 16): workers and brokers of two test processes must not take each other's
    messages, which name another process's test database."""
    from urllib.parse import urlsplit, urlunsplit

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    number = (base + int(worker or 0)) % 16
    return urlunsplit(parts._replace(path=f"/{number}"))


# --- Browser (pytest-playwright with Debian's Chromium) ---------------------------------------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        missing_service(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


TABLET = {"width": 820, "height": 1180}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": TABLET, "locale": "sv-SE"}


# --- Database ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """A test database per test process, so runs side by side on one server (several
    developers' worktrees on the embedded PostgreSQL, an editor's test runner) do not collide.
    pytest-django drops it at the end of the session."""
    from django.conf import settings as django_settings

    db = django_settings.DATABASES["default"]
    test = db.setdefault("TEST", {})
    if not test.get("NAME"):
        test["NAME"] = f"test_{db['NAME']}_{os.getpid()}"


# --- Data --------------------------------------------------------------------------------------
# Seeding the demo takes seconds (it replays years of visits and payments through the
# services); each test process seeds it once per day and restores the resulting tables with
# COPY for later tests (a fraction of a second).
_DEMO_DUMPS: dict[Any, list[tuple[str, bytes]]] = {}


def _tables() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'django_migrations' ORDER BY tablename"
        )
        return [row[0] for row in cursor.fetchall()]


def _demo_dump() -> list[tuple[str, bytes]]:
    from django.db import connection
    from psycopg import sql

    dump = []
    with connection.cursor() as cursor:
        for table in _tables():
            query = sql.SQL("COPY {} TO STDOUT (FORMAT binary)").format(sql.Identifier(table))
            with cursor.copy(query) as copy:
                dump.append((table, b"".join(bytes(block) for block in copy)))
    return dump


def _demo_restore(dump: list[tuple[str, bytes]]) -> None:
    """Replace every table's rows with the dump's. Triggers (foreign keys, append-only guards,
    history) are off for this session's statements while the known-good rows are copied."""
    from django.db import connection
    from psycopg import sql

    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(
                sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, _tables())))
            )
            for table, data in dump:
                query = sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(sql.Identifier(table))
                with cursor.copy(query) as copy:
                    copy.write(data)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        # Sequences never go back, but make sure none is behind the restored ids.
        cursor.execute(
            """
            SELECT s.relname, t.relname, a.attname
            FROM pg_class s
            JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
            JOIN pg_class t ON t.oid = d.refobjid
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
            WHERE s.relkind = 'S' AND t.relnamespace = s.relnamespace
            """
        )
        for seq, table, column in cursor.fetchall():
            cursor.execute(
                sql.SQL(
                    "SELECT setval({seq}, GREATEST((SELECT coalesce(max({col}), 1) FROM {t}), "
                    "(SELECT last_value FROM {seqid})))"
                ).format(
                    seq=sql.Literal(seq),
                    col=sql.Identifier(column),
                    t=sql.Identifier(table),
                    seqid=sql.Identifier(seq),
                )
            )


@pytest.fixture(scope="session")
def demo_report_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the demo's submitted reports are stored in this test process (never the
    checkout's var/)."""
    return tmp_path_factory.mktemp("demo-reports")


@pytest.fixture
def demo(db: None, demo_report_store: Path, settings: Any) -> None:
    """The demo data, as `make run` loads it. REPORT_STORE points at the demo's report files
    (a test may point it elsewhere afterwards)."""
    from django.core.management import call_command
    from django.utils import timezone

    settings.REPORT_STORE = demo_report_store
    day = timezone.localdate()
    if day in _DEMO_DUMPS:
        _demo_restore(_DEMO_DUMPS[day])
        return
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    _DEMO_DUMPS[day] = _demo_dump()


@pytest.fixture
def api_client_for() -> Callable[..., Any]:
    """An API client authenticated with a new API token of the given user (valid for
    API_TOKEN_LIFETIME from now: make the client inside a `time_machine` block that travels)."""
    from rest_framework.test import APIClient

    from core.services import api_token_create

    def make(user: Any) -> APIClient:
        client = APIClient()
        _, key = api_token_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """A speed setting only: PBKDF2's million rounds per demo user dominate the suite."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _tasks_run_in_the_test(request: pytest.FixtureRequest) -> Any:
    """Tasks queued by the code under test (mail after commit, report runs) run in the test's
    process, with or without REDIS_URL, as they do in development. Tests of the real worker
    (marked `redis`: tests/core/test_celery.py, tests/reporting/test_worker.py) keep the
    broker they set up."""
    from config.celery import app

    if request.node.get_closest_marker("redis") is not None:
        yield
        return
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = saved


def restore_migration_reference_data() -> None:
    import datetime

    from visits.models import KvaCode

    KvaCode.objects.get_or_create(
        code="ZV509",
        valid_from=datetime.date(2015, 1, 1),
        defaults={"title": "Medverkan av företrädare för socialtjänst"},
    )


# Tables whose TRUNCATE a trigger refuses (as it should in production).
NO_TRUNCATE_TRIGGERS = [
    "visits.AccessLog:access_log_no_truncate",
    "funding.Grant:grant_no_truncate",
    "funding.LedgerTransaction:ledger_tx_no_truncate",
    "funding.LedgerLeg:ledger_leg_no_truncate",
    "funding.CompensationAdjustment:comp_adjustment_no_truncate",
    "funding.VisitCompensation:visit_comp_no_truncate",
    "funding.PaidMonth:paid_month_no_truncate",
    "funding.CompensationRule:comp_rule_no_truncate",
    "funding.PartnerAgreement:partner_agreement_no_truncate",
]


@pytest.fixture(autouse=True, scope="session")
def _let_test_flushes_empty_the_access_log() -> Any:
    """Tests with a real transaction end by TRUNCATE-ing every table; the access log's and the
    ledger's triggers refuse that (as they should in production), so Django's test flush, and
    only it, runs with those triggers ignored (the test connection owns the tables; the money
    triggers honour an ignore only from the owner)."""
    import pgtrigger
    from django.test.testcases import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def teardown(self: TransactionTestCase) -> None:
        with pgtrigger.ignore(*NO_TRUNCATE_TRIGGERS):
            original(self)
        # The flush also empties reference data that migrations provide; put it back so the
        # next test sees the database as migrations left it.
        restore_migration_reference_data()

    TransactionTestCase._fixture_teardown = teardown
    yield
    TransactionTestCase._fixture_teardown = original
