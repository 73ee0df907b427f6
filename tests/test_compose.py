"""The production shape in docker-compose.yml and the Dockerfile.

There is no Docker engine where the tests run, so these read the files as data and check the
promises made in the README: a one-shot migrate before everything else, gunicorn on the web from
its config file, a worker for the reports queue and one for the rest, beat, healthchecks, named
volumes for the database and the private report store, and no start without a SECRET_KEY.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
APP_SERVICES = ("migrate", "web", "worker-reports", "worker", "beat")
AFTER_MIGRATE = ("web", "worker-reports", "worker", "beat")
WORKERS = ("worker-reports", "worker")
REPORT_STORE = "/var/lib/hembesok/reports"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def command_of(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return shlex.join(command) if isinstance(command, list) else command


def named_volume_mounts(service: dict[str, Any], compose: dict[str, Any]) -> dict[str, str]:
    """Container path -> volume name, for mounts whose source is a top-level named volume."""
    declared = compose.get("volumes") or {}
    mounts: dict[str, str] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume["target"]
        else:
            source, target = volume.split(":")[:2]
        if source in declared:
            mounts[target] = source
    return mounts


def test_compose_defines_exactly_its_services(compose):
    assert set(compose["services"]) == {
        "migrate",
        "web",
        "worker-reports",
        "worker",
        "beat",
        "postgres",
        "redis",
    }


def test_migrate_runs_once_before_web_the_workers_and_beat(compose):
    migrate = compose["services"]["migrate"]
    assert command_of(migrate) == "python manage.py migrate --noinput"
    # One-shot: a restart policy would run it again after it exits successfully.
    assert migrate.get("restart", "no") == "no"
    for name in AFTER_MIGRATE:
        service = compose["services"][name]
        condition = service["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
        assert "migrate" not in command_of(service), name


def test_web_serves_the_wsgi_app_with_gunicorn_from_its_config_file(compose):
    command = shlex.split(command_of(compose["services"]["web"]))
    assert command[0] == "gunicorn"
    assert command[command.index("--config") + 1] == "config/gunicorn.conf.py"
    assert (ROOT / "config" / "gunicorn.conf.py").is_file()
    assert command[-1] == "config.wsgi:application"


def test_web_publishes_port_8000(compose):
    assert any(str(port).endswith("8000:8000") for port in compose["services"]["web"]["ports"])


def worker_options(service: dict[str, Any]) -> dict[str, str]:
    command = shlex.split(command_of(service))
    assert command[:4] == ["celery", "-A", "config", "worker"]
    return dict(arg.removeprefix("--").split("=", 1) for arg in command[4:] if "=" in arg)


def test_reports_have_their_own_worker_bounded_in_memory_and_prefetch(compose):
    options = worker_options(compose["services"]["worker-reports"])
    assert options["queues"] == "reports"
    assert options["concurrency"] == "2"
    assert options["prefetch-multiplier"] == "1"
    assert 0 < int(options["max-memory-per-child"]) <= 1_000_000  # KiB


def test_the_other_worker_takes_reminders_and_the_default_queue(compose):
    options = worker_options(compose["services"]["worker"])
    assert set(options["queues"].split(",")) == {"default", "reminders"}
    assert int(options["max-memory-per-child"]) > 0
    assert options["prefetch-multiplier"] == "1"


def test_every_queue_the_settings_declare_has_a_compose_worker(compose, settings):
    consumed = {
        queue
        for name in WORKERS
        for queue in worker_options(compose["services"][name])["queues"].split(",")
    }
    assert consumed == {queue.name for queue in settings.CELERY_TASK_QUEUES}


def test_workers_are_healthy_when_they_answer_a_ping_to_themselves(compose):
    for name in WORKERS:
        test = compose["services"][name]["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL", name
        command = test[1]
        assert "celery -A config inspect ping" in command, name
        # $$ is compose's escape: the container's shell expands $HOSTNAME, not compose.
        assert "-d celery@$$HOSTNAME" in command, name


def test_web_is_healthy_when_healthz_answers_without_curl(compose):
    test = compose["services"]["web"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "http://127.0.0.1:8000/healthz" in test[3]
    assert "ALLOWED_HOSTS" in test[3]  # Django answers 400 to a Host it does not allow
    compile(test[3], "healthcheck", "exec")


def test_beat_runs_celery_beat_with_the_database_scheduler(compose):
    command = command_of(compose["services"]["beat"])
    assert "celery -A config beat" in command
    assert "django_celery_beat.schedulers:DatabaseScheduler" in command


def test_postgres_keeps_its_data_in_a_named_volume(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:15")
    mounts = named_volume_mounts(postgres, compose)
    assert mounts.get("/var/lib/postgresql/data") == "pgdata"


def test_web_and_the_reports_worker_share_the_private_report_store_volume(compose):
    assert "reports" in compose["volumes"]
    for name in ("web", "worker-reports"):
        service = compose["services"][name]
        assert named_volume_mounts(service, compose).get(REPORT_STORE) == "reports", name
        assert service["environment"]["REPORT_STORE"] == REPORT_STORE, name


def test_app_services_build_from_the_dockerfile(compose):
    for name in APP_SERVICES:
        build = compose["services"][name]["build"]
        if isinstance(build, str):
            build = {"context": build}
        dockerfile = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        assert dockerfile.resolve() == DOCKERFILE, name
    assert DOCKERFILE.is_file()


def test_app_services_wait_for_a_healthy_postgres(compose):
    assert "healthcheck" in compose["services"]["postgres"]
    for name in APP_SERVICES:
        depends_on = compose["services"][name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy", name


def test_compose_refuses_to_start_without_secret_key_and_allowed_hosts(compose):
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?"), name
        assert environment["ALLOWED_HOSTS"].startswith("${ALLOWED_HOSTS:?"), name


def test_dockerfile_runs_gunicorn_as_a_non_root_user():
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()]
    instructions = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    start = [args for keyword, *args in instructions if keyword in ("CMD", "ENTRYPOINT")]
    assert start and "gunicorn" in start[-1][0]
    users = [args[0] for keyword, *args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_web_keeps_a_small_connection_pool_per_worker_and_the_app_environment(compose):
    web = compose["services"]["web"]["environment"]
    assert web["DB_POOL_MAX_SIZE"] == "2"
    # The merge keeps every variable the other services get.
    assert {k: v for k, v in web.items() if k != "DB_POOL_MAX_SIZE"} == (
        compose["services"]["worker"]["environment"]
    )
    assert "DB_POOL_MAX_SIZE" not in compose["services"]["worker"]["environment"]
