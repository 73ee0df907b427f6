"""The production shape in docker-compose.yml and the Dockerfile.

There is no Docker engine where the tests run, so these read the files as data and check the
promises made in the README: five services, gunicorn on the web, a Celery worker and beat, named
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
APP_SERVICES = ("web", "worker", "beat")
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


def test_compose_defines_exactly_web_worker_beat_postgres_and_redis(compose):
    assert set(compose["services"]) == {"web", "worker", "beat", "postgres", "redis"}


def test_web_migrates_then_serves_the_wsgi_app_with_gunicorn(compose):
    command = command_of(compose["services"]["web"])
    assert "migrate --noinput" in command
    assert "gunicorn config.wsgi" in command
    assert command.index("migrate") < command.index("gunicorn")


def test_web_publishes_port_8000(compose):
    assert any(str(port).endswith("8000:8000") for port in compose["services"]["web"]["ports"])


def test_worker_runs_a_celery_worker_for_the_config_app(compose):
    assert "celery -A config worker" in command_of(compose["services"]["worker"])


def test_beat_runs_celery_beat_with_the_database_scheduler(compose):
    command = command_of(compose["services"]["beat"])
    assert "celery -A config beat" in command
    assert "django_celery_beat.schedulers:DatabaseScheduler" in command


def test_postgres_keeps_its_data_in_a_named_volume(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:15")
    mounts = named_volume_mounts(postgres, compose)
    assert mounts.get("/var/lib/postgresql/data") == "pgdata"


def test_web_and_worker_share_the_private_report_store_volume(compose):
    assert "reports" in compose["volumes"]
    for name in ("web", "worker"):
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
