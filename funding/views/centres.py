"""Centre pages of fixed compensation: the centres with their child CNI and whether they may
apply, a centre's status per year and CNI history, the yearly scheme and the CNI import
(DOMAIN.md 4.2).

Each view checks the role first (403 for a role that may never do this), then finds the object
within the user's scope (404, exactly like a missing one) through `funding.selectors`, parses
the form, calls the service and redirects with a message, or renders. No page here shows child
data.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core.models import Organisation, User
from core.money import ZERO
from core.permissions import request_user as _user
from core.permissions import require_role as _require_role
from funding import cni_import, compensation, selectors
from funding.centres import scheme_set
from funding.forms.centres import CniImportForm, SchemeForm
from funding.models import Application, SchemesInForce
from funding.selectors import SCHEME_ROLES

GET_POST = require_http_methods(["GET", "POST"])
IMPORT_SALT = "funding.cni_import"
IMPORT_MAX_AGE = 60 * 60


# --- Centres ------------------------------------------------------------------------------------
@login_required
@require_safe
def centre_list(request: HttpRequest) -> HttpResponse:
    """The organisation's centres with child CNI, whether they may apply and their status this
    year. Figures only; everyone in the organisation sees it."""
    user = _user(request)
    year = timezone.localdate().year
    rows = selectors.centre_rows(selectors.centres_for(user=user), year=year)
    return render(
        request,
        "funding/centre_list.html",
        {
            "rows": rows,
            "year": year,
            "several_organisations": len({row.centre.organisation_id for row in rows}) > 1,
            "can_import": user.scope.has_role(*SCHEME_ROLES),
        },
    )


@login_required
@require_safe
def centre_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """A centre's fixed-compensation status per year and its CNI history, for everyone in the
    organisation. The application pages themselves stay with the centre and its deciders."""
    user = _user(request)
    centre = get_object_or_404(selectors.centres_for(user=user), pk=pk)
    year = timezone.localdate().year
    applied = selectors.applications_of_centre(user=user, centre=centre)
    eligibility = selectors.centre_eligibility(centre, year)
    staff = selectors.is_centre_staff(user=user, centre_id=centre.pk)
    # The centre's compensation this year: for its manager, and for finance and CBHV.
    sees_money = selectors.sees_centre_statements(user=user, centre=centre)
    statements = (
        compensation.statements(centre.organisation_id, year, centre=centre) if sees_money else None
    )
    return render(
        request,
        "funding/centre_detail.html",
        {
            "centre": centre,
            "applications": [{"application": a, **_fixed_period(a)} for a in applied],
            "cni_values": selectors.cni_history(centre=centre),
            "cni": eligibility.cni,
            "threshold": eligibility.threshold,
            "year": year,
            "eligible": eligibility.eligible,
            "staff": staff,
            # Whoever reads the centre's applications (`Application.objects.for_user`).
            "can_open": any(a.readable for a in applied),  # type: ignore[attr-defined]
            "can_apply": staff and not {year, year + 1} <= {a.year for a in applied},
            "statements": statements,
            "statement_total": sum((r.total for r in statements), ZERO) if statements else ZERO,
        },
    )


def _fixed_period(application: Application) -> dict[str, datetime.date | None]:
    """The days the application gave fixed compensation (`Application.fixed_period()`): from
    `effective_from`, and up to the day before a withdrawal when it was withdrawn."""
    period = application.fixed_period()
    if period is None:
        return {"fixed_from": None, "fixed_until": None}
    start, end = period
    return {"fixed_from": start, "fixed_until": end if application.withdrawn_on else None}


# --- The scheme ---------------------------------------------------------------------------------
@login_required
@GET_POST
def scheme(request: HttpRequest) -> HttpResponse:
    """The fixed-compensation scheme per year (threshold and weighting), CBHV and admins."""
    user = _user(request)
    _require_role(user, *SCHEME_ROLES)
    organisations = selectors.scheme_organisations(user=user)
    schemes = selectors.schemes_for(user=user)
    year = timezone.localdate().year
    lookup = SchemesInForce(schemes)
    # Each organisation's scheme in force this year, in the order of the list.
    in_force = [
        s
        for s in (
            lookup.for_year(org_id, year)
            for org_id in dict.fromkeys(row.organisation_id for row in schemes)
        )
        if s is not None
    ]
    # A new year's setting starts from the one in force.
    current = in_force[0] if in_force else None
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
                    "threshold": number_format(saved.threshold, 2),
                    "weighting": saved.get_weighting_display().lower(),
                },
            )
            return redirect("funding:scheme")
    return render(
        request,
        "funding/scheme.html",
        {
            "form": form,
            "schemes": schemes,
            "in_force": {s.pk for s in in_force},
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
    organisations = selectors.scheme_organisations(user=user)
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
    organisation = get_object_or_404(
        selectors.scheme_organisations(user=user), pk=data["organisation"]
    )
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
