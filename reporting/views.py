"""Report pages: request a report, watch its run (htmx polling, and a plain refresh link),
download and submit it; write and version the narrative sections (issue 18, item 10).

Each view checks the role first (403 for a role that may never see reports), then finds the
object within the user's scope (404, exactly like a missing one), then calls one service. The
rules are in `reporting.services`; the API (`reporting.api.views`) answers the same way.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core.dates import MAX_YEAR, MIN_YEAR
from core.exceptions import Conflict
from core.models import Organisation, Role, User
from core.permissions import request_user as _user
from core.permissions import require_role as _require_role
from funding.models import Application, Grant
from reporting import services, storage
from reporting.forms import NarrativeForm, ReportRequestForm
from reporting.models import CENTRE_KINDS, GRANT_KINDS, ReportKind, ReportRun, RunStatus
from reporting.narratives import SECTIONS
from reporting.services import Subject
from visits.access_log import log_without_patient

PAGE_SIZE = 25
POLL_SECONDS = 2


# --- Shared with the API ----------------------------------------------------------------------
def download_name(run: ReportRun) -> str:
    """kind, year and the grant's reference or the centre's name: never a person."""
    parts = [run.kind.replace("_", "-"), str(run.year)]
    if run.grant is not None:
        parts.append(slugify(run.grant.reference))
    elif run.centre is not None:
        parts.append(slugify(run.centre.name))
    extension = run.file_name.rsplit(".", 1)[-1] if "." in run.file_name else "bin"
    return "-".join(p for p in parts if p) + "." + extension


def download_response(user: User, run: ReportRun) -> FileResponse:
    """The run's file as an attachment, not cached, not sniffed; the download is logged
    (without a patient: reports hold aggregates). The caller has checked the user's scope."""
    try:
        handle = open(storage.path_of(run.file_name), "rb")  # noqa: SIM115 - FileResponse closes it
    except FileNotFoundError as exc:  # the store was lost or is not shared with the worker
        raise Http404 from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=download_name(run),
        content_type=run.content_type or "application/octet-stream",
    )
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    log_without_patient(user=user, action="export", what=f"report {run.pk.hex}")
    return response


def visible_runs(user: User) -> QuerySet[ReportRun]:
    return services.runs_for_user(user).select_related(
        "organisation", "grant", "centre", "requested_by", "submitted_by"
    )


# --- Helpers ----------------------------------------------------------------------------------
def _grant_label(grant: Grant) -> str:
    return f"{grant.get_funder_display()} {grant.reference} ({grant.year})"


def _request_form(user: User, data: Any = None) -> ReportRequestForm:
    kinds = set(services.requestable_kinds(user))
    scope = user.scope
    org_ids = scope.organisation_ids(*services.ORGANISATION_ROLES)
    grants = (
        Grant.objects.for_user(user).order_by("-year", "funder", "reference") if org_ids else []
    )
    centres = services.centres_for_requests(user).order_by("name")
    organisations = Organisation.objects.filter(pk__in=org_ids).order_by("name")
    return ReportRequestForm(
        data,
        kinds=[(k, label) for k, label in ReportKind.choices if k in kinds],
        grants=[(str(g.pk), _grant_label(g)) for g in grants],
        centres=[(str(c.pk), c.name) for c in centres],
        organisations=[(str(o.pk), o.name) for o in organisations],
        initial={"year": timezone.localdate().year - 1},
    )


def _narrative_subjects(user: User) -> list[dict[str, Any]]:
    """The reports whose texts the user writes or reads, with a link each (two queries)."""
    scope = user.scope
    rows: list[dict[str, Any]] = []
    grants = (
        Grant.objects.for_user(user)
        .filter(funder__in=list(services.KIND_FUNDER.values()))
        .order_by("-year", "reference")
    )
    kind_of: dict[str, ReportKind] = {
        str(funder): kind for kind, funder in services.KIND_FUNDER.items()
    }
    for grant in grants:
        kind = kind_of[grant.funder]
        rows.append(
            {
                "label": f"{ReportKind(kind).label}: {_grant_label(grant)}",
                "url": reverse("reporting:narratives", args=[kind, grant.year, grant.pk]),
            }
        )
    applications = (
        Application.objects.filter(
            Q(centre__organisation_id__in=scope.organisation_ids(*services.ORGANISATION_ROLES))
            | Q(centre_id__in=scope.centre_ids(Role.CENTRE_MANAGER))
        )
        .fixed_in_year()
        .select_related("centre")
        .order_by("-year", "centre__name")
    )
    for application in applications:
        rows.append(
            {
                "label": f"{ReportKind.HALSOVAL.label}: {application.centre.name} "
                f"{application.year}",
                "url": reverse(
                    "reporting:narratives",
                    args=[ReportKind.HALSOVAL, application.year, application.centre_id],
                ),
            }
        )
    return rows


def _page_urls(request: HttpRequest, page: Any) -> dict[str, str]:
    def url(number: int) -> str:
        query = request.GET.copy()
        query["page"] = str(number)
        return f"{request.path}?{query.urlencode()}"

    return {
        "previous_url": url(page.previous_page_number()) if page.has_previous() else "",
        "next_url": url(page.next_page_number()) if page.has_next() else "",
    }


def _list_page(request: HttpRequest, form: ReportRequestForm, status: int = 200) -> HttpResponse:
    user = _user(request)
    visible_kinds = set(services.requestable_kinds(user))  # the kinds she sees are these too
    runs = visible_runs(user).order_by("-created_at", "-id")
    kind = request.GET.get("kind", "")
    if kind in ReportKind.values:
        runs = runs.filter(kind=kind)
    year = request.GET.get("year", "")
    if year.isdigit():
        runs = runs.filter(year=int(year))
    paginator = Paginator(runs, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
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
            "narrative_subjects": _narrative_subjects(user),
        },
        status=status,
    )


def _run_context(user: User, run: ReportRun) -> dict[str, Any]:
    subject = Subject.of(run)
    # The submit button is for the role that writes the report's texts, on a done run that is
    # not yet submitted; what still stands in the way (the period, empty sections, a file made
    # before either was settled) is said instead of offering a button that can only be refused.
    may_submit = (
        run.status == RunStatus.DONE and run.submitted_at is None and services.may_submit(user, run)
    )
    preliminary = (
        services.preliminary_reason(subject)
        if run.kind in services.SUBMITTABLE_KINDS and run.submitted_at is None
        else ""
    )
    missing: list[str] = []
    outdated = ""
    if may_submit:
        current = services.current_narratives(subject)
        missing = services.missing_sections(subject, current)
        if not (preliminary or missing):
            outdated = services.outdated_reason(run, current)
    return {
        "run": run,
        "active": run.is_active,
        "poll_seconds": POLL_SECONDS,
        "can_submit": may_submit and not (preliminary or missing or outdated),
        "preliminary": preliminary,
        "missing_sections": missing,
        "outdated": outdated,
        "can_retry": run.status == RunStatus.FAILED
        and run.kind in services.requestable_kinds(user),
        "narratives_url": (
            reverse(
                "reporting:narratives",
                args=[run.kind, run.year, run.grant_id or run.centre_id],
            )
            if run.kind in SECTIONS
            else ""
        ),
        "subject": subject,
    }


def _subject_for_page(user: User, kind: str, year: int, pk: uuid.UUID) -> Subject:
    """The narrative page's subject, within the user's scope (404 otherwise)."""
    if kind not in SECTIONS or not MIN_YEAR <= year <= MAX_YEAR:
        raise Http404
    if kind in GRANT_KINDS:
        grant = get_object_or_404(
            Grant.objects.for_user(user).select_related("organisation"), pk=pk, year=year
        )
        if grant.funder != services.KIND_FUNDER.get(ReportKind(kind)):
            raise Http404
        subject = Subject(kind, grant.organisation, year, grant=grant)
    elif kind in CENTRE_KINDS:
        centre = get_object_or_404(
            services.centres_for_requests(user).select_related("organisation"), pk=pk
        )
        if not services.has_fixed_compensation_in(centre, year):
            raise Http404  # no fixed compensation that year: no account to write
        subject = Subject(kind, centre.organisation, year, centre=centre)
    else:  # pragma: no cover - every kind with sections is a grant or centre kind
        raise Http404
    if not services.may_read_subject(user, subject):
        raise Http404
    return subject


# --- Pages ------------------------------------------------------------------------------------
@login_required
@require_safe
def report_list(request: HttpRequest) -> HttpResponse:
    """The user's reports (newest first) and the form to request one."""
    user = _user(request)
    _require_role(user, *services.REPORT_ROLES)
    return _list_page(request, _request_form(user))


@login_required
@require_POST
def report_request_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require_role(user, *services.REPORT_ROLES)
    form = _request_form(user, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            run, created = services.report_request(
                user,
                data["kind"],
                data["year"],
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
    two seconds while the run is queued or running."""
    user = _user(request)
    _require_role(user, *services.REPORT_ROLES)
    run = get_object_or_404(visible_runs(user), pk=pk)
    context = _run_context(user, run)
    if request.headers.get("HX-Request") == "true":
        return render(request, "reporting/run_state_partial.html", context)
    return render(request, "reporting/run_detail.html", context)


@login_required
@require_safe
def run_file(request: HttpRequest, pk: uuid.UUID) -> FileResponse:
    user = _user(request)
    run = get_object_or_404(visible_runs(user), pk=pk)
    if run.status != RunStatus.DONE:
        raise Http404
    return download_response(user, run)


@login_required
@require_POST
def run_submit(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *services.SUBMIT_ROLES)
    run = get_object_or_404(visible_runs(user), pk=pk)
    try:
        _run, changed = services.report_submit(user, run)
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
    """Try a failed report again: a new run of the same request."""
    user = _user(request)
    _require_role(user, *services.REPORT_ROLES)
    run = get_object_or_404(visible_runs(user), pk=pk)
    try:
        new_run, _created = services.report_retry(user, run)
    except (ValidationError, Conflict) as exc:
        detail = exc.detail if isinstance(exc, Conflict) else " ".join(exc.messages)
        messages.error(request, detail)
        return redirect("reporting:run", pk=run.pk)
    messages.success(request, _("Rapporten är beställd igen."))
    return redirect("reporting:run", pk=new_run.pk)


@login_required
@require_http_methods(["GET", "POST"])
def narratives(request: HttpRequest, kind: str, year: int, pk: uuid.UUID) -> HttpResponse:
    """The written sections of one report: the current text of each, saved as a new version;
    every version with who wrote it and when."""
    user = _user(request)
    _require_role(user, *services.REPORT_ROLES)
    subject = _subject_for_page(user, kind, year, pk)
    can_write = services.may_write_narrative(user, subject)
    frozen = services.is_submitted(subject)
    current = {s: v.text for s, v in services.current_narratives(subject).items()}
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
        saved = 0
        try:
            for key in form.changed_data:
                _version, created = services.narrative_save(
                    user,
                    kind=subject.kind,
                    organisation=subject.organisation,
                    year=subject.year,
                    grant=subject.grant,
                    centre=subject.centre,
                    section=key,
                    text=form.cleaned_data[key],
                )
                saved += int(created)
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            form.add_error(None, exc.detail)
        else:
            if saved:
                messages.success(request, _("Texterna är sparade som en ny version."))
            else:
                messages.info(request, _("Inget ändrades."))
            return redirect(request.path)
    versions = list(services.narrative_versions(subject))
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
                {"version": v, "heading": headings.get(v.section, v.section)} for v in versions
            ],
            "runs_url": runs_url,
        },
        status=(409 if frozen else 400) if form.errors else 200,
    )
