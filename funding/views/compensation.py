"""Compensation pages (DOMAIN.md 4.1; API.md "Grants and ledger", "Rates are data"): the
compensation statements per centre and month, paying a month, and the per-visit rates.

Statements: finance and CBHV read their organisation's, a centre manager her own centre's
(`selectors.statement_scopes()`, the rule the API applies too); every other role gets 403.
Paying a month is finance's: choose grant, year and month, see what it pays, confirm once per
token (`compensation.month_pay()`, the service the API calls). Rates: CBHV and administrators
add a rule (`compensation.rule_set()`: it recomputes the visits from that date and refuses, as
an error on `valid_from` here and 409 in the API, a date in or before a paid month or a second
rule from the same date); finance and centre managers read the table; other roles get 403.
Both lists are one query whatever their length.
"""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from core.exceptions import Conflict
from core.models import Organisation, Role, User
from core.money import ZERO, format_money
from core.permissions import request_user as _user
from core.permissions import require_role as _require_role
from funding import compensation, ledger, selectors
from funding.forms.compensation import (
    CompensationFilterForm,
    MonthChoiceForm,
    MonthPayForm,
    RateForm,
    month_label,
)
from funding.models import RATE_READERS, RATE_WRITERS, CompensationRule, Grant
from funding.views.grants import post_once

GET_POST = require_http_methods(["GET", "POST"])


# --- Compensation statements --------------------------------------------------------------------
@login_required
@require_safe
def compensation_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require_role(user, *selectors.STATEMENT_READERS)
    year = timezone.localdate().year
    form = CompensationFilterForm(
        request.GET or None,
        organisations=selectors.statement_organisations(user=user),
        initial={"year": year},
    )
    month: int | None = None
    chosen: Organisation | None = None
    if form.is_valid():
        year = form.cleaned_data.get("year") or year
        month = form.cleaned_data.get("month") or None
        chosen = form.cleaned_data.get("organisation")
    # The organisation chosen in the form, else the first the user reads (the API asks instead).
    scopes = selectors.statement_scopes(user=user)
    where = next(
        (s for s in scopes if s.organisation == chosen and s.centre_id is None),
        scopes[0] if scopes else None,
    )
    rows: list[compensation.StatementRow] = []
    settled: list[compensation.StatementRow] = []
    if where is not None:
        rows, settled = selectors.statement_rows(where=where, year=year, month=month)
    totals = {
        name: sum((getattr(r, name) for r in rows), ZERO)
        for name in ("programme_variable", "ordinary", "adjustments", "total", "paid")
    }
    return render(
        request,
        "funding/finance/compensation_list.html",
        {
            "form": form,
            "rows": rows,
            "settled": settled,
            "totals": totals,
            "visits": sum(r.visits for r in rows),
            "year": year,
            "month": month,
            "organisation": where.organisation if where is not None else None,
            "own_centre": where is not None and where.centre_id is not None,
            "can_pay": user.scope.has_role(Role.FINANCE),
        },
    )


# --- Paying a month -------------------------------------------------------------------------------
def _open_months(user: User, choice: MonthChoiceForm) -> list[dict[str, Any]]:
    """The months over and open for finance's organisation, as links that fill the form (the
    grant preselected when there is only one open grant)."""
    grant = choice.initial.get("grant") or choice.data.get("grant") or ""
    return [
        {
            "label": month_label(month.year, month.month),
            "query": urlencode({"grant": grant, "year": month.year, "month": month.month}),
        }
        for month in selectors.months_to_pay(user=user)
    ]


@login_required
@GET_POST
def compensation_pay(request: HttpRequest) -> HttpResponse:
    """Choose grant, year and month (GET) → the month's statements and what it pays (the
    confirmation) → POST pays it (`compensation.month_pay`), once per token."""
    user = _user(request)
    _require_role(user, Role.FINANCE)
    grants = selectors.payable_grants(user=user)
    if request.method == "POST":
        confirm = MonthPayForm(request.POST, grants=grants)
        if confirm.is_valid():
            response = _month_pay(request, confirm)
            if response is not None:
                return response
        choice = MonthChoiceForm(request.POST, grants=grants)
    elif {"grant", "year", "month"} <= set(request.GET):
        choice = MonthChoiceForm(request.GET, grants=grants)
        confirm = None
    else:  # a link from a grant's page names the grant only
        only = list(grants[:2])
        preselect = request.GET.get("grant") or (only[0].pk if len(only) == 1 else None)
        choice = MonthChoiceForm(grants=grants, initial={"grant": preselect})
        confirm = None
    context: dict[str, Any] = {
        "choice": choice,
        "confirm": None,
        "open_months": _open_months(user, choice),
    }
    if choice.is_valid():
        grant, year, month = (choice.cleaned_data[k] for k in ("grant", "year", "month"))
        rows = compensation.statements(grant.organisation_id, year, month)
        open_rows = [r for r in rows if not r.locked]  # what month_pay pays
        to_pay = sum(compensation.payable(open_rows).values(), ZERO)
        context.update(
            grant=grant,
            figures=ledger.figures(grant),
            rows=rows,
            to_pay=to_pay,
            month_label=month_label(year, month),
            paid=bool(rows) and not open_rows,
            over=compensation.month_is_over(datetime.date(year, month, 1)),
            confirm=confirm
            or MonthPayForm(
                grants=grants, initial={"grant": grant.pk, "year": year, "month": month}
            ),
        )
    return render(request, "funding/finance/compensation_pay.html", context)


def _month_pay(request: HttpRequest, form: MonthPayForm) -> HttpResponse | None:
    user = _user(request)
    grant: Grant = form.cleaned_data["grant"]
    year, month = form.cleaned_data["year"], form.cleaned_data["month"]
    label = month_label(year, month)
    outcome: dict[str, Any] = {}

    def work() -> str:
        outcome["payment"] = compensation.month_pay(user=user, grant=grant, year=year, month=month)
        return f"{reverse('funding:compensation_list')}?year={year}&month={month}"

    def success() -> str:
        payment = outcome["payment"]
        return _(
            "%(month)s är betald: %(total)s till %(count)s BVC från %(grant)s. Månaden är låst."
        ) % {
            "month": label.capitalize(),
            "total": format_money(payment.total),
            "count": len(payment.payouts),
            "grant": grant,
        }

    try:
        return post_once(request, form, "compensation_pay", work, success)
    except Conflict as exc:
        form.add_error(None, str(exc.detail))
        return None


# --- The per-visit rates --------------------------------------------------------------------------
@login_required
@GET_POST
def rate_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require_role(user, *RATE_READERS)
    if request.method == "POST" and not user.scope.has_role(*RATE_WRITERS):
        raise PermissionDenied  # finance and centre managers read only
    today = timezone.localdate()
    rows = list(
        CompensationRule.objects.for_user(user)
        .rules_for()
        .order_by("organisation__name", "-valid_from", "-id")
    )
    form: RateForm | None = None
    earliest: list[tuple[Organisation, datetime.date]] = []
    if user.scope.has_role(*RATE_WRITERS):
        writable = selectors.rate_organisations(user=user)
        form = RateForm(
            request.POST if request.method == "POST" else None,
            organisations=writable,
            initial=_initial(rows, writable, today),
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                rule = compensation.rule_set(
                    user=user,
                    organisation=data["organisation"],
                    valid_from=data["valid_from"],
                    programme_variable=data["programme_variable"],
                    ordinary=data["ordinary"],
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            except Conflict as exc:
                # Both conflicts (a paid month, a rule already from that date) are about the
                # date: shown on its field, so the summary links to it.
                form.add_error("valid_from", str(exc.detail))
            else:
                messages.success(
                    request,
                    _(
                        "Ersättningen från %(date)s är sparad: %(pv)s för hembesök med "
                        "socialtjänsten, %(ordinary)s ordinarie. Besöken från det datumet är "
                        "omräknade."
                    )
                    % {
                        "date": rule.valid_from.isoformat(),
                        "pv": format_money(rule.programme_variable),
                        "ordinary": format_money(rule.ordinary),
                    },
                )
                return redirect("funding:rate_list")
        earliest = selectors.earliest_rule_dates(organisations=writable)
    return render(
        request,
        "funding/rates.html",
        {
            "rows": [
                {"rule": r, "valid_to": r.valid_to, "in_force": r.in_force_on(today)} for r in rows
            ],
            "form": form,
            "earliest": [(org, day.isoformat()) for org, day in earliest],
            "several_organisations": len({r.organisation_id for r in rows}) > 1,
        },
    )


def _initial(
    rows: list[CompensationRule], writable: QuerySet[Organisation], today: datetime.date
) -> dict[str, Any]:
    """The first of next month, and the rates in force today when there is one organisation."""
    initial: dict[str, Any] = {"valid_from": compensation.next_month(compensation.month_of(today))}
    if len(writable) == 1:
        only = writable[0].pk
        current = next(
            (r for r in rows if r.organisation_id == only and r.in_force_on(today)), None
        )
        if current is not None:
            initial.update(programme_variable=current.programme_variable, ordinary=current.ordinary)
    return initial
