"""Finance pages (DOMAIN.md 4.3; issue 17 items 2, 6 and 9): the grant overview and a grant's
page, its ledger with a running balance, fixed allocation (preview, then post), allocations,
payouts, repayments, close, the compensation statements and paying a month.

Finance writes; CBHV reads the same pages (a form or an action is 403 for CBHV); a centre
manager sees her own centre's statements; every other role gets 403 (the role is checked
before any object is looked up). A grant outside the user's organisations is 404. The rules
are in `funding.ledger`, `funding.allocation` and `funding.compensation`: the views call the
same services as the API (funding/api/ledger_views.py, money_views.py) and show their
ValidationError on the form's fields and their Conflict as a message. Every form that moves
money carries a one-time token (core/form_tokens.py): sending it twice posts once.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core import form_tokens
from core.exceptions import Conflict
from core.forms import ServiceForm
from core.models import Centre, Organisation, Partner, Role, User
from core.money import ZERO, format_money
from core.permissions import request_user as _user
from core.permissions import require_role as _require_role
from funding import allocation, compensation, ledger
from funding.forms.grants import (
    MONTHS,
    AllocationForm,
    CloseForm,
    CompensationFilterForm,
    FixedAllocationForm,
    GrantFilterForm,
    GrantForm,
    LedgerFilterForm,
    MonthChoiceForm,
    MonthPayForm,
    PayoutForm,
    RepaymentForm,
)
from funding.models import (
    Account,
    Grant,
    LedgerLeg,
    LedgerTransaction,
    RecipientType,
)

GET_POST = require_http_methods(["GET", "POST"])
READERS = (Role.FINANCE, Role.CBHV)
STATEMENT_READERS = (Role.FINANCE, Role.CBHV, Role.CENTRE_MANAGER)


# --- Helpers ----------------------------------------------------------------------------------
def _get_grant_for_user(user: User, pk: uuid.UUID) -> Grant:
    """The grant with its figures (404 outside the user's organisations)."""
    return get_object_or_404(
        ledger.with_figures(Grant.objects.for_user(user)).select_related("organisation"), pk=pk
    )


def _is_finance_of(user: User, grant: Grant) -> bool:
    return user.scope.has_role_in(Role.FINANCE, organisation_id=grant.organisation_id)


def _grant_for_finance(request: HttpRequest, pk: uuid.UUID) -> Grant:
    """403 for a role that never writes, 404 outside scope, 403 for CBHV of the grant's
    organisation (the order of funding/api/ledger_views.py)."""
    user = _user(request)
    _require_role(user, Role.FINANCE)
    grant = _get_grant_for_user(user, pk)
    if not _is_finance_of(user, grant):
        raise PermissionDenied
    return grant


def _figures_context(grant: Grant) -> dict[str, Any]:
    return {"grant": grant, "figures": ledger.figures(grant)}


def _detail_url(grant: Grant) -> str:
    return reverse("funding:grant_detail", args=[grant.pk])


def _conflict_to(request: HttpRequest, exc: Conflict, url: str) -> HttpResponse:
    messages.error(request, str(exc.detail))
    return redirect(url)


def _once(
    request: HttpRequest,
    form: ServiceForm,
    endpoint: str,
    work: Callable[[], str],
    success: Callable[[], str],
) -> HttpResponse | None:
    """Run `work` once for the form's token; a redirect, or None when the service refused
    the input (its errors are then on `form`). A Conflict is a message on the grant's page."""
    try:
        done = form_tokens.once(
            user=_user(request),
            endpoint=endpoint,
            token=form.cleaned_data["token"],
            data=request.POST,
            work=work,
        )
    except ValidationError as exc:
        form.add_service_errors(exc)
        return None
    if done.replayed:
        messages.info(request, form_tokens.replay_message(done))
    else:
        messages.success(request, success())
    return redirect(done.redirect)


# --- The grant overview -------------------------------------------------------------------------
@dataclass(frozen=True)
class GrantRow:
    grant: Grant
    figures: ledger.GrantFigures


@login_required
@require_safe
def grant_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require_role(user, *READERS)
    scoped = Grant.objects.for_user(user)
    years = sorted(set(scoped.values_list("year", flat=True)), reverse=True)
    filters = GrantFilterForm(request.GET or None, years=years)
    grants = ledger.with_figures(scoped).select_related("organisation")
    if filters.is_valid():
        query = filters.cleaned_data
        if query.get("year"):
            grants = grants.filter(year=query["year"])
        if query.get("funder"):
            grants = grants.filter(funder=query["funder"])
        if query.get("status"):
            grants = grants.filter(closed_at__isnull=query["status"] == "open")
    rows = [GrantRow(g, ledger.figures(g)) for g in grants.order_by("-year", "funder", "reference")]
    totals = {
        name: sum((getattr(r.figures, name) for r in rows), ZERO)
        for name in ("amount", "allocated", "paid_out", "carried_over", "balance", "repayment_due")
    }
    return render(
        request,
        "funding/finance/grant_list.html",
        {
            "filters": filters,
            "rows": rows,
            "totals": totals,
            "can_write": user.scope.has_role(Role.FINANCE),
            "several_organisations": len({r.grant.organisation_id for r in rows}) > 1,
        },
    )


@login_required
@GET_POST
def grant_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require_role(user, Role.FINANCE)
    organisations = Organisation.objects.filter(pk__in=user.scope.organisation_ids(Role.FINANCE))
    data = request.POST if request.method == "POST" else None
    form = GrantForm(data, organisations=organisations, initial={"year": timezone.localdate().year})
    if form.is_valid():
        fields = {k: v for k, v in form.cleaned_data.items() if k != "organisation"}
        try:
            grant = ledger.grant_create(
                user=user, organisation=form.cleaned_data["organisation"], **fields
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            form.add_error("reference", str(exc.detail))
        else:
            messages.success(
                request,
                _("Bidraget %(grant)s är registrerat och %(amount)s är bokfört som inbetalning.")
                % {"grant": grant, "amount": format_money(grant.amount)},
            )
            return redirect("funding:grant_detail", pk=grant.pk)
    return render(request, "funding/finance/grant_form.html", {"form": form})


@login_required
@require_safe
def grant_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *READERS)
    grant = _get_grant_for_user(user, pk)
    return render(
        request,
        "funding/finance/grant_detail.html",
        {**_figures_context(grant), "can_write": _is_finance_of(user, grant)},
    )


# --- The ledger ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LedgerRow:
    tx: LedgerTransaction
    amount: Decimal  # API.md's signed amount (ledger.transaction_amount)
    balance_after: Decimal  # the grant's balance after this row
    recipient: str


def _recipient_names(grant: Grant, rows: list[LedgerTransaction]) -> dict[uuid.UUID, str]:
    """The recipients' names: one query per kind of recipient, whatever the number of rows."""
    wanted: dict[str, set[uuid.UUID]] = {}
    for tx in rows:
        if tx.recipient_id is not None:
            wanted.setdefault(tx.recipient_type, set()).add(tx.recipient_id)
    names: dict[uuid.UUID, str] = {}
    if wanted.get(RecipientType.CENTRE):
        names.update(
            Centre.objects.filter(pk__in=wanted[RecipientType.CENTRE]).values_list("pk", "name")
        )
    if wanted.get(RecipientType.PARTNER):
        names.update(
            Partner.objects.filter(pk__in=wanted[RecipientType.PARTNER]).values_list("pk", "name")
        )
    names[grant.organisation_id] = grant.organisation.name
    return names


def ledger_rows(grant: Grant) -> list[LedgerRow]:
    """Every row of the grant, oldest first, with the balance after it: a running sum of the
    `balance` legs over the rows of one query (the same order as the API's ledger)."""
    transactions = list(
        LedgerTransaction.objects.filter(grant=grant)
        .select_related("created_by")
        .prefetch_related(Prefetch("legs", queryset=LedgerLeg.objects.order_by("id")))
        .order_by("created_at", "id")
    )
    names = _recipient_names(grant, transactions)
    balance = ZERO
    rows = []
    for tx in transactions:
        balance += sum(
            (leg.amount for leg in tx.legs.all() if leg.account == Account.BALANCE), ZERO
        )
        rows.append(
            LedgerRow(
                tx=tx,
                amount=ledger.transaction_amount(tx),
                balance_after=balance,
                recipient=names.get(tx.recipient_id, "") if tx.recipient_id else "",
            )
        )
    return rows


@login_required
@require_safe
def grant_ledger(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The running balance is the grant's balance after each row, so filtering hides rows but
    never changes the balance shown on the rows that remain."""
    user = _user(request)
    _require_role(user, *READERS)
    grant = _get_grant_for_user(user, pk)
    filters = LedgerFilterForm(request.GET or None)
    rows = ledger_rows(grant)
    shown = rows
    if filters.is_valid():
        query = filters.cleaned_data
        if query.get("kind"):
            shown = [r for r in shown if r.tx.kind == query["kind"]]
        if query.get("category"):
            shown = [r for r in shown if r.tx.category == query["category"]]
        if query.get("date_from"):
            shown = [r for r in shown if r.tx.date >= query["date_from"]]
        if query.get("date_to"):
            shown = [r for r in shown if r.tx.date <= query["date_to"]]
    return render(
        request,
        "funding/finance/grant_ledger.html",
        {
            **_figures_context(grant),
            "filters": filters,
            "rows": shown,
            "total_rows": len(rows),
        },
    )


# --- Fixed allocation -----------------------------------------------------------------------------
def _allocation_total(lines: list[allocation.AllocationLine]) -> Decimal:
    return sum((line.amount for line in lines), ZERO)


@login_required
@GET_POST
def grant_fixed_allocation(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Step 1: year and pool (GET), then the preview (POST): nothing is written."""
    grant = _grant_for_finance(request, pk)
    if request.method == "POST":
        form = FixedAllocationForm(request.POST)
        if form.is_valid():
            try:
                preview = allocation.fixed_allocation_preview(
                    grant=grant,
                    year=form.cleaned_data["year"],
                    pool=form.cleaned_data["pool"],
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                return render(
                    request,
                    "funding/finance/fixed_allocation_preview.html",
                    {
                        **_figures_context(grant),
                        "form": form,
                        "lines": preview.lines,
                        "total": preview.total,
                        "already_posted": preview.already_posted,
                    },
                )
    else:
        form = FixedAllocationForm(initial={"year": grant.year})
    return render(
        request,
        "funding/finance/fixed_allocation_form.html",
        {**_figures_context(grant), "form": form},
    )


@login_required
@require_POST
def grant_fixed_allocation_post(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Step 2, "Bokför": the service posts once per grant and year (a second post is its
    Conflict, shown as a message), so this form needs no token."""
    grant = _grant_for_finance(request, pk)
    form = FixedAllocationForm(request.POST)
    if form.is_valid():
        try:
            lines = allocation.fixed_allocation_post(
                user=_user(request),
                grant=grant,
                year=form.cleaned_data["year"],
                pool=form.cleaned_data["pool"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            return _conflict_to(request, exc, _detail_url(grant))
        else:
            messages.success(
                request,
                _("Den fasta ersättningen för %(year)s är fördelad: %(total)s på %(count)s BVC.")
                % {
                    "year": form.cleaned_data["year"],
                    "total": format_money(_allocation_total(lines)),
                    "count": len(lines),
                },
            )
            return redirect("funding:grant_ledger", pk=grant.pk)
    return render(
        request,
        "funding/finance/fixed_allocation_form.html",
        {**_figures_context(grant), "form": form},
    )


# --- Allocations, payouts, repayments -----------------------------------------------------------
def _money_form_page(
    request: HttpRequest,
    pk: uuid.UUID,
    *,
    form_class: type[ServiceForm],
    endpoint: str,
    title: str,
    submit: str,
    post: Callable[[Grant, dict[str, Any]], Any],
    success: Callable[[dict[str, Any]], str],
    needs_grant: bool = True,
) -> HttpResponse:
    grant = _grant_for_finance(request, pk)
    kwargs: dict[str, Any] = {"grant": grant} if needs_grant else {}
    data = request.POST if request.method == "POST" else None
    form = form_class(data, **kwargs)
    if form.is_valid():
        data_ = form.cleaned_data

        def work() -> str:
            post(grant, data_)
            return reverse("funding:grant_ledger", args=[grant.pk])

        try:
            response = _once(request, form, endpoint, work, lambda: success(data_))
        except Conflict as exc:
            return _conflict_to(request, exc, _detail_url(grant))
        if response is not None:
            return response
    return render(
        request,
        "funding/finance/grant_action_form.html",
        {**_figures_context(grant), "form": form, "title": title, "submit": submit},
    )


@login_required
@GET_POST
def grant_allocation(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)

    def post(grant: Grant, data: dict[str, Any]) -> LedgerTransaction:
        model: type[Centre] | type[Partner] = (
            Centre if data["recipient_type"] == RecipientType.CENTRE else Partner
        )
        recipient = model.objects.get(pk=data["recipient"], organisation_id=grant.organisation_id)
        return ledger.allocation_post(
            user=user,
            grant=grant,
            recipient=recipient,
            amount=data["amount"],
            purpose=data["purpose"],
        )

    return _money_form_page(
        request,
        pk,
        form_class=AllocationForm,
        endpoint="grant_allocation",
        title=_("Fördela till BVC eller samverkanspart"),
        submit=_("Fördela"),
        post=post,
        success=lambda d: _("%s är fördelat.") % format_money(d["amount"]),
    )


@login_required
@GET_POST
def grant_payout(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)

    def post(grant: Grant, data: dict[str, Any]) -> LedgerTransaction:
        return ledger.payout_post(
            user=user,
            grant=grant,
            recipient_type=data["recipient_type"],
            recipient_id=data["recipient"],
            category=data["category"],
            amount=data["amount"],
            date=data["date"],
            reference=data["reference"],
        )

    return _money_form_page(
        request,
        pk,
        form_class=PayoutForm,
        endpoint="grant_payout",
        title=_("Utbetalning"),
        submit=_("Bokför utbetalningen"),
        post=post,
        success=lambda d: _("Utbetalningen på %s är bokförd.") % format_money(d["amount"]),
    )


@login_required
@GET_POST
def grant_repayment(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)

    def post(grant: Grant, data: dict[str, Any]) -> LedgerTransaction:
        return ledger.repayment_post(
            user=user,
            grant=grant,
            amount=data["amount"],
            date=data["date"],
            reference=data["reference"],
        )

    return _money_form_page(
        request,
        pk,
        form_class=RepaymentForm,
        endpoint="grant_repayment",
        title=_("Återbetalning till bidragsgivaren"),
        submit=_("Bokför återbetalningen"),
        post=post,
        success=lambda d: _("Återbetalningen på %s är bokförd.") % format_money(d["amount"]),
        needs_grant=False,
    )


# --- Close --------------------------------------------------------------------------------------
@login_required
@GET_POST
def grant_close(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The confirmation shows the figures as they will be frozen (unused, carried over, repaid,
    to repay) before the POST closes. Closing again changes nothing."""
    grant = _grant_for_finance(request, pk)
    user = _user(request)
    data = request.POST if request.method == "POST" else None
    form = CloseForm(data)
    if form.is_valid():

        def work() -> str:
            ledger.grant_close(user=user, grant=grant)
            return _detail_url(grant)

        response = _once(
            request,
            form,
            "grant_close",
            work,
            lambda: _("Bidraget %s är avslutat; det oanvända beloppet är fryst.") % grant,
        )
        if response is not None:
            return response
    figures = ledger.figures(grant)
    # What close will freeze: the service's own figures, read as if closed now.
    at_close = figures if figures.closed else dataclasses.replace(figures, closed=True)
    return render(
        request,
        "funding/finance/grant_close.html",
        {"grant": grant, "figures": figures, "at_close": at_close, "form": form},
    )


# --- Compensation statements --------------------------------------------------------------------
@dataclass(frozen=True)
class StatementScope:
    organisation: Organisation | None
    centre_id: uuid.UUID | None  # a centre manager's own centre


def _statement_scope(user: User, form: CompensationFilterForm) -> StatementScope:
    """API.md `GET /api/v1/compensation/`: finance and CBHV see their organisation's centres,
    a centre manager her own centre."""
    scope = user.scope
    org_ids = scope.organisation_ids(Role.FINANCE, Role.CBHV)
    chosen = form.cleaned_data.get("organisation") if form.is_valid() else None
    if org_ids:
        if chosen is not None and chosen.pk in org_ids:
            return StatementScope(chosen, None)
        return StatementScope(Organisation.objects.filter(pk__in=org_ids).first(), None)
    centre = (
        Centre.objects.filter(pk__in=scope.centre_ids(Role.CENTRE_MANAGER))
        .select_related("organisation")
        .order_by("name")
        .first()
    )
    if centre is None:
        return StatementScope(None, None)
    return StatementScope(centre.organisation, centre.pk)


@login_required
@require_safe
def compensation_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require_role(user, *STATEMENT_READERS)
    organisations = Organisation.objects.filter(
        pk__in=user.scope.organisation_ids(Role.FINANCE, Role.CBHV)
    ).order_by("name")
    year = timezone.localdate().year
    form = CompensationFilterForm(
        request.GET or None, organisations=organisations, initial={"year": year}
    )
    month: int | None = None
    if form.is_valid():
        year = form.cleaned_data.get("year") or year
        month = form.cleaned_data.get("month") or None
    where = _statement_scope(user, form)
    rows: list[compensation.StatementRow] = []
    settled: list[compensation.StatementRow] = []
    if where.organisation is not None:
        rows = compensation.statements(where.organisation, year, month, where.centre_id)
        settled = compensation.settled_next_year(where.organisation, year, month, where.centre_id)
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
            "organisation": where.organisation,
            "own_centre": where.centre_id is not None,
            "can_pay": user.scope.has_role(Role.FINANCE),
        },
    )


# --- Paying a month -------------------------------------------------------------------------------
def _payable_grants(user: User) -> QuerySet[Grant]:
    return (
        ledger.with_figures(
            Grant.objects.filter(
                organisation_id__in=user.scope.organisation_ids(Role.FINANCE),
                closed_at__isnull=True,
            )
        )
        .select_related("organisation")
        .order_by("-year", "funder", "reference")
    )


def _open_months(user: User, choice: MonthChoiceForm) -> list[dict[str, Any]]:
    """The months over and open for finance's organisation, as links that fill the form (the
    grant preselected when there is only one open grant)."""
    organisations = user.scope.organisation_ids(Role.FINANCE)
    if len(organisations) != 1:
        return []
    grant = choice.initial.get("grant") or choice.data.get("grant") or ""
    return [
        {
            "label": _month_label(month.year, month.month),
            "query": urlencode({"grant": grant, "year": month.year, "month": month.month}),
        }
        for month in compensation.payable_months(next(iter(organisations)))
    ]


def _month_label(year: int, month: int) -> str:
    return f"{dict(MONTHS)[month]} {year}"


@login_required
@GET_POST
def compensation_pay(request: HttpRequest) -> HttpResponse:
    """Choose grant, year and month (GET) → the month's statements and what it pays (the
    confirmation) → POST pays it (`compensation.month_pay`), once per token."""
    user = _user(request)
    _require_role(user, Role.FINANCE)
    grants = _payable_grants(user)
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
            month_label=_month_label(year, month),
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
    label = _month_label(year, month)
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
        return _once(request, form, "compensation_pay", work, success)
    except Conflict as exc:
        form.add_error(None, str(exc.detail))
        return None
