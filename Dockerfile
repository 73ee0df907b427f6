# Production image for Hembesök: web (gunicorn), Celery worker and beat all run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# WeasyPrint (the worker renders report PDFs) loads Pango, HarfBuzz and fontconfig through cffi
# at import time; without them `import weasyprint` fails. DejaVu has the Swedish glyphs (åäö).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz0b \
        libharfbuzz-subset0 \
        libfontconfig1 \
        fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, so a source change does not reinstall them: exactly the lock file's
# versions, each checked against its hash (requirements/production.txt, made by `make lock` from
# pyproject.toml's pins; no dev extras, no embedded PostgreSQL).
COPY requirements/production.txt requirements/production.txt
RUN pip install --no-cache-dir --require-hashes -r requirements/production.txt

# A broken image fails to build: WeasyPrint must find its libraries and render Swedish text.
RUN python -c "import weasyprint; weasyprint.HTML(string='<p>åäö</p>').write_pdf()"

COPY . .

# Collect static files with production settings (DEBUG off), so whitenoise's manifest
# (staticfiles.json) exists; the values are placeholders, nothing connects at build time.
RUN DJANGO_DEBUG=0 \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    ACCESS_LOG_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    SITE_URL=https://localhost \
    DATABASE_URL=postgres://x@localhost/x \
    REDIS_URL=redis://localhost:6379/0 \
    ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput

# Non-root user. The private report store and the store of uploaded journal exports are created
# here and owned by that user, so a fresh named volume mounted on either inherits the ownership.
RUN useradd --system --no-create-home --shell /usr/sbin/nologin hembesok \
    && mkdir -p /var/lib/hembesok/reports /var/lib/hembesok/imports \
    && chown -R hembesok:hembesok /var/lib/hembesok
USER hembesok

EXPOSE 8000
# Workers, timeouts and the access log: config/gunicorn.conf.py.
CMD ["gunicorn", "--config", "config/gunicorn.conf.py", "config.wsgi:application"]
