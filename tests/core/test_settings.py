import os
import subprocess
import sys
from pathlib import Path

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


def test_production_settings_load_with_all_values():
    result = _import_settings(
        {
            "SECRET_KEY": "s",
            "DATABASE_URL": "postgres://u@h/db",
            "REDIS_URL": "redis://h:6379/0",
            "ALLOWED_HOSTS": "hembesok.example.org",
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
    assert settings.SESSION_SAVE_EVERY_REQUEST is True


def test_database_is_postgresql():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
