"""Report pages: request a report, watch its run (htmx polling, and a plain refresh link),
download and submit it; write and version the narrative sections (issue 18, item 10); and the
overview of what is due when (issue 18, item 9).

Each view checks the role first (403 for a role that may never see it: `reporting.permissions`),
then finds the object within the user's scope (404, exactly like a missing one:
`reporting.selectors`), then calls one service (`reporting.services`). The API
(`reporting.api.views`) answers the same way, with the same rules.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core.exceptions import Conflict
from core.models import User
from core.permissions import request_user
from reporting import permissions, selectors, services
from reporting.deadlines import DeadlineKind, DeadlineStatus, deadlines_for, matching
from reporting.downloads import download_response
from reporting.forms import NarrativeForm, ReportRequestForm
from reporting.models import ReportKind, ReportRun, RunStatus
from reporting.narratives import SECTIONS
from reporting.runs import is_stuck
from reporting.subjects import Subject

PAGE_SIZE = 25
POLL_SECONDS = 2


# --- Helpers ----------------------------------------------------------------------------------
def _request_form(user: User, data: Any = None) -> ReportRequestForm:
    options = selectors.request_options(user=user)
    return ReportRequestForm(
        data,
        kinds=[(k, label) for k, label in ReportKind.choices if k in options.kinds],
        grants=[(str(g.pk), selectors.grant_label(g)) for g in options.grants],
        centres=[(str(c.pk), c.name) for c in options.centres],
        organisations=[(str(o.pk), o.name) for o in options.organisations],
        initial={"year": timezone.localdate().year - 1},
    )


def _page_urls(request: HttpRequest, page: Page[ReportRun]) -> dict[str, str]:
    def url(number: int) -> str:
        query = request.GET.copy()
        query["page"] = str(number)
        return f"{request.path}?{query.urlencode()}"

    return {
        "previous_url": url(page.previous_page_number()) if page.has_previous() else "",
        "next_url": url(page.next_page_number()) if page.has_next() else "",
    }


def _list_page(request: HttpRequest, form: ReportRequestForm, status: int = 200) -> HttpResponse:
    user = request_user(request)
    visible_kinds = set(permissions.requestable_kinds(user))  # the kinds she sees are these too
    kind = request.GET.get("kind", "")
    year = request.GET.get("year", "")
    runs = selectors.report_runs(
        user=user,
        kind=kind if kind in ReportKind.values else None,
        year=int(year) if year.isdigit() else None,
    )
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "reporting/report_list.html",
        {
            "form": form,
            "runs": list(page.object_list),
            "page": _page_urls(request, page),
            "kind": kind,
            "year": year,
            "kinds": [(k, label) for k, label in ReportKind.choices if k in visible_kinds],
            "narrative_subjects": [
                {
                    "label": s.label,
                    "url": reverse("reporting:narratives", args=[s.kind, s.year, s.pk]),
                }
                for s in selectors.narrative_subjects(user=user)
            ],
        },
        status=status,
    )


def _run_context(user: User, run: ReportRun) -> dict[str, Any]:
    # The submit button is for the role that writes the report's texts, on a done run that is
    # not yet submitted; what still stands in the way is said instead of offering a button
    # that can only be refused.
    state = selectors.submission(user=user, run=run)
    return {
        "run": run,
        "active": run.is_active,
        "poll_seconds": POLL_SECONDS,
        "can_submit": state.can_submit,
        "preliminary": state.preliminary,
        "missing_sections": state.missing_sections,
        "outdated": state.outdated,
        # A failed run, or an active one whose worker is gone (the same request queues it
        # again: reporting.services.report_request).
        "can_retry": run.kind in permissions.requestable_kinds(user)
        and (run.status == RunStatus.FAILED or (run.is_active and is_stuck(run))),
        "narratives_url": (
            reverse(
                "reporting:narratives",
                args=[run.kind, run.year, run.grant_id or run.centre_id],
            )
            if run.kind in SECTIONS
            else ""
        ),
        "subject": Subject.of(run),
    }


def _run_of(user: User, pk: uuid.UUID) -> ReportRun:
    """One of the user's runs, else 404 (exactly like a missing one)."""
    return get_object_or_404(selectors.report_runs(user=user), pk=pk)


# --- Pages ------------------------------------------------------------------------------------
@login_required
@require_safe
def report_list(request: HttpRequest) -> HttpResponse:
    """The user's reports (newest first) and the form to request one."""
    user = request_user(request)
    permissions.require(permissions.works_with_reports(user))
    return _list_page(request, _request_form(user))


@login_required
@require_POST
def report_request_view(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    permissions.require(permissions.works_with_reports(user))
    form = _request_form(user, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            run, created = services.report_request(
                user=user,
                kind=data["kind"],
                year=data["year"],
                grant=data.get("grant") or None,
                centre=data.get("centre") or None,
                organisation=data.get("organisation") or None,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            form.add_error(None, exc.detail)
        else:
            if created:
                messages.success(request, _("Rapporten är beställd."))
            else:
                messages.info(request, _("Rapporten håller redan på att skapas."))
            return redirect("reporting:run", pk=run.pk)
    return _list_page(request, form, status=400)


@login_required
@require_safe
def run_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """A run's state; with htmx (`HX-Request`) only the state region, which polls itself every
    two seconds while the run is queued or running. A log reviewer follows her log extract
    here (and sees no other run)."""
    user = request_user(request)
    permissions.require(permissions.reads_runs(user))
    run = _run_of(user, pk)
    context = _run_context(user, run)
    if request.headers.get("HX-Request") == "true":
        return render(request, "reporting/run_state_partial.html", context)
    return render(request, "reporting/run_detail.html", context)


@login_required
@require_safe
def run_file(request: HttpRequest, pk: uuid.UUID) -> FileResponse:
    user = request_user(request)
    run = _run_of(user, pk)
    if run.status != RunStatus.DONE:
        raise Http404
    return download_response(user, run)


@login_required
@require_POST
def run_submit(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = request_user(request)
    permissions.require(permissions.submits_reports(user))
    run = _run_of(user, pk)
    try:
        _run, changed = services.report_submit(user=user, run=run)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except Conflict as exc:
        messages.error(request, exc.detail)
    else:
        if changed:
            messages.success(request, _("Rapporten är inlämnad och låst."))
    return redirect("reporting:run", pk=run.pk)


@login_required
@require_POST
def run_retry(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Try a report again: the same request (a new run after a failed one; a stuck run is
    queued again)."""
    user = request_user(request)
    permissions.require(permissions.works_with_reports(user))
    run = _run_of(user, pk)
    try:
        new_run, _created = services.report_retry(user=user, run=run)
    except (ValidationError, Conflict) as exc:
        detail = exc.detail if isinstance(exc, Conflict) else " ".join(exc.messages)
        messages.error(request, detail)
        return redirect("reporting:run", pk=run.pk)
    messages.success(request, _("Rapporten är beställd igen."))
    return redirect("reporting:run", pk=new_run.pk)


@login_required
@require_http_methods(["GET", "POST"])
def narratives(request: HttpRequest, kind: str, year: int, pk: uuid.UUID) -> HttpResponse:
    """The written sections of one report: the current text of each, saved as a new version
    (all the changed sections or, when one cannot be saved, none); every version with who
    wrote it and when."""
    user = request_user(request)
    permissions.require(permissions.works_with_reports(user))
    subject = selectors.narrative_subject(user=user, kind=kind, year=year, pk=pk)
    if subject is None:
        raise Http404
    can_write = permissions.may_write_narrative(user, subject)
    frozen = selectors.is_submitted(subject)
    current = {s: v.text for s, v in selectors.current_narratives(subject).items()}
    if request.method == "POST" and not can_write:
        raise PermissionDenied  # finance reads the texts; CBHV or the centre manager writes
    form = NarrativeForm(
        request.POST if request.method == "POST" else None,
        sections=subject.sections,
        current=current,
        disabled=not can_write or frozen,
    )
    if request.method == "POST" and frozen:
        form.add_error(None, _("Rapporten är inlämnad; texterna kan inte ändras."))
    elif request.method == "POST" and form.is_valid():
        try:
            added = services.narrative_save(
                user=user,
                subject=subject,
                texts={key: form.cleaned_data[key] for key in form.changed_data},
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            form.add_error(None, exc.detail)
        else:
            if added:
                messages.success(request, _("Texterna är sparade som en ny version."))
            else:
                messages.info(request, _("Inget ändrades."))
            return redirect(request.path)
    headings = dict(subject.sections)
    runs_url = reverse("reporting:list") + "?" + urlencode({"kind": kind, "year": str(year)})
    return render(
        request,
        "reporting/narratives.html",
        {
            "subject": subject,
            "form": form,
            "can_write": can_write and not frozen,
            "frozen": frozen,
            "versions": [
                {"version": v, "heading": headings.get(v.section, v.section)}
                for v in selectors.narrative_versions(subject)
            ],
            "runs_url": runs_url,
        },
        status=(409 if frozen else 400) if form.errors else 200,
    )


@login_required
@require_safe
def deadline_overview(request: HttpRequest) -> HttpResponse:
    """Every report due in the user's organisations, by due date, overdue ones said in words
    (CBHV and finance; the same deadlines as `GET /api/v1/deadlines/`)."""
    user = request_user(request)
    permissions.require(permissions.sees_deadlines(user))
    today = timezone.localdate()
    deadlines = deadlines_for(user, today)
    counts = Counter(d.status for d in deadlines)
    status = request.GET.get("status", "")
    kind = request.GET.get("kind", "")
    query = {
        **({"status": status} if status in DeadlineStatus.values else {}),
        **({"kind": kind} if kind in DeadlineKind.values else {}),
    }
    labels = dict(DeadlineStatus.choices)
    rows = [
        {
            "deadline": d,
            # A use-by date is settled by closing the grant, not by a report.
            "status_label": (
                _("Bidraget stängt")
                if d.is_submitted and d.kind == DeadlineKind.USE_BY
                else labels[d.status]
            ),
            "days_left": d.days_left(today),
            "days_overdue": -d.days_left(today),
            "report_url": reverse("reporting:run", args=[d.report]) if d.report else "",
        }
        for d in matching(deadlines, status=query.get("status"), kind=query.get("kind"))
    ]
    return render(
        request,
        "reporting/deadlines.html",
        {
            "rows": rows,
            "today": today,
            "overdue_count": counts[DeadlineStatus.OVERDUE],
            "open_count": counts[DeadlineStatus.OPEN],
            "status": query.get("status", ""),
            "kind": query.get("kind", ""),
            "statuses": DeadlineStatus.choices,
            "kinds": DeadlineKind.choices,
            "filtered": bool(query),
        },
    )
