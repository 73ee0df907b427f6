"""The compensation rules page (API.md "Money at the edges", "Rates are data"; DOMAIN.md 4.1):
the organisation's per-visit rates over time, and a form to add rates from a date.

CBHV and administrators of an organisation add rules; finance and centre managers read the
table (the rates price the statements they pay and sign); every other role gets 403, also
finance posting the form. A rule is added through `compensation.rule_set()`, the service the
API calls (funding/api/rate_views.py): it recomputes the visits from that date and refuses (409
there, an error on `valid_from` here) a date in or before a paid month, or a second rule from
the same date. The list is one query whatever its length (`rules_for()`, shared with the API).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from core.exceptions import Conflict
from core.forms import DateInput, MoneyField, OrganisationChoiceMixin, ServiceForm, decimal_input
from core.models import Organisation, Role
from core.money import format_money
from core.permissions import request_user as _user
from core.permissions import require_role as _require_role
from funding import compensation
from funding.models import CompensationRule, PaidMonth

# Who reads the rules: the roles that set, pay or sign what they price. Who adds them: CBHV
# and the organisation's administrators (API.md "Rates are data").
RATE_READERS = (Role.CBHV, Role.FINANCE, Role.ADMIN, Role.CENTRE_MANAGER)
RATE_WRITERS = (Role.CBHV, Role.ADMIN)


# --- The selector (shared with the API) -----------------------------------------------------------
def rules_for(
    organisation_ids: Iterable[uuid.UUID],
    *,
    organisation_id: uuid.UUID | None = None,
    year: int | None = None,
) -> QuerySet[CompensationRule]:
    """The rules of `organisation_ids`, each annotated with `next_valid_from` (the start of the
    organisation's next rule, or None), in one query. `year`: the rules in force on at least one
    day of that year (starting on or before its last day, and not ended before its first)."""
    following = (
        CompensationRule.objects.filter(
            organisation_id=OuterRef("organisation_id"), valid_from__gt=OuterRef("valid_from")
        )
        .order_by("valid_from")
        .values("valid_from")[:1]
    )
    rules = (
        CompensationRule.objects.filter(organisation_id__in=list(organisation_ids))
        .annotate(next_valid_from=Subquery(following))
        .select_related("organisation", "created_by")
    )
    if organisation_id is not None:
        rules = rules.filter(organisation_id=organisation_id)
    if year is not None:
        rules = rules.filter(valid_from__lte=datetime.date(year, 12, 31)).filter(
            Q(next_valid_from__isnull=True) | Q(next_valid_from__gt=datetime.date(year, 1, 1))
        )
    return rules


def valid_to(rule: CompensationRule) -> datetime.date | None:
    """The rule's last day: the day before the next rule starts (None while none does)."""
    following: datetime.date | None = getattr(rule, "next_valid_from", None)
    return following - datetime.timedelta(days=1) if following is not None else None


def in_force_on(rule: CompensationRule, day: datetime.date) -> bool:
    end = valid_to(rule)
    return rule.valid_from <= day and (end is None or day <= end)


# --- The form ---------------------------------------------------------------------------------
def _rate_field(label: Any, help_text: Any) -> MoneyField:
    # max_digits as the model's column; the service refuses negatives too (the API's message).
    return MoneyField(
        label=label,
        help_text=help_text,
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("0"),
        localize=True,
        widget=decimal_input(),
        error_messages={"min_value": gettext_lazy("Beloppet kan inte vara negativt.")},
    )


class RateForm(OrganisationChoiceMixin, ServiceForm):
    """Field names as the API's (`POST /api/v1/compensation-rules/`)."""

    valid_from = forms.DateField(
        label=gettext_lazy("Gäller från"),
        widget=DateInput,
        help_text=gettext_lazy("Första dagen de nya beloppen gäller."),
    )
    programme_variable = _rate_field(
        gettext_lazy("Rörlig ersättning per hembesök med socialtjänsten (kr)"),
        gettext_lazy("Genomfört hembesök med socialtjänsten på en BVC utan fast ersättning."),
    )
    ordinary = _rate_field(
        gettext_lazy("Ordinarie ersättning per hembesök (kr)"),
        gettext_lazy("Övriga genomförda hembesök."),
    )

    def __init__(self, *args: Any, organisations: QuerySet[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_organisations(organisations)
        self.order_fields(["organisation", "valid_from", "programme_variable", "ordinary"])


def _earliest_dates(organisations: Iterable[Organisation]) -> list[tuple[Organisation, str]]:
    """Per organisation, the first day a new rule may start: the first of the month after its
    latest paid month (a rule never reaches back into a paid month)."""
    orgs = list(organisations)
    latest = dict(
        PaidMonth.objects.locked()
        .filter(organisation__in=orgs)
        .values("organisation")
        .annotate(latest=Max("month"))
        .values_list("organisation", "latest")
    )
    return [
        (org, compensation.next_month(latest[org.pk]).isoformat())
        for org in orgs
        if latest.get(org.pk) is not None
    ]


# --- The page ---------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def rate_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require_role(user, *RATE_READERS)
    if request.method == "POST" and not user.scope.has_role(*RATE_WRITERS):
        raise PermissionDenied  # finance and centre managers read only
    today = timezone.localdate()
    reader_ids = user.scope.organisation_ids(*RATE_READERS)
    rows = list(rules_for(reader_ids).order_by("organisation__name", "-valid_from", "-id"))
    form: RateForm | None = None
    earliest: list[tuple[Organisation, str]] = []
    if user.scope.has_role(*RATE_WRITERS):
        writable = Organisation.objects.filter(
            pk__in=user.scope.organisation_ids(*RATE_WRITERS)
        ).order_by("name")
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
        earliest = _earliest_dates(writable)
    return render(
        request,
        "funding/rates.html",
        {
            "rows": [
                {"rule": r, "valid_to": valid_to(r), "in_force": in_force_on(r, today)}
                for r in rows
            ],
            "form": form,
            "earliest": earliest,
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
            (r for r in rows if r.organisation_id == only and in_force_on(r, today)), None
        )
        if current is not None:
            initial.update(programme_variable=current.programme_variable, ordinary=current.ordinary)
    return initial
