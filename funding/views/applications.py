"""Fixed-compensation pages: the centre's application, the CBHV inbox and decisions, the centre's
page (status per year, CNI history), the yearly scheme and the CNI import (DOMAIN.md 4.2).

Each view checks the role first (403 for a role that may never do this), then finds the object
within the user's scope (404, exactly like a missing one), parses the form, calls the service
and redirects with a message, or renders. A wrong state is the service's Conflict, shown as a
message on the application's page. No page here shows child data.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core.exceptions import Conflict
from core.models import Centre, Organisation, Role, User
from core.money import ZERO
from core.permissions import request_user as _user
from core.permissions import require_role as _require_role
from funding import cni_import, compensation
from funding.forms.applications import (
    ApplicationForm,
    ApproveForm,
    CniImportForm,
    RejectForm,
    RequestChangesForm,
    SchemeForm,
)
from funding.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
    CniValue,
    FixedCompensationScheme,
    SchemesInForce,
    TransitionKind,
)
from funding.services import (
    DEFAULT_THRESHOLD,
    Eligibility,
    application_approve,
    application_create,
    application_reject,
    application_request_changes,
    application_submit,
    application_update,
    application_withdraw,
    centre_eligibility,
    current_child_cni,
    is_own_application,
    scheme_set,
)

S = ApplicationStatus
GET_POST = require_http_methods(["GET", "POST"])
STAFF_ROLES = (Role.NURSE, Role.CENTRE_MANAGER)
# Everyone who reads applications (ApplicationQuerySet.for_user).
READER_ROLES = (Role.NURSE, Role.CENTRE_MANAGER, Role.CBHV, Role.FINANCE, Role.ADMIN)
SCHEME_ROLES = (Role.CBHV, Role.ADMIN)
EDITABLE = (S.DRAFT, S.CHANGES_REQUESTED)
WITHDRAWABLE = (S.DRAFT, S.SUBMITTED, S.CHANGES_REQUESTED, S.APPROVED)
YEARS_AHEAD = 2  # applications for this year and the next two
DECISION_KINDS = (
    TransitionKind.CHANGES_REQUESTED,
    TransitionKind.APPROVED,
    TransitionKind.REJECTED,
)
IMPORT_SALT = "funding.cni_import"
IMPORT_MAX_AGE = 60 * 60


# --- Helpers ----------------------------------------------------------------------------------
def _is_staff_of(user: User, centre_id: uuid.UUID) -> bool:
    return centre_id in user.scope.centre_ids(*STAFF_ROLES)


def _get_application_for_user(user: User, pk: uuid.UUID) -> Application:
    return get_object_or_404(
        Application.objects.for_user(user).select_related(
            "centre__organisation", "created_by", "submitted_by", "decided_by"
        ),
        pk=pk,
    )


def _get_centre_for_user(user: User, pk: uuid.UUID) -> Centre:
    return get_object_or_404(Centre.objects.for_user(user).select_related("organisation"), pk=pk)


def _thresholds(organisation_ids: Iterable[uuid.UUID]) -> SchemesInForce:
    """The organisations' schemes in one query, for pages with many centres and years."""
    return FixedCompensationScheme.objects.in_force_lookup(organisation_ids)


def _threshold(schemes: SchemesInForce, organisation_id: uuid.UUID, year: int) -> Decimal:
    """As `scheme_in_force`: the scheme in force for the year, else seed 004's threshold."""
    scheme = schemes.for_year(organisation_id, year)
    return scheme.threshold if scheme is not None else DEFAULT_THRESHOLD


def _current_cni(centre_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CniValue]:
    return {c.centre_id: c for c in CniValue.objects.current_for(list(centre_ids))}


def _cni_text(value: Decimal | None) -> str:
    return "–" if value is None else number_format(value, 2)


def _ineligible_message(eligibility: Eligibility, year: int) -> str:
    if eligibility.cni is None:
        return _(
            "Ansökan kan inte skickas in: BVC:n har inget barn-CNI registrerat. "
            "Barn-CNI måste vara över tröskeln %(threshold)s för %(year)s."
        ) % {"threshold": _cni_text(eligibility.threshold), "year": year}
    return _(
        "Ansökan kan inte skickas in: BVC:ns barn-CNI är %(cni)s, och det måste vara över "
        "tröskeln %(threshold)s för %(year)s."
    ) % {
        "cni": _cni_text(eligibility.cni.value),
        "threshold": _cni_text(eligibility.threshold),
        "year": year,
    }


def _next_url(request: HttpRequest, default: str) -> str:
    url = request.POST.get("next", "")
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


def _slot_choices(organisation_id: uuid.UUID) -> list[tuple[str, str]]:
    """The slots of the organisation's current programme templates, in age order."""
    from visits.models import TemplateSlot

    slots = TemplateSlot.objects.filter(
        template__organisation_id=organisation_id, template__superseded_by__isnull=True
    ).order_by("target_age_days", "key")
    seen: dict[str, str] = {}
    for key, label in slots.values_list("key", "label"):
        seen.setdefault(key, label)
    return list(seen.items())


def _slot_names(application: Application, choices: list[tuple[str, str]]) -> list[str]:
    labels = dict(choices)
    return [labels.get(key, key) for key in application.planned_slots]


def _plan_initial(application: Application) -> dict[str, Any]:
    return {
        "nurse_hours_per_week": application.nurse_hours_per_week,
        "social_services_contacted": "true" if application.social_services_contacted else "false",
        "social_services_contact": application.social_services_contact,
        "planned_visits": application.planned_visits,
        "programme": application.programme,
        "planned_slots": application.planned_slots,
        "target_families": application.target_families,
        "start_date": application.start_date,
        "transport": application.transport,
    }


# --- The application form (centre staff) ------------------------------------------------------
@dataclass(frozen=True)
class YearEligibility:
    year: int
    threshold: Decimal
    eligible: bool


def _eligibility_rows(
    centre: Centre, years: Iterable[int]
) -> tuple[CniValue | None, list[YearEligibility]]:
    cni = current_child_cni(centre)
    schemes = _thresholds([centre.organisation_id])
    rows = []
    for year in years:
        threshold = _threshold(schemes, centre.organisation_id, year)
        rows.append(YearEligibility(year, threshold, cni is not None and cni.value > threshold))
    return cni, rows


def _save(
    user: User,
    form: ApplicationForm,
    *,
    centre: Centre,
    application: Application | None,
    submit: bool,
) -> Application | None:
    """Create or update the application and, with "Skicka in", submit it: all or nothing, so a
    refused submission leaves the application as it was. Errors go onto the form."""
    year = application.year if application else form.cleaned_data["year"]
    try:
        with transaction.atomic():
            if application is None:
                saved = application_create(user=user, centre=centre, year=year, plan=form.plan())
            else:
                saved = application_update(user=user, application=application, plan=form.plan())
            if submit:
                try:
                    saved = application_submit(user=user, application=saved)
                except ValidationError as exc:
                    if "centre" in getattr(exc, "error_dict", {}):
                        eligibility = centre_eligibility(centre, year)
                        raise ValidationError(_ineligible_message(eligibility, year)) from exc
                    raise
    except ValidationError as exc:
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
    centres = list(Centre.objects.filter(pk__in=user.scope.centre_ids(*STAFF_ROLES)))
    if len(centres) == 1:
        return redirect("funding:application_create", centre_pk=centres[0].pk)
    return render(request, "funding/application_start.html", {"centres": centres})


@login_required
@GET_POST
def application_create_view(request: HttpRequest, centre_pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *STAFF_ROLES)
    centre = _get_centre_for_user(user, centre_pk)
    if not _is_staff_of(user, centre.pk):
        raise PermissionDenied
    this_year = timezone.localdate().year
    taken = set(Application.objects.filter(centre=centre).values_list("year", flat=True))
    years = [y for y in range(this_year, this_year + YEARS_AHEAD + 1) if y not in taken]
    wanted = request.GET.get("year", "")
    initial_year = int(wanted) if wanted.isdigit() and int(wanted) in years else None
    data = request.POST if request.method == "POST" else None
    form = ApplicationForm(
        data,
        years=[(y, str(y)) for y in years],
        slots=_slot_choices(centre.organisation_id),
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
    cni, eligibility = _eligibility_rows(centre, years or [this_year])
    return render(
        request,
        "funding/application_form.html",
        {
            "form": form,
            "centre": centre,
            "application": None,
            "cni": cni,
            "eligibility": eligibility,
            "not_eligible": not any(row.eligible for row in eligibility),
            "no_years": not years,
        },
    )


@login_required
@GET_POST
def application_edit(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *STAFF_ROLES)
    application = _get_application_for_user(user, pk)
    if not _is_staff_of(user, application.centre_id):
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
        slots=_slot_choices(application.centre.organisation_id),
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
    cni, eligibility = _eligibility_rows(application.centre, [application.year])
    return render(
        request,
        "funding/application_form.html",
        {
            "form": form,
            "centre": application.centre,
            "application": application,
            "cni": cni,
            "eligibility": eligibility,
            "not_eligible": not any(row.eligible for row in eligibility),
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
    return (
        application.status == S.SUBMITTED
        and user.scope.has_role_in(Role.CBHV, organisation_id=application.centre.organisation_id)
        and not is_own_application(user, application)
    )


def _render_application(
    request: HttpRequest, application: Application, *, status: int = 200, **bound: Any
) -> HttpResponse:
    user = _user(request)
    staff = _is_staff_of(user, application.centre_id)
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
        "cni": current_child_cni(application.centre),
        "eligibility": (
            centre_eligibility(application.centre, application.year)
            if staff and application.status in EDITABLE
            else None
        ),
        "slot_names": _slot_names(application, _slot_choices(application.centre.organisation_id))
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
    if not _is_staff_of(user, application.centre_id):
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
        eligibility = centre_eligibility(application.centre, application.year)
        messages.error(request, _ineligible_message(eligibility, application.year))
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
    qs = Application.objects.for_user(user).select_related("centre", "decided_by")
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


def _with_history(qs: QuerySet[Application]) -> QuerySet[Application]:
    return qs.select_related("centre__organisation", "submitted_by").prefetch_related(
        Prefetch("transitions", queryset=ApplicationTransition.objects.select_related("by"))
    )


@login_required
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    """CBHV's inbox: the organisation's submitted applications, oldest first, each with its
    centre's child CNI against the threshold, the plan and the history, and the decisions."""
    user = _user(request)
    _require_role(user, Role.CBHV)
    org_ids = user.scope.organisation_ids(Role.CBHV)
    applications = list(
        _with_history(
            Application.objects.filter(
                status=S.SUBMITTED, centre__organisation_id__in=org_ids
            ).order_by("submitted_at", "centre__name")
        )
    )
    cni = _current_cni(a.centre_id for a in applications)
    schemes = _thresholds(org_ids)
    memberships = user.scope.centre_ids()  # "own" applications are shown, not decidable
    slots = {
        org_id: _slot_choices(org_id)
        for org_id in {a.centre.organisation_id for a in applications if a.planned_slots}
    }
    rows = []
    for application in applications:
        value = cni.get(application.centre_id)
        threshold = _threshold(schemes, application.centre.organisation_id, application.year)
        rows.append(
            {
                "application": application,
                "cni": value,
                "threshold": threshold,
                "eligible": value is not None and value.value > threshold,
                "slot_names": _slot_names(
                    application, slots.get(application.centre.organisation_id, [])
                ),
                "can_decide": application.centre_id not in memberships
                and user.pk not in (application.created_by_id, application.submitted_by_id),
                **_decision_forms(application),
            }
        )
    return render(request, "funding/inbox.html", {"rows": rows})


# --- Centres ------------------------------------------------------------------------------------
@login_required
@require_safe
def centre_list(request: HttpRequest) -> HttpResponse:
    """The organisation's centres with child CNI, whether they may apply and their status this
    year. Figures only; everyone in the organisation sees it."""
    user = _user(request)
    year = timezone.localdate().year
    centres = list(Centre.objects.for_user(user).select_related("organisation"))
    cni = _current_cni(c.pk for c in centres)
    schemes = _thresholds({c.organisation_id for c in centres})
    applications = {
        a.centre_id: a
        for a in Application.objects.filter(centre__in=centres, year=year).only(
            "id", "centre_id", "status", "effective_from", "withdrawn_on"
        )
    }
    rows = []
    for centre in centres:
        value = cni.get(centre.pk)
        threshold = _threshold(schemes, centre.organisation_id, year)
        rows.append(
            {
                "centre": centre,
                "cni": value,
                "threshold": threshold,
                "eligible": value is not None and value.value > threshold,
                "application": applications.get(centre.pk),
            }
        )
    return render(
        request,
        "funding/centre_list.html",
        {
            "rows": rows,
            "year": year,
            "several_organisations": len({c.organisation_id for c in centres}) > 1,
            "can_import": user.scope.has_role(*SCHEME_ROLES),
        },
    )


@login_required
@require_safe
def centre_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """A centre's fixed-compensation status per year and its CNI history, for everyone in the
    organisation. The application pages themselves stay with the centre and its deciders."""
    user = _user(request)
    centre = _get_centre_for_user(user, pk)
    scope = user.scope
    year = timezone.localdate().year
    applied = list(Application.objects.filter(centre=centre).order_by("-year"))
    applications = [{"application": a, **_fixed_period(a)} for a in applied]
    applied_years = {a.year for a in applied}
    cni_values = list(
        CniValue.objects.filter(centre=centre)
        .select_related("created_by")
        .order_by("-reference_date", "-created_at")
    )
    current = next((v for v in cni_values if v.kind == "child_cni"), None)
    schemes = _thresholds([centre.organisation_id])
    threshold = _threshold(schemes, centre.organisation_id, year)
    # The centre's compensation this year: for its manager, and for finance and CBHV.
    sees_money = scope.has_role_at(Role.CENTRE_MANAGER, centre_id=centre.pk) or any(
        scope.has_role_in(role, organisation_id=centre.organisation_id)
        for role in (Role.FINANCE, Role.CBHV)
    )
    statements = (
        compensation.statements(centre.organisation_id, year, centre=centre) if sees_money else None
    )
    return render(
        request,
        "funding/centre_detail.html",
        {
            "centre": centre,
            "applications": applications,
            "cni_values": cni_values,
            "cni": current,
            "threshold": threshold,
            "year": year,
            "eligible": current is not None and current.value > threshold,
            "staff": _is_staff_of(user, centre.pk),
            "can_open": _is_staff_of(user, centre.pk)
            or scope.has_role_in(Role.CBHV, organisation_id=centre.organisation_id)
            or scope.has_role_in(Role.FINANCE, organisation_id=centre.organisation_id)
            or scope.has_role_in(Role.ADMIN, organisation_id=centre.organisation_id),
            "can_apply": _is_staff_of(user, centre.pk) and not {year, year + 1} <= applied_years,
            "statements": statements,
            "statement_total": sum((r.total for r in statements), ZERO) if statements else ZERO,
        },
    )


def _fixed_period(application: Application) -> dict[str, datetime.date | None]:
    """The days the application gave fixed compensation: from `effective_from` up to the day
    before a withdrawal (API.md)."""
    if not application.approved or application.effective_from is None:
        return {"fixed_from": None, "fixed_until": None}
    until = None
    if application.withdrawn_on is not None:
        until = application.withdrawn_on - datetime.timedelta(days=1)
        if until < application.effective_from:
            return {"fixed_from": None, "fixed_until": None}
    return {"fixed_from": application.effective_from, "fixed_until": until}


# --- The scheme ---------------------------------------------------------------------------------
def _scheme_organisations(user: User) -> QuerySet[Organisation]:
    return Organisation.objects.filter(pk__in=user.scope.organisation_ids(*SCHEME_ROLES))


@login_required
@GET_POST
def scheme(request: HttpRequest) -> HttpResponse:
    """The fixed-compensation scheme per year (threshold and weighting), CBHV and admins."""
    user = _user(request)
    _require_role(user, *SCHEME_ROLES)
    organisations = _scheme_organisations(user)
    schemes = list(
        FixedCompensationScheme.objects.filter(organisation__in=organisations)
        .select_related("organisation", "updated_by")
        .order_by("organisation__name", "-from_year")
    )
    year = timezone.localdate().year
    # A new year's setting starts from the one in force (the list is latest first).
    current = next((row for row in schemes if row.from_year <= year), None)
    initial: dict[str, Any] = {"from_year": year}
    if current is not None:
        initial.update(threshold=current.threshold, weighting=current.weighting)
    wanted = request.GET.get("from_year", "")
    for row in schemes:
        if str(row.from_year) == wanted and str(row.organisation_id) == request.GET.get(
            "organisation", str(row.organisation_id)
        ):
            initial = {
                "organisation": row.organisation_id,
                "from_year": row.from_year,
                "threshold": row.threshold,
                "weighting": row.weighting,
            }
            break
    data = request.POST if request.method == "POST" else None
    form = SchemeForm(data, organisations=organisations, initial=initial)
    if form.is_valid():
        try:
            saved = scheme_set(
                user=user,
                organisation_id=form.cleaned_data["organisation"].pk,
                from_year=form.cleaned_data["from_year"],
                threshold=form.cleaned_data["threshold"],
                weighting=form.cleaned_data["weighting"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request,
                _("Ordningen från %(year)s är sparad: tröskel %(threshold)s, %(weighting)s.")
                % {
                    "year": saved.from_year,
                    "threshold": _cni_text(saved.threshold),
                    "weighting": saved.get_weighting_display().lower(),
                },
            )
            return redirect("funding:scheme")
    in_force: dict[uuid.UUID, int] = {}
    for row in schemes:  # latest first per organisation
        if row.from_year <= year:
            in_force.setdefault(row.organisation_id, row.pk)
    return render(
        request,
        "funding/scheme.html",
        {
            "form": form,
            "schemes": schemes,
            "in_force": set(in_force.values()),
            "year": year,
            "several_organisations": len(organisations) > 1,
        },
    )


# --- CNI import ---------------------------------------------------------------------------------
def _import_payload(
    user: User,
    organisation: Organisation,
    batch: cni_import.Batch,
    report_lines: list[int],
    rows: list[cni_import.RawRow],
) -> str:
    """What step 2 needs, signed: the parsed rows travel with the page, never via the database."""
    return signing.dumps(
        {
            "user": user.pk,
            "organisation": str(organisation.pk),
            "kind": batch.kind,
            "source": batch.source,
            "reference_date": batch.reference_date.isoformat(),
            "scale": batch.scale,
            "valid": report_lines,
            "rows": [r.to_list() for r in rows],
        },
        salt=IMPORT_SALT,
        compress=True,
    )


def _render_preview(
    request: HttpRequest,
    organisation: Organisation,
    batch: cni_import.Batch,
    rows: list[cni_import.RawRow],
    *,
    error: str = "",
) -> HttpResponse:
    report = cni_import.preview(organisation, rows, batch)
    payload = _import_payload(_user(request), organisation, batch, report.valid_lines, rows)
    return render(
        request,
        "funding/cni_import_preview.html",
        {
            "organisation": organisation,
            "batch": batch,
            "report": report,
            "payload": payload,
            "error": error,
        },
    )


@login_required
@GET_POST
def cni_import_view(request: HttpRequest) -> HttpResponse:
    """Step 1: upload and preview. Nothing is written."""
    user = _user(request)
    _require_role(user, *SCHEME_ROLES)
    organisations = _scheme_organisations(user)
    if request.method == "POST":
        form = CniImportForm(request.POST, request.FILES, organisations=organisations)
        if form.is_valid():
            return _render_preview(
                request, form.cleaned_data["organisation"], form.batch(), form.cleaned_data["file"]
            )
    else:
        form = CniImportForm(organisations=organisations)
    return render(request, "funding/cni_import.html", {"form": form})


@login_required
@require_POST
def cni_import_commit(request: HttpRequest) -> HttpResponse:
    """Step 2: store every valid row of the preview, in one transaction, or nothing."""
    user = _user(request)
    _require_role(user, *SCHEME_ROLES)
    try:
        data = signing.loads(
            request.POST.get("payload", ""), salt=IMPORT_SALT, max_age=IMPORT_MAX_AGE
        )
    except signing.SignatureExpired:
        messages.error(request, _("Förhandsgranskningen är för gammal. Ladda upp filen igen."))
        return redirect("funding:cni_import")
    except signing.BadSignature:
        messages.error(request, _("Förhandsgranskningen gick inte att läsa. Ladda upp filen igen."))
        return redirect("funding:cni_import")
    if data.get("user") != user.pk:
        raise PermissionDenied
    organisation = get_object_or_404(_scheme_organisations(user), pk=data["organisation"])
    batch = cni_import.Batch(
        kind=data["kind"],
        source=data["source"],
        reference_date=datetime.date.fromisoformat(data["reference_date"]),
        scale=data["scale"],
    )
    rows = [cni_import.RawRow.from_list(r) for r in data["rows"]]
    try:
        created = cni_import.commit(
            user=user,
            organisation=organisation,
            rows=rows,
            batch=batch,
            expected_lines=data["valid"],
        )
    except cni_import.ImportChanged as exc:
        return _render_preview(
            request,
            organisation,
            batch,
            rows,
            error=_("%(why)s Inget har sparats. Granska raderna igen.") % {"why": exc},
        )
    messages.success(
        request,
        _("%(count)s CNI-värden är sparade (referensdatum %(date)s, källa %(source)s).")
        % {"count": len(created), "date": batch.reference_date.isoformat(), "source": batch.source},
    )
    return redirect("funding:centre_list")


# --- Start-page sections --------------------------------------------------------------------------
INBOX_SECTION_ROWS = 10


def inbox_section(request: HttpRequest) -> dict[str, Any] | None:
    """CBHV's "Ansökningar att besluta": the submitted applications, oldest first (1–2 queries)."""
    user = _user(request)
    org_ids = user.scope.organisation_ids(Role.CBHV)
    if not org_ids:
        return None
    qs = Application.objects.filter(
        status=S.SUBMITTED, centre__organisation_id__in=org_ids
    ).order_by("submitted_at", "centre__name")
    rows = list(qs.select_related("centre")[: INBOX_SECTION_ROWS + 1])
    count = len(rows) if len(rows) <= INBOX_SECTION_ROWS else qs.count()
    return {"applications": rows[:INBOX_SECTION_ROWS], "count": count}


def centre_applications_section(request: HttpRequest) -> dict[str, Any] | None:
    """The centre's applications for this year and the next, with the latest decision or request
    for changes, so that news from CBHV is seen where the day starts (2 queries)."""
    user = _user(request)
    centre_ids = user.scope.centre_ids(*STAFF_ROLES)
    if not centre_ids:
        return None
    year = timezone.localdate().year
    years = [year, year + 1]
    centres = list(Centre.objects.filter(pk__in=centre_ids).order_by("name"))
    latest = ApplicationTransition.objects.filter(
        application=OuterRef("pk"), kind__in=DECISION_KINDS
    ).order_by("-at", "-id")
    applications = Application.objects.filter(centre_id__in=centre_ids, year__in=years).annotate(
        last_kind=Subquery(latest.values("kind")[:1]),
        last_comment=Subquery(latest.values("comment")[:1]),
        last_at=Subquery(latest.values("at")[:1]),
        last_by_first=Subquery(latest.values("by__first_name")[:1]),
        last_by_last=Subquery(latest.values("by__last_name")[:1]),
        last_by_username=Subquery(latest.values("by__username")[:1]),
    )
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
