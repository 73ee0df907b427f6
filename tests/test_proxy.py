"""The TLS proxy in front of web (docker-compose.yml `proxy`, config/caddy/Caddyfile), run for
real: Debian's Caddy with the project's Caddyfile and a certificate from Caddy's local CA, in
front of gunicorn started from its config file with production's https redirect, Secure cookies
and one trusted proxy, against the test database. The requests are the README's curl steps.

Without Caddy (Debian's `caddy` package) or curl the test skips with the reason, and fails under
REQUIRE_SERVICES=1 (.ci/run installs Caddy).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection

from tests.conftest import missing_service
from tests.core.factories import PASSWORD, UserFactory
from tests.test_production import free_port

ROOT = Path(__file__).resolve().parent.parent
CADDYFILE = ROOT / "config" / "caddy" / "Caddyfile"

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Site:
    https: str
    http: str
    ca: Path
    workdir: Path


def wait_until_listening(url: str, ca: Path | None, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        args = ["curl", "-s", "-o", "/dev/null", url]
        if ca is not None:
            args[1:1] = ["--cacert", str(ca)] if ca.exists() else ["-k"]
        if subprocess.run(args, capture_output=True, timeout=10).returncode == 0:
            return
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, django_db_setup: None) -> Iterator[Site]:
    """One gunicorn and one Caddy for the module (each test makes its own user)."""
    tmp_path = tmp_path_factory.mktemp("proxy")
    if shutil.which("caddy") is None or shutil.which("curl") is None:
        missing_service("Caddy or curl is not installed (Debian's caddy and curl packages)")
    database = connection.settings_dict
    web_port, https_port, http_port = free_port(), free_port(), free_port()
    web_env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "WEB_CONCURRENCY": "1",
        "ALLOWED_HOSTS": "localhost",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_COOKIES": "1",
        "TRUSTED_PROXY_COUNT": "1",
        "REDIS_URL": "",
        # The process needs no production secrets (and no collected static files); https
        # redirect, Secure cookies and the trusted proxy are production's, set above.
        "DJANGO_DEBUG": "1",
    }
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--config",
            "config/gunicorn.conf.py",
            "config.wsgi:application",
        ],
        cwd=ROOT,
        env=web_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    caddy_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "SITE_ADDRESS": "localhost",
        "CADDY_TLS": "internal",
        "HTTPS_PORT": str(https_port),
        "HTTP_PORT": str(http_port),
        "UPSTREAM_HOST": "127.0.0.1",
        "UPSTREAM_PORT": str(web_port),
    }
    caddy = subprocess.Popen(
        ["caddy", "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=caddy_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ca = tmp_path / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    try:
        wait_until_listening(f"http://127.0.0.1:{web_port}/healthz", None, gunicorn)
        wait_until_listening(f"https://localhost:{https_port}/healthz", ca, caddy)
        assert ca.exists(), "Caddy's local CA"
        yield Site(
            https=f"https://localhost:{https_port}",
            http=f"http://localhost:{http_port}",
            ca=ca,
            workdir=tmp_path,
        )
    finally:
        for process in (caddy, gunicorn):
            process.terminate()
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def jar_name() -> str:
    """A cookie jar per test: each test is a new browser."""
    return re.sub(r"\W", "_", os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0])


def curl(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    """curl as the README runs it: the local CA's root trusted, a cookie jar, headers shown."""
    jar = str(site.workdir / f"cookies-{jar_name()}")
    return subprocess.run(
        ["curl", "-s", "-i", "--cacert", str(site.ca), "-b", jar, "-c", jar, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )


def status_of(response: subprocess.CompletedProcess[str]) -> int:
    return int(response.stdout.split(None, 2)[1])


def header(response: subprocess.CompletedProcess[str], name: str) -> str:
    match = re.search(rf"^{name}: (.*?)\r?$", response.stdout, re.I | re.M)
    return match.group(1) if match else ""


def login_form_token(site: Site) -> str:
    page = curl(site, f"{site.https}/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.stdout)
    assert token is not None
    return token.group(1)


def post_login(
    site: Site, username: str, password: str, *headers: str
) -> subprocess.CompletedProcess[str]:
    """The login form posted as the README's curl step does (headers: extra `-H` values)."""
    token = login_form_token(site)
    return curl(
        site,
        *[
            arg
            for value in (f"Referer: {site.https}/accounts/login/", *headers)
            for arg in ("-H", value)
        ],
        "--data-urlencode",
        f"csrfmiddlewaretoken={token}",
        "--data-urlencode",
        f"username={username}",
        "--data-urlencode",
        f"password={password}",
        f"{site.https}/accounts/login/",
    )


def test_a_login_through_the_proxy_works_over_https_with_secure_cookies(site):
    user = UserFactory()
    # The server process hashes with production's hasher, not the tests' fast one.
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "proxytestsalt")
    user.save(update_fields=["password"])

    page = curl(site, f"{site.https}/accounts/login/")
    assert status_of(page) == 200
    assert "Secure" in header(page, "Set-Cookie")  # the CSRF cookie, https only
    assert header(page, "Strict-Transport-Security").startswith("max-age=")

    login = post_login(site, user.username, PASSWORD)
    assert status_of(login) == 302, login.stdout[:500]
    assert header(login, "Location") == "/"
    assert re.search(r"^set-cookie: sessionid=.*; Secure", login.stdout, re.I | re.M)

    home = curl(site, f"{site.https}/")
    assert status_of(home) == 200
    # The proxy's request id (a UUID) reaches web, which logs it and echoes it.
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        header(home, "X-Request-ID"),
    )
    assert user.username in home.stdout or user.first_name in home.stdout


def test_plain_http_is_redirected_to_https_and_metrics_stay_inside(site):
    plain = curl(site, f"{site.http}/accounts/login/")
    assert status_of(plain) == 308
    assert header(plain, "Location").startswith("https://localhost")
    assert status_of(curl(site, f"{site.https}/metrics")) == 404


def test_a_client_cannot_forge_its_address_or_scheme_through_the_proxy(site):
    """web trusts one proxy (TRUSTED_PROXY_COUNT=1) and Caddy writes X-Forwarded-For and
    X-Forwarded-Proto itself: a client's own values do not reach the lockout's address."""
    user = UserFactory()
    refused = post_login(
        site,
        user.username,
        "not-the-password",
        "X-Forwarded-For: 203.0.113.9",
        "X-Forwarded-Proto: http",
    )
    assert status_of(refused) == 200  # the form again, with its error
    attempt = AccessAttempt.objects.get(username=user.username)
    assert attempt.ip_address == "127.0.0.1"
