"""Grants and their double-entry ledger (DOMAIN.md 4.3; API.md "Grants and ledger").

Every movement is one `LedgerTransaction` whose legs sum to zero (the database checks at commit)
and which is never changed: a mistake is corrected by `reversal_post()`. Figures are computed
from the legs, never stored, except `unused` frozen at close. Writes on a grant lock its row
first (`select_for_update`), so concurrent payouts serialise and never overdraw.

Signs, from the grant's side (API.md): a transaction's `amount` is its leg on `balance`
(receipts positive; payouts, carry-overs and repayments negative); an allocation is a
commitment, shown positive, that leaves the balance as it is.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from core.dates import add_years
from core.exceptions import Conflict
from core.models import Centre, Organisation, Partner, User
from core.money import ZERO, quantize_money
from funding.models import (
    Account,
    Funder,
    Grant,
    LedgerLeg,
    LedgerTransaction,
    PartnerAgreement,
    PayoutCategory,
    RecipientType,
    TxKind,
)

# How far from today a grant's dates may lie: deadlines within 10 years ahead (issue 24); a
# grant's history may be registered up to 20 years back (the SKL agreements of 2018–2020 are
# still reported on).
GRANT_DATE_YEARS_AHEAD = 10
GRANT_DATE_YEARS_BACK = 20
# Payouts that may not exceed what is allocated to the recipient and not yet paid to it.

ALLOCATION_BOUND = (PayoutCategory.FIXED, PayoutCategory.PARTNER_TRANSFER)
# Who each payout category goes to (API.md: `coordination` goes to the grant's organisation).
CATEGORY_RECIPIENT = {
    PayoutCategory.PROGRAMME_VARIABLE: RecipientType.CENTRE,
    PayoutCategory.FIXED: RecipientType.CENTRE,
    PayoutCategory.PARTNER_TRANSFER: RecipientType.PARTNER,
    PayoutCategory.COORDINATION: RecipientType.ORGANISATION,
}
RECIPIENT_LABEL = {
    RecipientType.CENTRE: _lazy("en BVC"),
    RecipientType.PARTNER: _lazy("en samverkanspart"),
    RecipientType.ORGANISATION: _lazy("bidragets egen organisation"),
}


@dataclass(frozen=True)
class GrantFigures:
    amount: Decimal  # received (receipts, including carry-overs in from earlier grants)
    allocated: Decimal
    paid_out: Decimal
    carried_over: Decimal
    repaid: Decimal
    closed: bool
    unused_at_close: Decimal | None

    @property
    def balance(self) -> Decimal:
        return self.amount - self.paid_out - self.carried_over - self.repaid

    @property
    def unallocated(self) -> Decimal:
        """What may still be committed: net allocations never exceed what was received."""
        return self.amount - self.allocated

    @property
    def unused(self) -> Decimal:
        if self.unused_at_close is not None:
            return self.unused_at_close
        return self.amount - self.paid_out

    @property
    def repayment_due(self) -> Decimal:
        if not self.closed:
            return ZERO
        return max(ZERO, self.unused - self.carried_over - self.repaid)


def _sum(account: str) -> Coalesce:
    return Coalesce(
        Sum("transactions__legs__amount", filter=Q(transactions__legs__account=account)),
        ZERO,
    )


def with_figures(qs: QuerySet[Grant]) -> QuerySet[Grant]:
    """Annotate the ledger sums in the same query (one per list, whatever its length)."""
    return qs.annotate(
        fig_funder=_sum(Account.FUNDER),
        fig_allocated=_sum(Account.ALLOCATED),
        fig_paid=_sum(Account.PAID),
        fig_carried=_sum(Account.CARRIED_OVER),
        fig_repaid=_sum(Account.REPAID),
    )


def figures(grant: Grant) -> GrantFigures:
    if not hasattr(grant, "fig_funder"):
        grant = with_figures(Grant.objects.filter(pk=grant.pk)).get()
    return GrantFigures(
        amount=-grant.fig_funder,  # type: ignore[attr-defined]
        allocated=grant.fig_allocated,  # type: ignore[attr-defined]
        paid_out=grant.fig_paid,  # type: ignore[attr-defined]
        carried_over=grant.fig_carried,  # type: ignore[attr-defined]
        repaid=grant.fig_repaid,  # type: ignore[attr-defined]
        closed=grant.closed_at is not None,
        unused_at_close=grant.unused_at_close,
    )


def recipient_open_allocation(
    grant: Grant, recipient_type: str, recipient_id: uuid.UUID
) -> Decimal:
    """Allocated to the recipient and not yet paid to it (fixed and partner payouts)."""
    legs = LedgerLeg.objects.filter(
        transaction__grant=grant,
        transaction__recipient_type=recipient_type,
        transaction__recipient_id=recipient_id,
    )
    allocated: Decimal = legs.filter(account=Account.ALLOCATED).aggregate(
        s=Coalesce(Sum("amount"), ZERO)
    )["s"]
    paid: Decimal = legs.filter(
        account=Account.PAID, transaction__category__in=list(ALLOCATION_BOUND)
    ).aggregate(s=Coalesce(Sum("amount"), ZERO))["s"]
    return allocated - paid


def _post(
    *,
    grant: Grant,
    user: User,
    kind: str,
    date: datetime.date,
    legs: list[tuple[str, Decimal]],
    category: str = "",
    recipient_type: str = "",
    recipient_id: uuid.UUID | None = None,
    reference: str = "",
    reverses: LedgerTransaction | None = None,
) -> LedgerTransaction:
    """The one way money is written. Callers hold the grant's row lock."""
    tx = LedgerTransaction.objects.create(
        grant=grant,
        kind=kind,
        category=category,
        date=date,
        recipient_type=recipient_type,
        recipient_id=recipient_id,
        reference=reference,
        reverses=reverses,
        created_by=user,
    )
    LedgerLeg.objects.bulk_create(
        [LedgerLeg(transaction=tx, account=account, amount=amount) for account, amount in legs]
    )
    return tx


def _positive(amount: Decimal, field: str = "amount") -> Decimal:
    amount = quantize_money(amount)
    if amount <= 0:
        raise ValidationError({field: [_("Ange ett belopp över 0.")]})
    return amount


def _locked(grant: Grant) -> Grant:
    return Grant.objects.select_for_update().get(pk=grant.pk)


RECIPIENT_MODELS: dict[str, type[Centre] | type[Partner] | type[Organisation]] = {
    RecipientType.CENTRE: Centre,
    RecipientType.PARTNER: Partner,
    RecipientType.ORGANISATION: Organisation,
}


def require_recipient(grant: Grant, recipient: Centre | Partner | Organisation) -> None:
    """The one rule for who may receive the grant's money (allocations and payouts alike): a
    centre or partner of the grant's organisation, or that organisation itself. Anything else,
    another organisation's centre included, is a ValidationError on `recipient`."""
    owner = recipient.pk if isinstance(recipient, Organisation) else recipient.organisation_id
    if owner != grant.organisation_id:
        raise ValidationError({"recipient": [_("Mottagaren finns inte i bidragets organisation.")]})


def recipient_of(
    grant: Grant, recipient_type: str, recipient_id: uuid.UUID | None
) -> Centre | Partner | Organisation:
    """The recipient named by type and id, checked by `require_recipient()`; an id that names
    no recipient of that type is the same ValidationError on `recipient`."""
    model = RECIPIENT_MODELS.get(recipient_type)
    found = model.objects.filter(pk=recipient_id).first() if model is not None else None
    if found is None:
        raise ValidationError({"recipient": [_("Mottagaren finns inte i bidragets organisation.")]})
    require_recipient(grant, found)
    return found


def _require_balance(grant: Grant, amount: Decimal) -> None:
    """Nothing leaves the grant beyond what is left (the caller holds the row lock)."""
    balance = figures(grant).balance
    if amount > balance:
        raise ValidationError(
            {"amount": [_("Beloppet är större än det som finns kvar (%s).") % balance]}
        )


def require_unallocated(grant: Grant, amount: Decimal, field: str = "amount") -> None:
    """Commitments stay within the grant (API.md "Money at the edges"); the caller holds the
    grant's row lock."""
    unallocated = figures(grant).unallocated
    if amount > unallocated:
        raise ValidationError(
            {
                field: [
                    _("Beloppet är större än det som återstår att fördela av bidraget (%s).")
                    % unallocated
                ]
            }
        )


def partner_allocated(organisation_id: uuid.UUID, partner_id: uuid.UUID, year: int) -> Decimal:
    """Net allocations to a partner on the organisation's grants of `year` (reversals
    included, so a reversed allocation frees its amount)."""
    allocated: Decimal = LedgerLeg.objects.filter(
        account=Account.ALLOCATED,
        transaction__recipient_type=RecipientType.PARTNER,
        transaction__recipient_id=partner_id,
        transaction__grant__organisation_id=organisation_id,
        transaction__grant__year=year,
    ).aggregate(s=Coalesce(Sum("amount"), ZERO))["s"]
    return allocated


def _require_within_agreement(grant: Grant, partner_id: uuid.UUID, amount: Decimal) -> None:
    """A partner agreement's yearly amount caps what is allocated to the partner on all grants
    of that year, whichever endpoint allocates. The agreements' rows are locked, so two
    allocations on different grants of the year cannot both pass."""
    agreements = list(
        PartnerAgreement.objects.select_for_update()
        .covering(partner_id, grant.year)
        .filter(organisation_id=grant.organisation_id)
    )
    if not agreements:
        return
    cap = sum((a.yearly_amount for a in agreements), ZERO)
    left = cap - partner_allocated(grant.organisation_id, partner_id, grant.year)
    if amount > left:
        raise ValidationError(
            {
                "amount": [
                    _(
                        "Överenskommelsen med samverkansparten medger %(cap)s för %(year)s; "
                        "%(left)s återstår att fördela."
                    )
                    % {"cap": cap, "year": grant.year, "left": max(left, ZERO)}
                ]
            }
        )


def _require_movement_date(grant: Grant, date: datetime.date) -> None:
    """A payout or repayment is dated neither in the future nor before the grant's receipt
    (400 on `date`; after use_by is the grant's state, 409, checked by the caller)."""
    if date > timezone.localdate():
        raise ValidationError({"date": [_("Datumet ligger i framtiden.")]})
    if date < grant.received_on:
        raise ValidationError(
            {"date": [_("Datumet ligger före bidragets mottagande (%s).") % grant.received_on]}
        )


def _open(grant: Grant) -> None:
    if grant.closed_at is not None:
        raise Conflict(_("Bidraget är avslutat."))


def grant_create(
    *,
    user: User,
    organisation: Organisation,
    funder: str,
    reference: str,
    year: int,
    amount: Decimal,
    received_on: datetime.date,
    use_by: datetime.date,
    report_due: datetime.date,
    conditions: str = "",
    requisitioned_on: datetime.date | None = None,
) -> Grant:
    """Register a grant and post its receipt."""
    amount = _positive(amount)
    errors: dict[str, list[str]] = {}
    if funder not in Funder.values:
        errors["funder"] = [_("Välj bidragsgivare.")]
    if not reference.strip():
        errors["reference"] = [_("Ange beslutets diarienummer.")]
    if use_by < received_on:
        errors["use_by"] = [_("Sista användningsdag ligger före mottagandet.")]
    if report_due < use_by:
        errors["report_due"] = [_("Redovisningen kan inte ligga före sista användningsdag.")]
    # Plausible dates only (issue 24, item 9): a mistyped year (9999, 1926) is a 400 here, not
    # a deadline nobody will meet.
    today = timezone.localdate()
    earliest = add_years(today, -GRANT_DATE_YEARS_BACK)
    latest = add_years(today, GRANT_DATE_YEARS_AHEAD)
    dates = {
        "requisitioned_on": requisitioned_on,
        "received_on": received_on,
        "use_by": use_by,
        "report_due": report_due,
    }
    for name, day in dates.items():
        if day is not None and not earliest <= day <= latest:
            errors.setdefault(name, []).append(
                _("Ange ett datum mellan %(earliest)s och %(latest)s.")
                % {"earliest": earliest.isoformat(), "latest": latest.isoformat()}
            )
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            grant = Grant.objects.create(
                organisation=organisation,
                funder=funder,
                reference=reference.strip(),
                year=year,
                amount=amount,
                requisitioned_on=requisitioned_on,
                received_on=received_on,
                use_by=use_by,
                report_due=report_due,
                conditions=conditions.strip(),
                created_by=user,
            )
            _post(
                grant=grant,
                user=user,
                kind=TxKind.RECEIPT,
                date=received_on,
                legs=[(Account.FUNDER, -amount), (Account.BALANCE, amount)],
                reference=grant.reference,
            )
    except IntegrityError as exc:
        raise Conflict(_("Bidragsgivaren har redan ett beslut med det diarienumret.")) from exc
    return grant


def allocation_post(
    *,
    user: User,
    grant: Grant,
    recipient: Centre | Partner,
    amount: Decimal,
    purpose: str = "",
    date: datetime.date | None = None,
) -> LedgerTransaction:
    """Commit part of the grant to a centre or partner (a commitment, not a movement)."""
    amount = _positive(amount)
    if not isinstance(recipient, Centre | Partner):
        raise ValidationError({"recipient_type": [_("Fördela till en BVC eller samverkanspart.")]})
    recipient_type = (
        RecipientType.CENTRE if isinstance(recipient, Centre) else RecipientType.PARTNER
    )
    require_recipient(grant, recipient)
    with transaction.atomic():
        locked = _locked(grant)
        require_unallocated(locked, amount)
        if recipient_type == RecipientType.PARTNER:
            _require_within_agreement(locked, recipient.pk, amount)
        _open(locked)
        return _post(
            grant=locked,
            user=user,
            kind=TxKind.ALLOCATION,
            date=date or timezone.localdate(),
            legs=[(Account.UNALLOCATED, -amount), (Account.ALLOCATED, amount)],
            recipient_type=recipient_type,
            recipient_id=recipient.pk,
            reference=purpose.strip(),
        )


def payout_post(
    *,
    user: User,
    grant: Grant,
    recipient_type: str,
    recipient_id: uuid.UUID,
    category: str,
    amount: Decimal,
    date: datetime.date,
    reference: str = "",
) -> LedgerTransaction:
    """Pay from the grant. Never beyond the balance, nor beyond what is allocated to a
    recipient for fixed compensation and partner transfers; never after use-by."""
    amount = _positive(amount)
    if category not in PayoutCategory.values:
        raise ValidationError({"category": [_("Välj kategori.")]})
    if recipient_type not in RecipientType.values:
        raise ValidationError({"recipient_type": [_("Välj typ av mottagare.")]})
    expected = CATEGORY_RECIPIENT[PayoutCategory(category)]
    if recipient_type != expected:
        raise ValidationError(
            {
                "recipient_type": [
                    _("%(category)s betalas till %(recipient)s.")
                    % {
                        "category": PayoutCategory(category).label,
                        "recipient": RECIPIENT_LABEL[expected],
                    }
                ]
            }
        )
    recipient_of(grant, recipient_type, recipient_id)
    with transaction.atomic():
        locked = _locked(grant)  # serialises payouts on this grant
        # The input's limits (400) answer before the grant's state (409), as API.md orders.
        _require_balance(locked, amount)
        if category in ALLOCATION_BOUND:
            open_allocation = recipient_open_allocation(locked, recipient_type, recipient_id)
            if amount > open_allocation:
                raise ValidationError(
                    {
                        "amount": [
                            _(
                                "Beloppet är större än det som är fördelat till mottagaren och "
                                "inte utbetalt (%s)."
                            )
                            % open_allocation
                        ]
                    }
                )
        # Before the receipt is refused for every payout (400 on `date`), which also holds a
        # partner agreement "only if the grant is received" (seed 003, Leanlink).
        _require_movement_date(locked, date)
        _open(locked)
        if date > locked.use_by:
            raise Conflict(_("Bidraget får inte användas efter %s.") % locked.use_by)
        return _post(
            grant=locked,
            user=user,
            kind=TxKind.PAYOUT,
            date=date,
            legs=[(Account.BALANCE, -amount), (Account.PAID, amount)],
            category=category,
            recipient_type=recipient_type,
            recipient_id=recipient_id,
            reference=reference.strip(),
        )


def reversal_post(
    *, user: User, grant: Grant, original: LedgerTransaction, reason: str
) -> LedgerTransaction:
    """Correct a mistake: a transaction with the opposite legs, linked to the original."""
    if not reason.strip():
        raise ValidationError({"reason": [_("Ange varför transaktionen rättas.")]})
    if original.grant_id != grant.pk:
        raise ValidationError({"transaction": [_("Transaktionen hör till ett annat bidrag.")]})
    if original.kind in (TxKind.RECEIPT, TxKind.REVERSAL):
        raise ValidationError({"transaction": [_("Den här transaktionen kan inte rättas.")]})
    with transaction.atomic():
        locked = _locked(grant)
        _open(locked)
        if LedgerTransaction.objects.filter(reverses=original).exists():
            raise Conflict(_("Transaktionen är redan rättad."))
        legs = [(leg.account, -leg.amount) for leg in original.legs.all()]
        return _post(
            grant=locked,
            user=user,
            kind=TxKind.REVERSAL,
            date=timezone.localdate(),
            legs=legs,
            category=original.category,
            recipient_type=original.recipient_type,
            recipient_id=original.recipient_id,
            reference=reason.strip(),
            reverses=original,
        )


def grant_close(*, user: User, grant: Grant) -> GrantFigures:
    """Freeze `unused`; closing again changes nothing. Posts no ledger row: the repayment,
    when made, is the movement."""
    with transaction.atomic():
        locked = _locked(grant)
        if locked.closed_at is None:
            state = figures(locked)
            locked.closed_at = timezone.now()
            locked.unused_at_close = state.amount - state.paid_out
            locked.save(update_fields=["closed_at", "unused_at_close"])
        return figures(locked)


def repayment_post(
    *, user: User, grant: Grant, amount: Decimal, date: datetime.date, reference: str
) -> LedgerTransaction:
    """Money repaid to the funder against its invoice (also after close)."""
    amount = _positive(amount)
    if not reference.strip():
        raise ValidationError({"reference": [_("Ange fakturans referens.")]})
    with transaction.atomic():
        locked = _locked(grant)
        _require_movement_date(locked, date)
        _require_balance(locked, amount)
        return _post(
            grant=locked,
            user=user,
            kind=TxKind.REPAYMENT,
            date=date,
            legs=[(Account.BALANCE, -amount), (Account.REPAID, amount)],
            reference=reference.strip(),
        )


def carry_over_post(
    *, user: User, grant: Grant, amount: Decimal, to_year: int, decision_reference: str
) -> tuple[LedgerTransaction, LedgerTransaction]:
    """The funder's decision to let unused money be used later (seed 003): a carry-over here
    and a receipt on the organisation's oldest open grant from the same funder for `to_year`
    (made if there is none, usable to 31 December of that year)."""
    amount = _positive(amount)
    if not decision_reference.strip():
        raise ValidationError({"decision_reference": [_("Ange bidragsgivarens beslut.")]})
    if to_year <= grant.year:
        raise ValidationError({"to_year": [_("Ange ett senare år än bidragets.")]})
    with transaction.atomic():
        locked = _locked(grant)
        _require_balance(locked, amount)
        today = timezone.localdate()
        out = _post(
            grant=locked,
            user=user,
            kind=TxKind.CARRY_OVER,
            date=today,
            legs=[(Account.BALANCE, -amount), (Account.CARRIED_OVER, amount)],
            reference=decision_reference.strip(),
        )
        target = (
            Grant.objects.select_for_update()
            .filter(
                organisation_id=locked.organisation_id,
                funder=locked.funder,
                year=to_year,
                closed_at__isnull=True,
            )
            .order_by("created_at")
            .first()
        )
        if target is None:
            use_by = datetime.date(to_year, 12, 31)
            target = Grant.objects.create(
                organisation_id=locked.organisation_id,
                funder=locked.funder,
                reference=f"{decision_reference.strip()} ({to_year})",
                year=to_year,
                amount=amount,
                # A decision recorded after `to_year` ended must not break use_by ≥ received_on.
                received_on=min(today, use_by),
                use_by=use_by,
                report_due=datetime.date(to_year + 1, 3, 1),
                conditions=_("Överfört från %s enligt bidragsgivarens beslut.") % locked,
                created_by=user,
            )
        into = _post(
            grant=target,
            user=user,
            kind=TxKind.RECEIPT,
            date=today,
            legs=[(Account.FUNDER, -amount), (Account.BALANCE, amount)],
            reference=decision_reference.strip(),
        )
    return out, into


def transaction_parts(tx: LedgerTransaction) -> tuple[Decimal | None, Decimal | None]:
    """(movement, commitment) of a transaction: its leg on `balance` (money in or out, signed
    from the grant's side), and its leg on `allocated` (a commitment); None where it has none.
    Reads the prefetched legs."""
    by_account = {leg.account: leg.amount for leg in tx.legs.all()}
    return by_account.get(Account.BALANCE), by_account.get(Account.ALLOCATED)


def transaction_amount(tx: LedgerTransaction) -> Decimal:
    """API.md's signed amount: the leg on `balance`; allocations show their commitment."""
    movement, commitment = transaction_parts(tx)
    if movement is not None:
        return movement
    return commitment if commitment is not None else ZERO
