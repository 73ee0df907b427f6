"""Per-visit compensation, paid months and the monthly payment (DOMAIN.md 4.1; API.md "Visits",
`POST /api/v1/compensation/pay/`, `GET /api/v1/compensation/`).

- `compensation_for()` is the rule of the 4.1 table, pure: place, status, social services and the
  centre's fixed-compensation status on the visit date pick the type; the organisation's
  `CompensationRule` in force on that date gives the amount.
- `VisitCompensation` holds one row per visit. `type`/`amount`/`month` always follow the visit.
  `pv_month`/`pv_amount` are what a month's statement counts as programme-variable: frozen once
  that month is paid; from then on every difference is a `CompensationAdjustment` booked in the
  centre's next open month (`next_open_month()`: the earliest month on or after the current one
  that is not paid).
- `CompensationHook` is registered with `visits.extension` (FundingConfig.ready()): `check()`
  refuses a change that touches a paid month unless it is an adjustment (409), `after_save()`
  recomputes the visit's row in the same transaction.
- `month_pay()` posts one programme-variable payout per centre from the grant and locks the month
  for the whole organisation. Ordinary amounts never touch the grant.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from core.exceptions import Conflict
from core.models import Centre, Organisation, User
from core.money import ZERO, quantize_money
from funding import ledger
from funding.models import (
    Account,
    Application,
    CompensationAdjustment,
    CompensationRule,
    CompensationType,
    Grant,
    LedgerLeg,
    LedgerTransaction,
    PaidMonth,
    PayoutCategory,
    RecipientType,
    VisitCompensation,
)
from visits.extension import memo
from visits.models import Visit, VisitPlace, VisitStatus

T = CompensationType
UNSET: Any = object()


def month_of(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def next_month(month: datetime.date) -> datetime.date:
    return (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


# --- The rule ---------------------------------------------------------------------------------
def rule_in_force(organisation_id: uuid.UUID, day: datetime.date) -> CompensationRule | None:
    return CompensationRule.objects.in_force(organisation_id, day)


def compensation_for(
    visit: Visit,
    fixed_centre_ids_on_date: Iterable[object],
    rule: CompensationRule | None = UNSET,
) -> tuple[str, Decimal, CompensationRule | None]:
    """(type, amount, rule) of `visit` by the table of DOMAIN.md 4.1.

    `fixed_centre_ids_on_date`: the centres with fixed compensation on the visit's date.
    `rule`: the organisation's rule in force on the visit's date (looked up if not given).
    Pure when `rule` is given. Without any rule in force nothing can be paid: `none`, 0.00.
    """
    if visit.status != VisitStatus.COMPLETED or visit.place != VisitPlace.HOME:
        return T.NONE, ZERO, None
    if rule is UNSET:
        rule = rule_in_force(visit.centre.organisation_id, visit.date)
    if rule is None:
        return T.NONE, ZERO, None
    if visit.social_services_present and visit.centre_id not in set(fixed_centre_ids_on_date):
        return T.PROGRAMME_VARIABLE, quantize_money(rule.programme_variable), rule
    return T.ORDINARY, quantize_money(rule.ordinary), rule


def rule_set(
    *,
    user: User | None,
    organisation: Organisation,
    valid_from: datetime.date,
    programme_variable: Decimal,
    ordinary: Decimal,
) -> CompensationRule:
    """A new rule: the organisation's rates from `valid_from` on (API.md "Rates are data"), and
    the visits it prices (from `valid_from` to the day before the next rule) recomputed.

    Rules are added, never changed: a rule that some visit was priced by stays as it was, so a
    second rule from the same date is a Conflict (add one from a later date instead). Never back
    into a paid month: `valid_from` in a month that is paid and locked for any centre of the
    organisation, or before such a month, is a Conflict; so the recomputation touches open
    months only. Amounts: kronor and öre, not negative (ValidationError by field).
    """
    errors: dict[str, list[str]] = {}
    for name, value in (("programme_variable", programme_variable), ("ordinary", ordinary)):
        if not value.is_finite() or int(value.normalize().as_tuple().exponent) < -2:
            errors[name] = [_("Ange beloppet i kronor och ören (högst två decimaler).")]
        elif value < 0:
            errors[name] = [_("Beloppet kan inte vara negativt.")]
    rule = CompensationRule(
        organisation=organisation,
        valid_from=valid_from,
        programme_variable=programme_variable,
        ordinary=ordinary,
        created_by=user,
    )
    if not errors:
        try:
            rule.full_clean(
                exclude=["created_by"], validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # Exclusive, as when paying a month: no month gets paid, and no other rule or visit of
        # the organisation is saved, between the checks below and the recomputation.
        lock_paid_months(organisation.pk, exclusive=True)
        rules = CompensationRule.objects.filter(organisation=organisation)
        if rules.filter(valid_from=valid_from).exists():
            raise Conflict(
                _(
                    "Det finns redan en regel från %(date)s. En regel ändras inte i efterhand; "
                    "lägg till en ny från ett senare datum."
                )
                % {"date": valid_from.isoformat()}
            )
        latest_paid = (
            PaidMonth.objects.locked()
            .filter(organisation=organisation)
            .order_by("-month")
            .values_list("month", flat=True)
            .first()
        )
        if latest_paid is not None and latest_paid >= month_of(valid_from):
            raise Conflict(
                _(
                    "Månaden %(month)s är betald och låst; nya ersättningsnivåer kan gälla "
                    "tidigast från %(from)s."
                )
                % {"month": f"{latest_paid:%Y-%m}", "from": next_month(latest_paid).isoformat()}
            )
        rule.programme_variable = quantize_money(programme_variable)
        rule.ordinary = quantize_money(ordinary)
        rule.save()
        following = (
            rules.filter(valid_from__gt=valid_from)
            .order_by("valid_from")
            .values_list("valid_from", flat=True)
            .first()
        )
        until = following - datetime.timedelta(days=1) if following is not None else None
        for centre in Centre.objects.filter(organisation=organisation):
            recompute_centre(centre, valid_from, until)
    return rule


# --- Paid months ------------------------------------------------------------------------------
def paid_months(centre_id: uuid.UUID, months: Iterable[datetime.date]) -> set[datetime.date]:
    """The months among `months` that are paid and locked for the centre (a month payment
    locked them and its payout to the centre, if any, is not reversed)."""
    return set(
        PaidMonth.objects.locked()
        .filter(centre_id=centre_id, month__in=list(months))
        .values_list("month", flat=True)
    )


def next_open_month(centre_id: uuid.UUID, today: datetime.date | None = None) -> datetime.date:
    """Where a difference is booked: the centre's earliest month on or after the current month
    that is not paid. (Months are paid once they are over, so this is the current month unless
    history is being replayed.)"""
    month = month_of(today or timezone.localdate())
    paid = set(
        PaidMonth.objects.locked()
        .filter(centre_id=centre_id, month__gte=month)
        .values_list("month", flat=True)
    )
    while month in paid:
        month = next_month(month)
    return month


def month_is_over(first: datetime.date, today: datetime.date | None = None) -> bool:
    """A month is paid once it is over (API.md "Money at the edges")."""
    return first < month_of(today or timezone.localdate())


def payable_months(
    organisation_id: uuid.UUID, today: datetime.date | None = None
) -> list[datetime.date]:
    """The months finance may pay: over, with compensation at a centre whose month is open
    (never paid, or reopened by a reversal). Oldest first; four queries."""
    current = month_of(today or timezone.localdate())
    in_org = {"centre__organisation_id": organisation_id}
    items = set(
        VisitCompensation.objects.filter(**in_org, month__lt=current)
        .exclude(type=T.NONE)
        .values_list("centre_id", "month")
        .distinct()
    )
    items |= set(
        VisitCompensation.objects.filter(**in_org, pv_month__lt=current, pv_amount__gt=0)
        .values_list("centre_id", "pv_month")
        .distinct()
    )
    items |= set(
        CompensationAdjustment.objects.filter(**in_org, month__lt=current)
        .values_list("centre_id", "month")
        .distinct()
    )
    locked = set(
        PaidMonth.objects.locked()
        .filter(organisation_id=organisation_id, month__lt=current)
        .values_list("centre_id", "month")
    )
    return sorted({month for _centre, month in items - locked})


def lock_paid_months(organisation_id: uuid.UUID, *, exclusive: bool = False) -> None:
    """Serialise paying a month against saving visits of the organisation (a transaction-scoped
    advisory lock): a visit save holds it shared from its check to its commit, `month_pay()`
    exclusively; so no visit slips into a month while it is being paid."""
    key = uuid.UUID(str(organisation_id)).int >> 65  # fits a signed bigint
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {fn}(%s)", [key])


def _book(
    *,
    centre_id: uuid.UUID,
    amount: Decimal,
    source_month: datetime.date,
    reason: str,
    visit: Visit | None = None,
) -> CompensationAdjustment | None:
    if amount == 0:
        return None
    return CompensationAdjustment.objects.create(
        centre_id=centre_id,
        month=next_open_month(centre_id),
        source_month=source_month,
        amount=amount,
        visit=visit,
        reason=reason,
    )


# --- Recomputation ----------------------------------------------------------------------------
def _store(
    visit: Visit,
    computed: tuple[str, Decimal, CompensationRule | None],
    paid: set[datetime.date] | None = None,
) -> VisitCompensation:
    """Write the visit's row; a difference against a paid month becomes an adjustment."""
    kind, amount, rule = computed
    month = month_of(visit.date)
    new_pv = amount if kind == T.PROGRAMME_VARIABLE else ZERO
    old = VisitCompensation.objects.select_for_update().filter(visit_id=visit.pk).first()
    if paid is None:
        paid = _paid_months_memo(visit.centre_id, {month} | ({old.pv_month} if old else set()))
    if old is not None and old.pv_month in paid:
        pv_month, pv_amount = old.pv_month, old.pv_amount  # what the paid month counted
    elif month in paid:
        pv_month, pv_amount = month, ZERO  # a new entry in a paid month: all of it adjusts
    else:
        pv_month, pv_amount = month, new_pv
    row = old or VisitCompensation(visit_id=visit.pk)
    row.centre_id = visit.centre_id
    row.month = month
    row.type = kind
    row.amount = amount
    row.rule = rule
    row.pv_month = pv_month
    row.pv_amount = pv_amount
    row.save(force_insert=old is None)
    if pv_month in paid:
        settled = (
            pv_amount
            + CompensationAdjustment.objects.filter(visit_id=visit.pk).aggregate(
                s=Coalesce(Sum("amount"), ZERO)
            )["s"]
        )
        _book(
            centre_id=visit.centre_id,
            amount=new_pv - settled,
            source_month=pv_month,
            reason=_("Ändrat besök %(date)s i betald månad %(month)s")
            % {"date": visit.date.isoformat(), "month": f"{pv_month:%Y-%m}"},
            visit=visit,
        )
    return row


def recompute_visit(visit: Visit) -> VisitCompensation:
    organisation_id = _organisation_of(visit.centre_id)
    _lock_paid_months_once(organisation_id)  # also on the adjustment path (no check() lock then)
    fixed = memo(
        ("fixed_on", visit.centre_id, visit.date),
        lambda: set(
            Application.objects.fixed_on(visit.date)
            .filter(centre_id=visit.centre_id)
            .values_list("centre_id", flat=True)
        ),
    )
    rule = memo(
        ("rule_in_force", organisation_id, visit.date),
        lambda: rule_in_force(organisation_id, visit.date),
    )
    return _store(visit, compensation_for(visit, fixed, rule))


# Within `visits.extension.many_visits()` (a journal import), computed once: the month lock is
# held until the transaction ends, so the paid months cannot change meanwhile.
def _organisation_of(centre_id: uuid.UUID) -> uuid.UUID:
    return memo(
        ("organisation_of", centre_id),
        lambda: Centre.objects.values_list("organisation_id", flat=True).get(pk=centre_id),
    )


def _lock_paid_months_once(organisation_id: uuid.UUID) -> None:
    memo(("lock_paid_months", organisation_id), lambda: lock_paid_months(organisation_id))


def _paid_months_memo(centre_id: uuid.UUID, months: set[datetime.date]) -> set[datetime.date]:
    return memo(
        ("paid_months", centre_id, frozenset(months)), lambda: paid_months(centre_id, months)
    )


def recompute_centre(
    centre: Centre, from_date: datetime.date, to_date: datetime.date | None = None
) -> int:
    """Recompute every visit of `centre` dated in [from_date, to_date] (after a decision, a
    withdrawal or a rate change): open months follow; paid months get adjustments. A handful of
    queries for the ranges plus one write per visit."""
    visits = Visit.objects.filter(centre=centre, date__gte=from_date)
    if to_date is not None:
        visits = visits.filter(date__lte=to_date)
    visits_list = list(visits.order_by("date", "id"))
    if not visits_list:
        return 0
    # Fixed status per date: `Application.gives_fixed_on()` on the centre's approved
    # applications of those years, loaded once (the row form of `Application.objects.fixed_on()`).
    applications = list(
        Application.objects.filter(
            centre=centre, year__in={v.date.year for v in visits_list}, approved=True
        )
    )

    def fixed_on(day: datetime.date) -> set[object]:
        return {centre.pk} if any(a.gives_fixed_on(day) for a in applications) else set()

    rules = list(
        CompensationRule.objects.filter(organisation_id=centre.organisation_id).order_by(
            "-valid_from"
        )
    )

    def rule_on(day: datetime.date) -> CompensationRule | None:
        return next((r for r in rules if r.valid_from <= day), None)

    with transaction.atomic():
        lock_paid_months(centre.organisation_id)
        paid = set(PaidMonth.objects.locked().filter(centre=centre).values_list("month", flat=True))
        for visit in visits_list:
            visit.centre = centre
            computed = compensation_for(visit, fixed_on(visit.date), rule_on(visit.date))
            _store(visit, computed, paid)
    return len(visits_list)


def recompute_application(application: Application) -> int:
    """After an approval or a withdrawal: the visits of the application's year from the day the
    status changed."""
    if not application.approved:
        return 0
    start = application.withdrawn_on or application.effective_from
    if start is None:
        return 0
    return recompute_centre(application.centre, start, datetime.date(application.year, 12, 31))


# --- The hook ---------------------------------------------------------------------------------
class CompensationHook:
    """Takes part in every visit save (visits.extension.VisitHook)."""

    def check(self, visit: Visit, adjustment: bool) -> None:
        if adjustment:
            return
        months = {month_of(visit.date)}
        if not visit._state.adding:  # a change: the month it moves from counts too
            stored = Visit.objects.filter(pk=visit.pk).values_list("date", flat=True).first()
            if stored is not None:
                months.add(month_of(stored))
        organisation_id = _organisation_of(visit.centre_id)
        _lock_paid_months_once(organisation_id)
        locked = _paid_months_memo(visit.centre_id, months)
        if locked:
            month = min(locked)
            raise Conflict(
                _(
                    "Månaden %(month)s är betald och låst. Markera ändringen som en justering; "
                    "skillnaden bokas då i nästa öppna månad."
                )
                % {"month": f"{month:%Y-%m}"}
            )

    def after_save(self, visit: Visit) -> None:
        recompute_visit(visit)


HOOK = CompensationHook()


def compensation_of(visit: Visit) -> dict[str, str]:
    """API.md: `compensation` of a visit, `{"type", "amount"}` (none when not computed)."""
    row = getattr(visit, "compensation", None)
    if row is None:
        return {"type": T.NONE.value, "amount": "0.00"}
    return {"type": row.type, "amount": f"{row.amount:.2f}"}


# --- Statements -------------------------------------------------------------------------------
@dataclass(frozen=True)
class StatementRow:
    centre_id: uuid.UUID
    centre_name: str
    month: datetime.date
    visits: int
    programme_variable: Decimal
    ordinary: Decimal
    adjustments: Decimal
    locked: bool
    # Net paid from the grant for the month by month payments (payouts less their reversals):
    # a reversed payout shows here as 0.00 and reopens the month.
    paid: Decimal = ZERO
    # For an adjustment of this year settled in a month of the next year (`settled_next_year`):
    # the month it is booked and paid in.
    settled_in: datetime.date | None = None

    @property
    def total(self) -> Decimal:
        return self.programme_variable + self.ordinary + self.adjustments

    @property
    def net_programme_variable(self) -> Decimal:
        """What the grant pays for the month: programme-variable plus adjustments."""
        return self.programme_variable + self.adjustments


STATEMENT_SQL = """
WITH items AS (
    SELECT centre_id, month, 1 AS visits, 0::numeric AS pv,
           CASE WHEN type = %(ordinary)s THEN amount ELSE 0 END AS ordinary, 0::numeric AS adj
      FROM {vc} WHERE type <> %(none)s
    UNION ALL
    SELECT centre_id, pv_month, 0, pv_amount, 0, 0 FROM {vc} WHERE pv_amount <> 0
    UNION ALL
    SELECT centre_id, month, 0, 0, 0, amount FROM {adj}
), paid AS (
    SELECT pm.centre_id, pm.month,
           bool_or(r.id IS NULL) AS locked,
           COALESCE(SUM(pl.amount), 0) + COALESCE(SUM(rl.amount), 0) AS paid
      FROM {pm} pm
      LEFT JOIN {leg} pl ON pl.transaction_id = pm.payout_id AND pl.account = %(paid_account)s
      LEFT JOIN {tx} r ON r.reverses_id = pm.payout_id
      LEFT JOIN {leg} rl ON rl.transaction_id = r.id AND rl.account = %(paid_account)s
     WHERE pm.organisation_id = %(organisation)s AND pm.month >= %(start)s AND pm.month < %(end)s
     GROUP BY pm.centre_id, pm.month
)
SELECT c.id, c.name, i.month, SUM(i.visits), SUM(i.pv), SUM(i.ordinary), SUM(i.adj),
       COALESCE(p.locked, false), COALESCE(p.paid, 0)
  FROM items i
  JOIN {centre} c ON c.id = i.centre_id
  LEFT JOIN paid p ON p.centre_id = i.centre_id AND p.month = i.month
 WHERE c.organisation_id = %(organisation)s AND i.month >= %(start)s AND i.month < %(end)s
   {centre_filter}
 GROUP BY c.id, c.name, i.month, p.locked, p.paid
 ORDER BY i.month, c.name
"""


def _period(year: int, month: int | None) -> tuple[datetime.date, datetime.date]:
    if month is None:
        return datetime.date(year, 1, 1), datetime.date(year + 1, 1, 1)
    start = datetime.date(year, month, 1)
    return start, next_month(start)


def statements(
    organisation: Organisation | uuid.UUID,
    year: int,
    month: int | None = None,
    centre: Centre | uuid.UUID | None = None,
) -> list[StatementRow]:
    """API.md `GET /api/v1/compensation/`: per centre and month, one query. A centre's month is
    `locked` while a month payment's lock on it stands (its payout, if any, not reversed)."""
    organisation_id = getattr(organisation, "pk", organisation)
    start, end = _period(year, month)
    params: dict[str, Any] = {
        "ordinary": T.ORDINARY.value,
        "none": T.NONE.value,
        "organisation": organisation_id,
        "start": start,
        "end": end,
        "paid_account": Account.PAID.value,
    }
    centre_filter = ""
    if centre is not None:
        centre_filter = "AND c.id = %(centre)s"
        params["centre"] = getattr(centre, "pk", centre)
    sql = STATEMENT_SQL.format(
        vc=VisitCompensation._meta.db_table,
        adj=CompensationAdjustment._meta.db_table,
        centre=Centre._meta.db_table,
        pm=PaidMonth._meta.db_table,
        leg=LedgerLeg._meta.db_table,
        tx=LedgerTransaction._meta.db_table,
        centre_filter=centre_filter,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        StatementRow(
            centre_id=r[0],
            centre_name=r[1],
            month=r[2],
            visits=int(r[3]),
            programme_variable=quantize_money(r[4]),
            ordinary=quantize_money(r[5]),
            adjustments=quantize_money(r[6]),
            locked=bool(r[7]),
            paid=quantize_money(r[8]),
        )
        for r in rows
    ]


def settled_next_year(
    organisation: Organisation | uuid.UUID,
    year: int,
    month: int | None = None,
    centre: Centre | uuid.UUID | None = None,
) -> list[StatementRow]:
    """The year boundary (API.md "Money at the edges"): adjustments that arose from visits of
    `year` (their source month) but are booked in a month of a later year, because the year's
    months were paid by then. Listed in the year's statements and reports as "settled next
    year", one row per centre, source month and booking month; they are paid, and counted, in
    the month they are booked in."""
    start, end = _period(year, month)
    adjustments = CompensationAdjustment.objects.filter(
        centre__organisation_id=getattr(organisation, "pk", organisation),
        source_month__gte=start,
        source_month__lt=end,
        month__gte=datetime.date(year + 1, 1, 1),
    )
    if centre is not None:
        adjustments = adjustments.filter(centre_id=getattr(centre, "pk", centre))
    grouped = (
        adjustments.values("centre_id", "centre__name", "source_month", "month")
        .annotate(total=Sum("amount"))
        .order_by("source_month", "centre__name", "month")
    )
    return [
        StatementRow(
            centre_id=g["centre_id"],
            centre_name=g["centre__name"],
            month=g["source_month"],
            visits=0,
            programme_variable=ZERO,
            ordinary=ZERO,
            adjustments=quantize_money(g["total"]),
            locked=False,
            settled_in=g["month"],
        )
        for g in grouped
        if g["total"] != 0
    ]


# --- Paying a month ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CentrePayout:
    centre_id: uuid.UUID
    amount: Decimal
    transaction: LedgerTransaction


@dataclass(frozen=True)
class MonthPayment:
    month: datetime.date
    payouts: list[CentrePayout]
    moved: dict[uuid.UUID, Decimal]  # negative nets moved to the next open month

    @property
    def total(self) -> Decimal:
        return sum((p.amount for p in self.payouts), ZERO)


def payable(rows: Iterable[StatementRow]) -> dict[uuid.UUID, Decimal]:
    """What paying the month pays each centre: its positive net programme-variable amount (a
    negative net pays nothing and moves on to the next open month)."""
    return {r.centre_id: r.net_programme_variable for r in rows if r.net_programme_variable > 0}


def month_pay(
    *, user: User, grant: Grant, year: int, month: int, today: datetime.date | None = None
) -> MonthPayment:
    """Pay one month once it is over: a programme-variable payout per centre of its
    programme_variable + adjustments, dated today, from `grant`; the month is locked for every
    centre of the organisation whose month was open (a `PaidMonth` each, also for those paid
    nothing). Conflict when no centre's month is open. All or nothing: beyond the grant's
    balance → ValidationError and nothing is posted.

    `today` is for replaying history (the demo's past years); pages and the API never pass it.
    """
    if not 1 <= month <= 12:
        raise ValidationError({"month": [_("Ange en månad 1–12.")]})
    first = datetime.date(year, month, 1)
    today = today or timezone.localdate()
    organisation_id = grant.organisation_id
    with transaction.atomic():
        locked_grant = Grant.objects.select_for_update().get(pk=grant.pk)
        lock_paid_months(organisation_id, exclusive=True)
        centres = set(
            Centre.objects.filter(organisation_id=organisation_id).values_list("pk", flat=True)
        )
        open_centres = centres - set(
            PaidMonth.objects.locked()
            .filter(organisation_id=organisation_id, month=first)
            .values_list("centre_id", flat=True)
        )
        # Only the centres whose month is open: after a reversal reopened one centre's month,
        # paying the month again pays that centre alone.
        rows = [r for r in statements(organisation_id, year, month) if not r.locked]
        nets = {r.centre_id: r.net_programme_variable for r in rows}
        positive = payable(rows)
        total = sum(positive.values(), ZERO)
        # The input's limit (400) answers before the state (409), as API.md orders.
        balance = ledger.figures(locked_grant).balance
        if total > balance:
            raise ValidationError(
                {
                    "grant": [
                        _("Månaden kostar %(total)s men bidraget har %(balance)s kvar.")
                        % {"total": total, "balance": balance}
                    ]
                }
            )
        if not month_is_over(first, today):
            # A month is paid once it is over: paying it earlier would lock it while nurses
            # still log its visits (API.md "Money at the edges").
            raise Conflict(
                _("Månaden %(month)s är inte slut; den kan betalas från %(from)s.")
                % {"month": f"{first:%Y-%m}", "from": next_month(first).isoformat()}
            )
        if locked_grant.closed_at is not None:
            raise Conflict(_("Bidraget är avslutat."))
        if today > locked_grant.use_by:
            raise Conflict(_("Bidraget får inte användas efter %s.") % locked_grant.use_by)
        if not centres:
            raise Conflict(_("Organisationen har inga BVC att betala."))
        if not open_centres:
            raise Conflict(_("Månaden %s är redan betald.") % f"{first:%Y-%m}")
        payouts = [
            CentrePayout(
                centre_id=centre_id,
                amount=amount,
                transaction=ledger.payout_post(
                    user=user,
                    grant=locked_grant,
                    recipient_type=RecipientType.CENTRE,
                    recipient_id=centre_id,
                    category=PayoutCategory.PROGRAMME_VARIABLE,
                    amount=amount,
                    date=today,
                    reference=f"Rörlig ersättning {first:%Y-%m}",
                ),
            )
            for centre_id, amount in sorted(positive.items(), key=lambda kv: str(kv[0]))
        ]
        by_centre = {p.centre_id: p.transaction for p in payouts}
        PaidMonth.objects.bulk_create(
            PaidMonth(
                organisation_id=organisation_id,
                centre_id=centre_id,
                month=first,
                grant=locked_grant,
                payout=by_centre.get(centre_id),
                paid_by=user,
            )
            for centre_id in sorted(open_centres, key=str)
        )
        moved: dict[uuid.UUID, Decimal] = {}
        for centre_id, net in nets.items():
            if net >= 0:
                continue
            # The paid month nets to zero; the negative amount lands in the next open month.
            CompensationAdjustment.objects.create(
                centre_id=centre_id,
                month=first,
                source_month=first,
                amount=-net,
                reason=_("Negativt netto flyttat till nästa öppna månad"),
            )
            _book(
                centre_id=centre_id,
                amount=net,
                source_month=first,
                reason=_("Negativt netto från %s") % f"{first:%Y-%m}",
            )
            moved[centre_id] = net
    return MonthPayment(month=first, payouts=payouts, moved=moved)


class CompensationDescriber:
    """How a visit's `compensation` is shown in the visits API (visits.extension)."""

    field = "compensation"
    select_related: tuple[str, ...] = ("compensation",)

    def describe(self, visit: Visit) -> dict[str, str]:
        return compensation_of(visit)


DESCRIBER = CompensationDescriber()


@dataclass(frozen=True)
class VisitCompensationView:
    """A visit's compensation as the visit page shows it: the type's label, the amount, and the
    adjustments its changes caused in paid months."""

    label: str
    amount: Decimal
    adjustments: list[CompensationAdjustment]


class CompensationPageDescriber:
    """How the visit page shows a visit's compensation (visits.extension; one query for the
    visit's adjustments)."""

    field = "compensation_page"
    select_related: tuple[str, ...] = ()

    def describe(self, visit: Visit) -> VisitCompensationView:
        row = getattr(visit, "compensation", None)
        kind = T(row.type) if row is not None else T.NONE
        return VisitCompensationView(
            label=str(kind.label),
            amount=row.amount if row is not None else ZERO,
            adjustments=list(
                CompensationAdjustment.objects.filter(visit_id=visit.pk).order_by("created_at")
            ),
        )


PAGE_DESCRIBER = CompensationPageDescriber()
