"""Security headers (issue 24, item 3; API.md "Browser pages"): a Content-Security-Policy
without 'unsafe-inline' on every page, `Cache-Control: no-store` on pages and API answers that
may carry a child's data, HSTS and the other headers, and `check --deploy` clean on production
settings."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from core.models import User
from visits.models import Child

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
# Rendered by WeasyPrint into files, never served to a browser.
NOT_SERVED = [TEMPLATES / "reports" / "pdf"]
# Inline blocks that carry the request's CSP nonce (drf-spectacular's docs page).
NONCED = [TEMPLATES / "drf_spectacular"]

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
API_DOCS = "/api/v1/docs/"


def production_env(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "SECRET_KEY": secrets.token_urlsafe(50),
        # `check` does not connect; the URL only has to be PostgreSQL's.
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1/x"),
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "ALLOWED_HOSTS": "hembesok.example.org",
        "ACCESS_LOG_KEY": secrets.token_urlsafe(50),
        "SITE_URL": "https://hembesok.example.org",
        **extra,
    }


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict_policy(response) -> None:
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"], csp
    assert csp["style-src"] == ["'self'"], csp
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def assert_no_inline_code(html: str, where: str) -> None:
    """What a strict CSP would block: inline script and style blocks, style attributes and
    event-handler attributes."""
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), where
    assert not re.search(r"<style[\s>]", html), where
    assert not re.search(r"<[^>]+\sstyle\s*=", html), where
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), where


def no_store(response) -> bool:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    return "no-store" in directives


# --- check --deploy --------------------------------------------------------------------------
def test_check_deploy_is_clean_on_production_settings():
    result = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        production_env(LOG_LEVEL="ERROR"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def _production_setting(name: str, **extra: str) -> str:
    code = f"import config.settings as s; print(repr(s.{name}))"
    result = run_python(["-c", code], production_env(**extra))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_production_defaults_are_https_only():
    assert _production_setting("SECURE_SSL_REDIRECT") == "True"
    assert _production_setting("SESSION_COOKIE_SECURE") == "True"
    assert _production_setting("CSRF_COOKIE_SECURE") == "True"
    assert int(_production_setting("SECURE_HSTS_SECONDS")) >= 365 * 24 * 60 * 60
    assert _production_setting("SECURE_HSTS_INCLUDE_SUBDOMAINS") == "True"


def test_forwarded_scheme_is_trusted_only_behind_a_declared_proxy():
    assert _production_setting("SECURE_PROXY_SSL_HEADER") == "None"
    assert _production_setting("SECURE_PROXY_SSL_HEADER", TRUSTED_PROXY_COUNT="1") == repr(
        ("HTTP_X_FORWARDED_PROTO", "https")
    )


def test_forwarded_scheme_from_a_client_without_proxy_is_ignored(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(reverse("login"), headers={"x-forwarded-proto": "https"})
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_development_serves_plain_http(client, settings):
    # The tests run on development settings (DJANGO_DEBUG=1 at import), as `make run` does.
    assert settings.SECURE_SSL_REDIRECT is False
    assert settings.SESSION_COOKIE_SECURE is False
    assert client.get(reverse("login")).status_code == 200


# --- Headers on pages and API answers ----------------------------------------------------------
@pytest.fixture
def nurse(demo) -> User:
    return User.objects.get(username="nurse_vivalla")


@pytest.fixture
def nurse_client(client, nurse):
    client.force_login(nurse, backend=MODEL_BACKEND)
    return client


@pytest.fixture
def child(nurse) -> Child:
    return Child.objects.for_user(nurse).order_by("pk").first()


def test_login_page_has_the_strict_policy_and_the_other_headers(client, db):
    response = client.get(reverse("login"))
    assert_strict_policy(response)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response  # plain http


def test_hsts_over_https(client, db):
    response = client.get(reverse("login"), secure=True)
    hsts = response["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts
    assert "includeSubDomains" in hsts


@pytest.mark.parametrize("username", ["nurse_vivalla", "manager_vivalla", "cbhv", "finance"])
def test_every_navigation_page_has_the_strict_policy_and_no_inline_code(client, demo, username):
    client.force_login(User.objects.get(username=username), backend=MODEL_BACKEND)
    home = client.get("/")
    nav = re.search(r'<nav class="site-nav".*?</nav>', home.content.decode(), re.S)
    assert nav
    pages = {"/", *re.findall(r'href="([^"]+)"', nav.group(0))}
    pages.discard(API_DOCS)  # drf-spectacular's page: its own test below
    for url in sorted(pages):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict_policy(response)
        assert_no_inline_code(response.content.decode(), url)
        assert no_store(response), url


def test_child_detail_page_is_not_stored_and_has_the_strict_policy(nurse_client, child):
    response = nurse_client.get(reverse("visits:child_detail", args=[child.pk]))
    assert response.status_code == 200
    assert no_store(response)
    assert "private" in response["Cache-Control"]
    assert_strict_policy(response)
    assert_no_inline_code(response.content.decode(), "child detail")


def test_children_api_is_not_stored(nurse_client, child):
    listing = nurse_client.get("/api/v1/children/")
    detail = nurse_client.get(f"/api/v1/children/{child.pk}/")
    assert listing.status_code == detail.status_code == 200
    assert no_store(listing)
    assert no_store(detail)


def test_api_errors_and_anonymous_answers_are_not_stored(client, db):
    assert no_store(client.get("/api/v1/children/"))  # 401
    assert no_store(client.post("/api/v1/auth/token/", {}, content_type="application/json"))


def test_a_views_own_cache_control_is_kept(rf):
    from django.http import HttpResponse

    from core.middleware import NoStoreMiddleware

    def view(request):
        response = HttpResponse("x")
        response["Cache-Control"] = "max-age=60"
        return response

    assert NoStoreMiddleware(view)(rf.get("/"))["Cache-Control"] == "max-age=60"


def test_static_files_keep_their_own_caching(client, db, settings):
    # whitenoise answers before the header middleware; from the source folders here, as under
    # `make run` (production serves the collected files the same way).
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert not no_store(response)
    assert "Content-Security-Policy" not in response


def test_api_docs_page_allows_its_inline_blocks_by_nonce_only(client, db):
    response = client.get(API_DOCS)
    assert response.status_code == 200
    csp = policy(response)
    nonces = [v for v in csp["script-src"] if v.startswith("'nonce-")]
    assert csp["script-src"] == ["'self'", *nonces] and len(nonces) == 1
    assert csp["style-src"] == ["'self'", *nonces]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    nonce = nonces[0][len("'nonce-") : -1]
    html = response.content.decode()
    inline = re.findall(r"<(?:script(?![^>]*\ssrc=)|style)\b[^>]*>", html)
    assert inline, "the docs page's inline blocks"
    assert all(f'nonce="{nonce}"' in tag for tag in inline), inline
    # A nonce is made per response: the next page load has another.
    assert client.get(API_DOCS)["Content-Security-Policy"] != response["Content-Security-Policy"]


def _templates() -> list[Path]:
    return [
        path
        for path in TEMPLATES.rglob("*.html")
        if not any(path.is_relative_to(skip) for skip in [*NOT_SERVED, *NONCED])
    ]


TEMPLATE_COMMENT = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.S)


def test_no_served_template_has_inline_script_style_or_handlers():
    templates = _templates()
    assert len(templates) > 20
    for path in templates:
        source = TEMPLATE_COMMENT.sub("", path.read_text())
        assert_no_inline_code(source, str(path.relative_to(ROOT)))


def test_nonced_templates_put_the_nonce_on_every_inline_block():
    for folder in NONCED:
        for path in folder.rglob("*.html"):
            source = path.read_text()
            for tag in re.findall(r"<(?:script(?![^>]*\ssrc=)|style)\b[^>]*>", source):
                assert 'nonce="{{ request.csp_nonce }}"' in tag, (path, tag)
