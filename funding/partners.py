"""Agreements with partners that are not centres (issue: money 7; seeds 001 and 003).

An agreement says what the organisation pays a partner per year, optionally only if the grant
is received (Leanlink, seed 003). Money reaches the partner through the ledger: the agreement's
yearly amount is allocated to the partner on a grant (`agreement_allocate`), then paid as
`partner_transfer` payouts, which `funding.ledger.payout_post` bounds by that allocation. The
condition needs no rule of its own: no payout of any kind may be dated before the grant's
receipt (400 on `date`, API.md "Money at the edges"). The yearly amount caps what is allocated
to the partner on all grants of the year (`funding.ledger.allocation_post`).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core.exceptions import Conflict
from core.models import Partner, User
from core.money import quantize_money
from funding import ledger
from funding.models import (
    AgreementCondition,
    Grant,
    LedgerTransaction,
    PartnerAgreement,
    RecipientType,
    TxKind,
)


def agreement_create(
    *,
    user: User,
    partner: Partner,
    title: str,
    year_from: int,
    year_to: int,
    yearly_amount: Decimal,
    condition: str = AgreementCondition.NONE,
) -> PartnerAgreement:
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = [_("Ange överenskommelsens namn.")]
    if year_to < year_from:
        errors["year_to"] = [_("Slutåret ligger före startåret.")]
    if condition not in AgreementCondition.values:
        errors["condition"] = [_("Välj villkor.")]
    amount = quantize_money(yearly_amount)
    if amount <= 0:
        errors["yearly_amount"] = [_("Ange ett belopp över 0.")]
    if errors:
        raise ValidationError(errors)
    return PartnerAgreement.objects.create(
        organisation_id=partner.organisation_id,
        partner=partner,
        title=title.strip(),
        year_from=year_from,
        year_to=year_to,
        yearly_amount=amount,
        condition=condition,
        created_by=user,
    )


def _purpose(agreement: PartnerAgreement, year: int) -> str:
    return f"{agreement.title} {year}"


def agreement_allocate(
    *,
    user: User,
    agreement: PartnerAgreement,
    grant: Grant,
    date: datetime.date | None = None,
) -> LedgerTransaction:
    """Allocate the agreement's yearly amount to its partner on a grant of a year it covers;
    once per agreement and grant. `date` is for replaying history (the demo); pages and the
    API post today."""
    if grant.organisation_id != agreement.organisation_id:
        raise ValidationError({"grant": [_("Bidraget hör till en annan organisation.")]})
    if not agreement.year_from <= grant.year <= agreement.year_to:
        raise ValidationError(
            {"grant": [_("Överenskommelsen gäller inte bidragets år (%s).") % grant.year]}
        )
    purpose = _purpose(agreement, grant.year)
    with transaction.atomic():
        # Check and post under the grant's row lock: two requests cannot both allocate.
        locked = Grant.objects.select_for_update().get(pk=grant.pk)
        already = LedgerTransaction.objects.filter(
            grant=locked,
            kind=TxKind.ALLOCATION,
            recipient_type=RecipientType.PARTNER,
            recipient_id=agreement.partner_id,
            reference=purpose,
            reversed_by__isnull=True,
        ).exists()
        if already:
            raise Conflict(_("Överenskommelsen är redan fördelad på bidraget."))
        return ledger.allocation_post(
            user=user,
            grant=locked,
            recipient=agreement.partner,
            amount=agreement.yearly_amount,
            purpose=purpose,
            date=date,
        )
