"""The demo's money (issue: money 10; API.md "Demo data"), replayed through the services.

Region Örebro län: a Socialstyrelsen grant per year from 2023. The 2023 grant is seed 002's
(Dnr 23RS9581, 1 349 000 kr, use by 2023-12-31, report due 2024-03-01); the later references
and amounts are demo figures. Each year pays the months of its visits once they are over
(`month_pay`, dated when the demo says they were paid: the 10th of the next month; December on
20 January from the next year's grant, since a grant pays nothing after its use-by date),
Folktandvården's agreement and some coordination; past years are closed and their unused money
repaid against an invoice. The current year has the fixed allocation to the approved centres and
quarterly fixed payouts; every month up to two months back is paid, last month awaits payment
(as finance finds it at the start of a month) and the current month is open. Ledger rows carry
the dates of the years they belong to.

Linköpings kommun: its 2021 grant of 880 000 kr (seed 003) with Leanlink's agreement of 700 tkr
a year "under the condition that the state grant is received", paid after the receipt.

Idempotent: a grant that exists is left as it is (a later run does not pay newer months).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from core.demo import DEMO_PASSWORD
from core.models import Membership, Organisation, Partner, Role, User
from funding import ledger, partners
from funding.allocation import fixed_allocation_post
from funding.compensation import month_pay
from funding.models import AgreementCondition, Funder, Grant, PartnerAgreement, TxKind

D = Decimal
FOLKTANDVARDEN_YEARLY = D("150000")
DEMO_NOTE = "Demodata: beloppet och diarienumret är exempel."


def _agreement(
    finance: User, partner: Partner, title: str, years: tuple[int, int], amount: Decimal, cond: str
) -> PartnerAgreement:
    found = PartnerAgreement.objects.filter(partner=partner, title=title).first()
    return found or partners.agreement_create(
        user=finance,
        partner=partner,
        title=title,
        year_from=years[0],
        year_to=years[1],
        yearly_amount=amount,
        condition=cond,
    )


def _paid_on(year: int, month: int, today: datetime.date) -> datetime.date:
    """The 10th of the following month (December's in January, from the next year's grant:
    a month is paid once it is over, and a grant pays nothing after its use-by date)."""
    day = datetime.date(year + 1, 1, 20) if month == 12 else datetime.date(year, month + 1, 10)
    return min(day, today)


def _awaiting(today: datetime.date) -> datetime.date:
    """Last month: the one finance finds unpaid at the start of a month (API.md demo)."""
    return (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)


def _orebro_year(
    org: Organisation,
    finance: User,
    folktandvarden: PartnerAgreement,
    *,
    year: int,
    reference: str,
    amount: str,
    today: datetime.date,
) -> None:
    if Grant.objects.filter(funder=Funder.SOCIALSTYRELSEN, reference=reference).exists():
        return
    current = year == today.year
    received = min(datetime.date(year, 1, 15), today)
    grant = ledger.grant_create(
        user=finance,
        organisation=org,
        funder=Funder.SOCIALSTYRELSEN,
        reference=reference,
        year=year,
        amount=D(amount),
        requisitioned_on=received - datetime.timedelta(days=20),
        received_on=received,
        use_by=datetime.date(year, 12, 31),
        report_due=datetime.date(year + 1, 3, 1),
        conditions=(
            "Statsbidrag för utökade hembesök. Medlen ska användas till en utökning av "
            "verksamheten, inte till besök som redan görs."
            + ("" if reference == "23RS9581" else " " + DEMO_NOTE)
        ),
    )
    partners.agreement_allocate(user=finance, agreement=folktandvarden, grant=grant, date=received)
    if current:
        fixed_allocation_post(user=finance, grant=grant, year=year, pool=600_000, date=received)
    awaiting = _awaiting(today)
    # Last year's December, paid in January from this grant.
    if year > 2023 and datetime.date(year - 1, 12, 1) < awaiting:
        paid_on = _paid_on(year - 1, 12, today)
        month_pay(user=finance, grant=grant, year=year - 1, month=12, today=paid_on)
    for month in range(1, 12):
        if datetime.date(year, month, 1) >= awaiting:
            break
        paid_on = _paid_on(year, month, today)
        month_pay(user=finance, grant=grant, year=year, month=month, today=paid_on)
        if month in (3, 6, 9):
            _fixed_quarter(grant, finance, paid_on)
        if month == 6:
            ledger.payout_post(
                user=finance,
                grant=grant,
                recipient_type="partner",
                recipient_id=folktandvarden.partner_id,
                category="partner_transfer",
                amount=FOLKTANDVARDEN_YEARLY,
                date=paid_on,
                reference="Folktandvården: tandvårdsinsatser vid hembesök",
            )
        if month == 11:
            ledger.payout_post(
                user=finance,
                grant=grant,
                recipient_type="organisation",
                recipient_id=org.pk,
                category="coordination",
                amount=D("420000"),
                date=paid_on,
                reference="Samordnare CBHV och utbildning",
            )
    if not current:
        figures = ledger.grant_close(user=finance, grant=grant)
        if figures.repayment_due > 0:
            ledger.repayment_post(
                user=finance,
                grant=grant,
                amount=figures.repayment_due,
                date=min(datetime.date(year + 1, 4, 15), today),
                reference=f"Socialstyrelsens faktura {year + 1}-{reference[-4:]}",
            )


def _fixed_quarter(grant: Grant, finance: User, paid_on: datetime.date) -> None:
    """A quarter of each centre's fixed allocation (what is left of it, at most)."""
    allocations = grant.transactions.filter(
        kind=TxKind.ALLOCATION, recipient_type="centre", reversed_by__isnull=True
    ).values_list("recipient_id", flat=True)
    for centre_id in allocations:
        assert centre_id is not None  # allocations always name their recipient
        open_amount = ledger.recipient_open_allocation(grant, "centre", centre_id)
        share = min(open_amount, D("150000"))
        if share > 0:
            ledger.payout_post(
                user=finance,
                grant=grant,
                recipient_type="centre",
                recipient_id=centre_id,
                category="fixed",
                amount=share,
                date=paid_on,
                reference=f"Fast ersättning kvartal {(paid_on.month - 1) // 3}",
            )


def seed(orebro: Organisation, linkoping: Organisation) -> None:
    today = timezone.localdate()
    finance = User.objects.get(username="finance")
    folktandvarden = _agreement(
        finance,
        Partner.objects.get(organisation=orebro, name="Folktandvården"),
        "Folktandvården: tandvård i utökade hembesök",
        (2023, today.year),
        FOLKTANDVARDEN_YEARLY,
        AgreementCondition.NONE,
    )
    years = {2023: ("23RS9581", "1349000"), 2024: ("24RS0316", "1620000")}
    years.update({2025: ("25RS0298", "1620000"), today.year: ("26RS0305", "1880000")})
    for year in range(2023, today.year + 1):
        reference, amount = years.get(year, (f"{year % 100}RS0300", "1880000"))
        _orebro_year(
            orebro,
            finance,
            folktandvarden,
            year=year,
            reference=reference,
            amount=amount,
            today=today,
        )
    _linkoping(linkoping)


def _linkoping(org: Organisation) -> None:
    reference = "Dnr 2021/0880"
    if Grant.objects.filter(funder=Funder.SOCIALSTYRELSEN, reference=reference).exists():
        return
    # A finance user for Linköping (an extra demo user, README): its grant is hers.
    clerk, created = User.objects.get_or_create(
        username="finance_linkoping",
        defaults={"first_name": "Lina", "last_name": "Berg", "email": "lina@example.org"},
    )
    if created:
        clerk.set_password(DEMO_PASSWORD)
        clerk.save(update_fields=["password"])
    Membership.objects.get_or_create(user=clerk, organisation=org, role=Role.FINANCE, centre=None)
    grant = ledger.grant_create(
        user=clerk,
        organisation=org,
        funder=Funder.SOCIALSTYRELSEN,
        reference=reference,
        year=2021,
        amount=D("880000"),
        requisitioned_on=datetime.date(2021, 3, 1),
        received_on=datetime.date(2021, 4, 12),
        use_by=datetime.date(2021, 12, 31),
        report_due=datetime.date(2022, 3, 1),
        conditions="Pilotverksamhet för barnhälsovård i socioekonomiskt utsatta områden "
        "(Skäggetorp). " + DEMO_NOTE,
    )
    leanlink = _agreement(
        clerk,
        Partner.objects.get(organisation=org, name="Leanlink"),
        "Leanlink Råd och stöd: pilotverksamhet",
        (2021, 2022),
        D("700000"),
        AgreementCondition.GRANT_RECEIVED,
    )
    partners.agreement_allocate(
        user=clerk, agreement=leanlink, grant=grant, date=datetime.date(2021, 4, 12)
    )
    for date in (datetime.date(2021, 6, 30), datetime.date(2021, 12, 15)):
        ledger.payout_post(
            user=clerk,
            grant=grant,
            recipient_type="partner",
            recipient_id=leanlink.partner_id,
            category="partner_transfer",
            amount=D("350000"),
            date=date,
            reference="Leanlink, halvår",
        )
    figures = ledger.grant_close(user=clerk, grant=grant)
    ledger.repayment_post(
        user=clerk,
        grant=grant,
        amount=figures.repayment_due,
        date=datetime.date(2022, 5, 2),
        reference="Socialstyrelsens faktura 2022-0880",
    )
