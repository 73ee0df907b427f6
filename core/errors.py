"""handler500 (config/urls.py): a database outage is a 503, never an HTML 500 (issue 25, item 3).

Django sends every exception a view (or a middleware: session load, authentication) did not
handle here. When the database is unavailable (OperationalError, InterfaceError, a pool that
gave no connection in time) the answer is 503 with `Retry-After`: JSON under /api/ (integrators
parse it, API.md), elsewhere a plain page that needs neither the database nor the request's
context (no user, no menu, no context processors: they would query the database that is gone).
Anything else keeps Django's 500 page, or JSON under /api/ (DRF re-raises exceptions that are
not its own, which then land here). /healthz answers its own 503 and never comes here.
"""

from __future__ import annotations

import sys

import psycopg
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.templatetags.static import static
from django.views.defaults import server_error as django_server_error

# psycopg's own error too: a pool timeout (psycopg_pool.PoolTimeout) can escape Django's wrapper.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, psycopg.OperationalError)
RETRY_AFTER_SECONDS = 30
UNAVAILABLE_DETAIL = "Tjänsten är tillfälligt otillgänglig. Försök igen om en stund."
SERVER_ERROR_DETAIL = "Ett fel uppstod på servern."


def _stylesheet() -> str:
    """The site's stylesheet URL, or "" when the static files' manifest lacks it (the page
    must render whatever else is broken)."""
    try:
        return static("css/app.css")
    except ValueError:
        return ""


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]
    is_api = request.path.startswith("/api/")
    if isinstance(exc, DATABASE_UNAVAILABLE):
        response: HttpResponse
        if is_api:
            response = JsonResponse({"detail": UNAVAILABLE_DETAIL}, status=503)
        else:
            # Rendered without the request: no context processors, no database.
            html = loader.get_template("503.html").render({"stylesheet": _stylesheet()})
            response = HttpResponse(html, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if is_api:
        return JsonResponse({"detail": SERVER_ERROR_DETAIL}, status=500)
    return django_server_error(request)
