from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.defaults import page_not_found

from core.home import sections_for


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The start page: what each role does first. Later issues fill it per role (the nurse's
    worklist, the CBHV inbox, finance's grants)."""
    sections = sections_for(request, request.user.scope.roles())  # type: ignore[union-attr]
    return render(request, "core/home.html", {"sections": sections})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404: JSON under /api/ (integrators parse it), the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Hittades inte."}, status=404)
    return page_not_found(request, exception or Exception())
