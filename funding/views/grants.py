"""Grant pages (DOMAIN.md 4.3; issue 17 items 2, 6 and 9): the grant overview and a grant's
page, its ledger with a running balance, fixed allocation (preview, then post), allocations,
payouts, repayments and close. The compensation statements and paying a month are in
funding/views/compensation.py.

Finance writes; CBHV reads the same pages (a form or an action is 403 for CBHV); every other
role gets 403 (the role is checked before any object is looked up). A grant outside the user's
organisations is 404. Reads are `funding.selectors`'; the rules are in `funding.ledger` and
`funding.allocation`: the views call the same services as the API (funding/api/grants.py) and
show their ValidationError on the form's fields and their Conflict as a message. Every form
that moves money carries a one-time token (core/form_tokens.py): sending it twice posts once.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core import form_tokens
from core.exceptions import Conflict
from core.forms import ServiceForm
from core.models import Centre, Partner, Role, User
from core.money import ZERO, format_money
from core.permissions import request_user as _user
from core.permissions import require_role as _require_role
from funding import allocation, ledger, selectors
from funding.forms.grants import (
    AllocationForm,
    CloseForm,
    FixedAllocationForm,
    GrantFilterForm,
    GrantForm,
    LedgerFilterForm,
    PayoutForm,
    RepaymentForm,
)
from funding.models import Grant, LedgerTransaction

GET_POST = require_http_methods(["GET", "POST"])
READERS = (Role.FINANCE, Role.CBHV)


# --- Helpers ----------------------------------------------------------------------------------
def _get_grant_for_user(user: User, pk: uuid.UUID) -> Grant:
    """The grant with its figures (404 outside the user's organisations)."""
    return get_object_or_404(selectors.grants_for(user=user), pk=pk)


def _grant_for_finance(request: HttpRequest, pk: uuid.UUID) -> Grant:
    """403 for a role that never writes, 404 outside scope, 403 for CBHV of the grant's
    organisation (the order of funding/api/grants.py)."""
    user = _user(request)
    _require_role(user, Role.FINANCE)
    grant = _get_grant_for_user(user, pk)
    if not selectors.is_finance_of(user=user, of=grant):
        raise PermissionDenied
    return grant


def _figures_context(grant: Grant) -> dict[str, Any]:
    return {"grant": grant, "figures": ledger.figures(grant)}


def _detail_url(grant: Grant) -> str:
    return reverse("funding:grant_detail", args=[grant.pk])


def _conflict_to(request: HttpRequest, exc: Conflict, url: str) -> HttpResponse:
    messages.error(request, str(exc.detail))
    return redirect(url)


def post_once(
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
    filters = GrantFilterForm(request.GET or None, years=selectors.grant_years(user=user))
    query = filters.cleaned_data if filters.is_valid() else {}
    grants = selectors.grants_for(
        user=user,
        year=query.get("year") or None,
        funder=query.get("funder") or None,
        status=query.get("status") or None,
    )
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
    organisations = selectors.organisations_where(user=user, roles=[Role.FINANCE])
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
        {**_figures_context(grant), "can_write": selectors.is_finance_of(user=user, of=grant)},
    )


# --- The ledger ---------------------------------------------------------------------------------
@login_required
@require_safe
def grant_ledger(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The running balance is the grant's balance after each row, so filtering hides rows but
    never changes the balance shown on the rows that remain."""
    user = _user(request)
    _require_role(user, *READERS)
    grant = _get_grant_for_user(user, pk)
    filters = LedgerFilterForm(request.GET or None)
    rows = selectors.grant_ledger_rows(grant=grant)
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
            response = post_once(request, form, endpoint, work, lambda: success(data_))
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
        recipient = ledger.recipient_of(grant, data["recipient_type"], data["recipient"])
        assert isinstance(recipient, Centre | Partner)  # the form offers no other type
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

        response = post_once(
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
