"""Application pages: the centre's application (form, page, submit, withdraw), CBHV's inbox and
decisions, the list, and the start-page sections (DOMAIN.md 4.2).

Each view checks the role first (403 for a role that may never do this), then finds the object
within the user's scope (404, exactly like a missing one), parses the form, calls the service
and redirects with a message, or renders. A wrong state is the service's Conflict, shown as a
message on the application's page. Who may act and whether a centre may apply are the
selectors' (`funding.selectors`); no page here shows child data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core.exceptions import Conflict
from core.models import Centre, Role, User
from core.permissions import request_user as _user
from core.permissions import require_role as _require_role
from funding import selectors
from funding.applications import (
    EDITABLE,
    WITHDRAWABLE,
    Plan,
    application_approve,
    application_reject,
    application_request_changes,
    application_save,
    application_submit,
    application_withdraw,
)
from funding.forms.applications import (
    ApplicationForm,
    ApproveForm,
    RejectForm,
    RequestChangesForm,
)
from funding.models import Application, ApplicationStatus, TransitionKind
from funding.selectors import Eligibility, EligibilityLookup

S = ApplicationStatus
GET_POST = require_http_methods(["GET", "POST"])
STAFF_ROLES = (Role.NURSE, Role.CENTRE_MANAGER)
# Everyone who reads applications (ApplicationQuerySet.for_user).
READER_ROLES = (Role.NURSE, Role.CENTRE_MANAGER, Role.CBHV, Role.FINANCE, Role.ADMIN)
YEARS_AHEAD = 2  # applications for this year and the next two


# --- Helpers ----------------------------------------------------------------------------------
def _get_application_for_user(user: User, pk: uuid.UUID) -> Application:
    return get_object_or_404(
        selectors.applications_for(user=user).select_related(
            "centre__organisation", "created_by", "submitted_by", "decided_by"
        ),
        pk=pk,
    )


def _cni_text(value: Any) -> str:
    return "–" if value is None else number_format(value, 2)


def _ineligible_message(eligibility: Eligibility) -> str:
    if eligibility.cni is None:
        return _(
            "Ansökan kan inte skickas in: BVC:n har inget barn-CNI registrerat. "
            "Barn-CNI måste vara över tröskeln %(threshold)s för %(year)s."
        ) % {"threshold": _cni_text(eligibility.threshold), "year": eligibility.year}
    return _(
        "Ansökan kan inte skickas in: BVC:ns barn-CNI är %(cni)s, och det måste vara över "
        "tröskeln %(threshold)s för %(year)s."
    ) % {
        "cni": _cni_text(eligibility.cni.value),
        "threshold": _cni_text(eligibility.threshold),
        "year": eligibility.year,
    }


def _next_url(request: HttpRequest, default: str) -> str:
    url = request.POST.get("next", "")
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


def _slot_names(application: Application, choices: list[tuple[str, str]]) -> list[str]:
    labels = dict(choices)
    return [labels.get(key, key) for key in application.planned_slots]


def _plan_initial(application: Application) -> dict[str, Any]:
    initial: dict[str, Any] = vars(Plan.of(application))
    initial["social_services_contacted"] = (
        "true" if application.social_services_contacted else "false"
    )
    return initial


# --- The application form (centre staff) ------------------------------------------------------
def _eligibility_context(centre: Centre, years: Iterable[int]) -> dict[str, Any]:
    """The centre's current child CNI and, per year, whether it may apply (two queries)."""
    lookup = EligibilityLookup([centre])
    rows = [lookup.of(centre, year) for year in years]
    return {
        "cni": lookup.current_cni(centre),
        "eligibility": rows,
        "not_eligible": not any(row.eligible for row in rows),
    }


def _save(
    user: User,
    form: ApplicationForm,
    *,
    centre: Centre,
    application: Application | None,
    submit: bool,
) -> Application | None:
    """Save the plan and, with "Skicka in", submit it (`application_save`, all or nothing).
    Errors go onto the form."""
    year = application.year if application else form.cleaned_data["year"]
    try:
        saved = application_save(
            user=user,
            centre=centre,
            year=year,
            application=application,
            plan=form.plan(),
            submit=submit,
        )
    except ValidationError as exc:
        if "centre" in getattr(exc, "error_dict", {}):  # not eligible: say why, with the year
            eligibility = selectors.centre_eligibility(centre, year)
            exc = ValidationError(_ineligible_message(eligibility))
        form.add_service_errors(exc)
        return None
    except Conflict as exc:
        if application is None:
            form.add_error("year", exc.detail)
        else:
            form.add_error(None, exc.detail)
        return None
    return saved


def _saved_message(application: Application) -> str:
    if application.status == S.SUBMITTED:
        return _("Ansökan för %(year)s är inskickad till CBHV.") % {"year": application.year}
    return _("Utkastet för %(year)s är sparat. Det är inte inskickat än.") % {
        "year": application.year
    }


@login_required
@require_safe
def application_start(request: HttpRequest) -> HttpResponse:
    """The "Ny ansökan" button: straight to the form of the user's centre, or a choice among
    several."""
    user = _user(request)
    _require_role(user, *STAFF_ROLES)
    centres = list(selectors.centres_staffed_by(user=user))
    if len(centres) == 1:
        return redirect("funding:application_create", centre_pk=centres[0].pk)
    return render(request, "funding/application_start.html", {"centres": centres})


@login_required
@GET_POST
def application_create_view(request: HttpRequest, centre_pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *STAFF_ROLES)
    centre = get_object_or_404(selectors.centres_for(user=user), pk=centre_pk)
    if not selectors.is_centre_staff(user=user, centre_id=centre.pk):
        raise PermissionDenied
    this_year = timezone.localdate().year
    taken = selectors.years_applied(centre=centre)
    years = [y for y in range(this_year, this_year + YEARS_AHEAD + 1) if y not in taken]
    wanted = request.GET.get("year", "")
    initial_year = int(wanted) if wanted.isdigit() and int(wanted) in years else None
    data = request.POST if request.method == "POST" else None
    form = ApplicationForm(
        data,
        years=[(y, str(y)) for y in years],
        slots=selectors.programme_slots(organisation_id=centre.organisation_id),
        initial={"year": initial_year or (years[0] if years else None), "programme": "full"},
    )
    if years and form.is_valid():
        saved = _save(
            user,
            form,
            centre=centre,
            application=None,
            submit=request.POST.get("action") == "submit",
        )
        if saved is not None:
            messages.success(request, _saved_message(saved))
            return redirect("funding:application", pk=saved.pk)
    return render(
        request,
        "funding/application_form.html",
        {
            "form": form,
            "centre": centre,
            "application": None,
            **_eligibility_context(centre, years or [this_year]),
            "no_years": not years,
        },
    )


@login_required
@GET_POST
def application_edit(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *STAFF_ROLES)
    application = _get_application_for_user(user, pk)
    if not selectors.is_centre_staff(user=user, centre_id=application.centre_id):
        raise PermissionDenied
    if application.status not in EDITABLE:
        messages.error(
            request,
            _("Ansökan är %(status)s och kan inte ändras.")
            % {"status": application.get_status_display().lower()},
        )
        return redirect("funding:application", pk=application.pk)
    data = request.POST if request.method == "POST" else None
    form = ApplicationForm(
        data,
        slots=selectors.programme_slots(organisation_id=application.centre.organisation_id),
        initial=_plan_initial(application),
    )
    if form.is_valid():
        saved = _save(
            user,
            form,
            centre=application.centre,
            application=application,
            submit=request.POST.get("action") == "submit",
        )
        if saved is not None:
            messages.success(request, _saved_message(saved))
            return redirect("funding:application", pk=saved.pk)
    return render(
        request,
        "funding/application_form.html",
        {
            "form": form,
            "centre": application.centre,
            "application": application,
            **_eligibility_context(application.centre, [application.year]),
        },
    )


# --- The application page and its actions -------------------------------------------------------
def _auto_id(application: Application) -> str:
    return f"d{application.pk.hex[:8]}_%s"


def _decision_forms(application: Application, **bound: Any) -> dict[str, Any]:
    """The three decision forms, ids unique per application (the inbox shows several)."""
    auto_id = _auto_id(application)
    return {
        "approve_form": bound.get("approve_form") or ApproveForm(auto_id=auto_id),
        "request_changes_form": bound.get("request_changes_form")
        or RequestChangesForm(auto_id=auto_id),
        "reject_form": bound.get("reject_form") or RejectForm(auto_id=auto_id),
    }


def _can_decide(user: User, application: Application) -> bool:
    return application.status == S.SUBMITTED and selectors.may_decide(
        user=user, application=application
    )


def _render_application(
    request: HttpRequest, application: Application, *, status: int = 200, **bound: Any
) -> HttpResponse:
    user = _user(request)
    staff = selectors.is_centre_staff(user=user, centre_id=application.centre_id)
    eligibility = selectors.centre_eligibility(application.centre, application.year)
    transitions = list(application.transitions.select_related("by"))
    context: dict[str, Any] = {
        "application": application,
        "transitions": transitions,
        "change_request": next(
            (t for t in reversed(transitions) if t.kind == TransitionKind.CHANGES_REQUESTED), None
        )
        if application.status == S.CHANGES_REQUESTED
        else None,
        "staff": staff,
        "can_edit": staff and application.status in EDITABLE,
        "can_withdraw": staff and application.status in WITHDRAWABLE,
        "can_decide": _can_decide(user, application),
        "cni": eligibility.cni,
        # Only the centre's staff, while they can still submit, are told whether they may.
        "eligibility": eligibility if staff and application.status in EDITABLE else None,
        "slot_names": _slot_names(
            application,
            selectors.programme_slots(organisation_id=application.centre.organisation_id),
        )
        if application.planned_slots
        else [],
        **_decision_forms(application, **bound),
    }
    return render(request, "funding/application_detail.html", context, status=status)


@login_required
@require_safe
def application_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *READER_ROLES)
    return _render_application(request, _get_application_for_user(user, pk))


def _conflict(request: HttpRequest, application: Application, exc: Conflict) -> HttpResponse:
    messages.error(request, exc.detail)
    return redirect("funding:application", pk=application.pk)


def _staff_application(request: HttpRequest, pk: uuid.UUID) -> Application:
    user = _user(request)
    _require_role(user, *STAFF_ROLES)
    application = _get_application_for_user(user, pk)
    if not selectors.is_centre_staff(user=user, centre_id=application.centre_id):
        raise PermissionDenied
    return application


@login_required
@require_POST
def application_submit_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    application = _staff_application(request, pk)
    try:
        submitted = application_submit(user=_user(request), application=application)
    except Conflict as exc:
        return _conflict(request, application, exc)
    except ValidationError:
        eligibility = selectors.centre_eligibility(application.centre, application.year)
        messages.error(request, _ineligible_message(eligibility))
        return redirect("funding:application", pk=application.pk)
    messages.success(request, _saved_message(submitted))
    return redirect("funding:application", pk=application.pk)


@login_required
@require_POST
def application_withdraw_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    application = _staff_application(request, pk)
    try:
        application_withdraw(user=_user(request), application=application)
    except Conflict as exc:
        return _conflict(request, application, exc)
    messages.success(request, _("Ansökan för %(year)s är återtagen.") % {"year": application.year})
    return redirect("funding:application", pk=application.pk)


def _decision_application(request: HttpRequest, pk: uuid.UUID) -> Application:
    user = _user(request)
    _require_role(user, Role.CBHV)
    return _get_application_for_user(user, pk)


def _decided(request: HttpRequest, application: Application, message: str) -> HttpResponse:
    messages.success(request, message)
    default = reverse("funding:application", args=[application.pk])
    return redirect(_next_url(request, default))


def _names(application: Application) -> dict[str, object]:
    return {"centre": application.centre.name, "year": application.year}


@login_required
@require_POST
def application_request_changes_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    application = _decision_application(request, pk)
    form = RequestChangesForm(request.POST, auto_id=_auto_id(application))
    if form.is_valid():
        try:
            application_request_changes(
                user=_user(request), application=application, comment=form.cleaned_data["comment"]
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            return _conflict(request, application, exc)
        else:
            return _decided(
                request,
                application,
                _("Komplettering är begärd av %(centre)s för %(year)s.") % _names(application),
            )
    return _render_application(request, application, request_changes_form=form)


@login_required
@require_POST
def application_approve_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    application = _decision_application(request, pk)
    form = ApproveForm(request.POST, auto_id=_auto_id(application))
    if form.is_valid():
        try:
            approved = application_approve(
                user=_user(request),
                application=application,
                comment=form.cleaned_data["comment"],
                effective_from=form.cleaned_data["effective_from"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            return _conflict(request, application, exc)
        else:
            assert approved.effective_from is not None
            return _decided(
                request,
                application,
                _("Ansökan från %(centre)s för %(year)s är beviljad från %(date)s.")
                % {**_names(application), "date": approved.effective_from.isoformat()},
            )
    return _render_application(request, application, approve_form=form)


@login_required
@require_POST
def application_reject_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    application = _decision_application(request, pk)
    form = RejectForm(request.POST, auto_id=_auto_id(application))
    if form.is_valid():
        try:
            application_reject(
                user=_user(request), application=application, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            return _conflict(request, application, exc)
        else:
            return _decided(
                request,
                application,
                _("Ansökan från %(centre)s för %(year)s är avslagen.") % _names(application),
            )
    return _render_application(request, application, reject_form=form)


# --- Lists ----------------------------------------------------------------------------------------
@login_required
@require_safe
def application_list(request: HttpRequest) -> HttpResponse:
    """The applications the user may read: her centre's, or all of the organisation's."""
    user = _user(request)
    _require_role(user, *READER_ROLES)
    qs = selectors.applications_for(user=user).select_related("centre", "decided_by")
    years = sorted(set(qs.values_list("year", flat=True)), reverse=True)
    year = request.GET.get("year", "")
    if year.isdigit():
        qs = qs.filter(year=int(year))
    status = request.GET.get("status", "")
    if status in S.values:
        qs = qs.filter(status=status)
    return render(
        request,
        "funding/application_list.html",
        {
            "applications": list(qs.order_by("-year", "centre__name")),
            "years": years,
            "year": year,
            "status": status,
            "statuses": S.choices,
            "staff": user.scope.has_role(*STAFF_ROLES),
            "cbhv": user.scope.has_role(Role.CBHV),
        },
    )


@login_required
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    """CBHV's inbox: the organisation's submitted applications, oldest first, each with its
    centre's child CNI against the threshold, the plan and the history, and the decisions."""
    user = _user(request)
    _require_role(user, Role.CBHV)
    applications = selectors.inbox_applications(user=user)
    eligibility = EligibilityLookup(a.centre for a in applications)
    slots = {
        org_id: selectors.programme_slots(organisation_id=org_id)
        for org_id in {a.centre.organisation_id for a in applications if a.planned_slots}
    }
    rows = [
        {
            "application": application,
            "eligibility": eligibility.of(application.centre, application.year),
            "slot_names": _slot_names(
                application, slots.get(application.centre.organisation_id, [])
            ),
            # Her own applications are shown, not decidable (selectors.is_own_application).
            "can_decide": not application.is_own,  # type: ignore[attr-defined]
            **_decision_forms(application),
        }
        for application in applications
    ]
    return render(request, "funding/inbox.html", {"rows": rows})


# --- Start-page sections --------------------------------------------------------------------------
INBOX_SECTION_ROWS = 10


def inbox_section(request: HttpRequest) -> dict[str, Any] | None:
    """CBHV's "Ansökningar att besluta": the submitted applications, oldest first (1–2 queries)."""
    user = _user(request)
    if not user.scope.has_role(Role.CBHV):
        return None
    qs = selectors.applications_to_decide(user=user)
    rows = list(qs.select_related("centre")[: INBOX_SECTION_ROWS + 1])
    count = len(rows) if len(rows) <= INBOX_SECTION_ROWS else qs.count()
    return {"applications": rows[:INBOX_SECTION_ROWS], "count": count}


def centre_applications_section(request: HttpRequest) -> dict[str, Any] | None:
    """The centre's applications for this year and the next, with the latest decision or request
    for changes, so that news from CBHV is seen where the day starts (2 queries)."""
    user = _user(request)
    if not user.scope.has_role(*STAFF_ROLES):
        return None
    year = timezone.localdate().year
    years = [year, year + 1]
    centres = list(selectors.centres_staffed_by(user=user).order_by("name"))
    applications = selectors.staff_applications(user=user, years=years)
    by_key = {(a.centre_id, a.year): a for a in applications}
    labels = dict(TransitionKind.choices)
    groups = []
    for centre in centres:
        entries = []
        for y in years:
            application = by_key.get((centre.pk, y))
            decision = None
            a: Any = application
            if a is not None and a.last_kind:
                decision = {
                    "label": labels.get(a.last_kind, a.last_kind),
                    "comment": a.last_comment,
                    "at": a.last_at,
                    "by": f"{a.last_by_first} {a.last_by_last}".strip() or a.last_by_username,
                }
            entries.append({"year": y, "application": application, "decision": decision})
        groups.append({"centre": centre, "entries": entries})
    return {"groups": groups, "years": years}
