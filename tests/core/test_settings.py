import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _import_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_settings_fail_loudly_without_secret_key():
    result = _import_settings({"DATABASE_URL": "postgres://u@h/db"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_name_each_missing_value():
    base = {"SECRET_KEY": "s"}
    result = _import_settings(base)
    assert "DATABASE_URL must be set" in result.stderr
    result = _import_settings({**base, "DATABASE_URL": "postgres://u@h/db"})
    assert "REDIS_URL must be set" in result.stderr
    result = _import_settings(
        {**base, "DATABASE_URL": "postgres://u@h/db", "REDIS_URL": "redis://h"}
    )
    assert "ALLOWED_HOSTS must be set" in result.stderr
    servers = {**base, "DATABASE_URL": "postgres://u@h/db", "REDIS_URL": "redis://h"}
    result = _import_settings({**servers, "ALLOWED_HOSTS": "hembesok.example.org"})
    assert "ACCESS_LOG_KEY must be set" in result.stderr
    result = _import_settings(
        {**servers, "ALLOWED_HOSTS": "hembesok.example.org", "ACCESS_LOG_KEY": "k"}
    )
    assert "SITE_URL must be set" in result.stderr


# A key as an operator makes one (made per run: a fixed one here could end up in production).
STRONG_KEY = secrets.token_urlsafe(50)
PRODUCTION = {
    "SECRET_KEY": STRONG_KEY,
    "DATABASE_URL": "postgres://u@h/db",
    "REDIS_URL": "redis://h:6379/0",
    "ALLOWED_HOSTS": "hembesok.example.org",
    "ACCESS_LOG_KEY": STRONG_KEY[::-1],
    "SITE_URL": "https://hembesok.example.org",
}


def test_production_settings_load_with_all_values():
    result = _import_settings(PRODUCTION)
    assert result.returncode == 0, result.stderr


def _makefile_secret_key() -> str:
    match = re.search(r"^export SECRET_KEY \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "the Makefile's development SECRET_KEY"
    return match.group(1)


@pytest.mark.parametrize(
    "key",
    [
        "s",
        STRONG_KEY[:49],  # one short of 50
        "a" * 60,  # long but not random
        "django-insecure-" + STRONG_KEY,  # Django's own marker of a generated development key
        "dev-only-not-secret-hembesok-7c1f0a",
        "a-long-random-string",  # the README's example
    ],
    # Stable ids: the random key must not differ between pytest-xdist's workers.
    ids=["one-character", "49-characters", "one-repeated", "django-insecure", "makefile", "readme"],
)
def test_production_refuses_a_weak_or_known_secret_key(key):
    result = _import_settings({**PRODUCTION, "SECRET_KEY": key})
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is too weak for production" in result.stderr
    if len(key) > 1:
        assert key not in result.stderr  # the key itself is never printed


def test_production_refuses_the_makefiles_development_key():
    key = _makefile_secret_key()
    from config.settings import KNOWN_SECRET_KEYS

    assert key in KNOWN_SECRET_KEYS
    result = _import_settings({**PRODUCTION, "SECRET_KEY": key})
    assert "SECRET_KEY is too weak for production" in result.stderr


def test_production_holds_a_separate_access_log_key_to_the_same_rule():
    result = _import_settings({**PRODUCTION, "ACCESS_LOG_KEY": "short"})
    assert "ACCESS_LOG_KEY is too weak for production" in result.stderr
    assert _import_settings({**PRODUCTION, "ACCESS_LOG_KEY": STRONG_KEY[::-1]}).returncode == 0


def test_production_refuses_an_access_log_key_equal_to_the_secret_key():
    result = _import_settings({**PRODUCTION, "ACCESS_LOG_KEY": STRONG_KEY})
    assert result.returncode != 0
    assert "ACCESS_LOG_KEY must differ from SECRET_KEY" in result.stderr


def test_production_refuses_a_plain_http_site_url():
    result = _import_settings({**PRODUCTION, "SITE_URL": "http://hembesok.example.org"})
    assert result.returncode != 0
    assert "SITE_URL must be an https address in production" in result.stderr


def test_development_takes_the_makefiles_key():
    result = _import_settings(
        {
            "DJANGO_DEBUG": "1",
            "SECRET_KEY": _makefile_secret_key(),
            "DATABASE_URL": "postgres://u@h/db",
        }
    )
    assert result.returncode == 0, result.stderr


def test_sqlite_is_refused_even_in_development():
    result = _import_settings(
        {"DJANGO_DEBUG": "1", "SECRET_KEY": "s", "DATABASE_URL": "sqlite:///db.sqlite3"}
    )
    assert result.returncode != 0
    assert "must point at PostgreSQL" in result.stderr


def test_development_without_database_url_explains_how_to_get_one():
    result = _import_settings({"DJANGO_DEBUG": "1", "SECRET_KEY": "s"})
    assert result.returncode != 0
    assert "make run" in result.stderr


def test_swedish_stockholm_and_aware_datetimes():
    assert settings.LANGUAGE_CODE == "sv"
    assert ("en", "English") in settings.LANGUAGES
    assert settings.TIME_ZONE == "Europe/Stockholm"
    assert settings.USE_TZ is True
    assert settings.AUTH_USER_MODEL == "core.User"


def test_idle_sessions_expire_after_thirty_minutes():
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    # Activity renews the session (core.sessions), not every request's write.
    assert settings.SESSION_SAVE_EVERY_REQUEST is False


def test_database_is_postgresql():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
