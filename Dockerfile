# Production image for Hembesök: web (gunicorn), Celery worker and beat all run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a source change does not reinstall them. pyproject.toml declares no
# packages (`packages = []`): `pip install .` installs the pinned dependencies only, no dev extras.
COPY pyproject.toml ./
RUN pip install --no-cache-dir . && rm -rf build *.egg-info

COPY . .

# Collect static files with production settings (DEBUG off), so whitenoise's manifest
# (staticfiles.json) exists; the values are placeholders, nothing connects at build time.
RUN DJANGO_DEBUG=0 \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    DATABASE_URL=postgres://x@localhost/x \
    REDIS_URL=redis://localhost:6379/0 \
    ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput

# Non-root user. The private report store is created here and owned by that user, so a fresh
# named volume mounted on it inherits the ownership.
RUN useradd --system --no-create-home --shell /usr/sbin/nologin hembesok \
    && mkdir -p /var/lib/hembesok/reports \
    && chown -R hembesok:hembesok /var/lib/hembesok
USER hembesok

EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000"]
