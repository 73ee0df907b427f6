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

Region Örebro län also has its 2018 SKL agreement money (seed 000: 120 MSEK shared among the
regions in 2018, final report to SKL by 2019-02-15): the seed gives no region's share, so the
amount (3 570 000 kr, about Örebro's share of the population) and the reference are examples.
It was paid out in 2018 to two centres, Folktandvården and CBHV's coordination, then closed and
its unused money repaid.

Linköpings kommun: its 2021 grant of 880 000 kr (seed 003) with Leanlink's agreement of 700 tkr
a year "under the condition that the state grant is received", paid after the receipt.

Region Östergötland (seed 001): the region's own, permanent money from 2021, 6 250 000 kr a
year (funder `region`, one grant a year, used by 31 December), of which 1 500 000 kr goes to
Folktandvården under a partner agreement and the rest to the centres with the highest care load,
shared by child CNI × listed children 0–5 (largest remainder, whole kronor). Each share is paid
in two halves (30 June, 15 December); past years are closed. The centres, their CNI and the
references are examples.

Idempotent: a grant that exists is left as it is (a later run does not pay newer months).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from core.demo import DEMO_PASSWORD
from core.models import Centre, Membership, Organisation, Partner, Role, User
from funding import ledger, partners
from funding.allocation import fixed_allocation_post, largest_remainder
from funding.compensation import month_pay
from funding.models import (
    AgreementCondition,
    CniValue,
    Funder,
    Grant,
    PartnerAgreement,
    RecipientType,
    TxKind,
)

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


def seed(orebro: Organisation, linkoping: Organisation, ostergotland: Organisation) -> None:
    today = timezone.localdate()
    finance = User.objects.get(username="finance")
    folktandvarden = _agreement(
        finance,
        Partner.objects.get(organisation=orebro, name="Folktandvården"),
        "Folktandvården: tandvård i utökade hembesök",
        # A standing agreement (the end year is an example): a database seeded one year must
        # still allocate the next year's grant when seeded again then.
        (2023, 2035),
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
    _orebro_skl_2018(orebro, finance)
    _linkoping(linkoping)
    _ostergotland(ostergotland, today)


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


# --- Region Örebro län: the 2018 SKL agreement (seed 000) ---------------------------------------
SKL_REFERENCE = "SKL 18/03311"


def _orebro_skl_2018(org: Organisation, finance: User) -> None:
    """Örebro's share of SKL's 2018 money: allocated in April, paid out during 2018 (a grant pays
    nothing after its use-by date), closed, and what was left repaid against SKL's invoice.
    The visits of the demo start in 2023, so the SKL report's activity tables are empty."""
    if Grant.objects.filter(funder=Funder.SKL, reference=SKL_REFERENCE).exists():
        return
    grant = ledger.grant_create(
        user=finance,
        organisation=org,
        funder=Funder.SKL,
        reference=SKL_REFERENCE,
        year=2018,
        amount=D("3570000"),
        requisitioned_on=datetime.date(2018, 3, 15),
        received_on=datetime.date(2018, 4, 16),
        use_by=datetime.date(2018, 12, 31),
        report_due=datetime.date(2019, 2, 15),
        conditions=(
            "Överenskommelsen mellan regeringen och SKL om ökad tillgänglighet i "
            "barnhälsovården 2018: utökade hembesök eller annan uppsökande verksamhet, samverkan "
            "mellan BVC, socialtjänst och tandvård. Slutrapport till SKL senast 2019-02-15. "
            + DEMO_NOTE
        ),
    )
    allocated_on = datetime.date(2018, 4, 20)
    centres = {c.name: c for c in Centre.objects.filter(organisation=org)}
    dental = Partner.objects.get(organisation=org, name="Folktandvården")
    plan: list[tuple[Centre | Partner, str, tuple[str, ...]]] = [
        # recipient, allocated, payouts (30 June and 30 November)
        (centres["Vivalla/Lundby"], "1300000", ("650000", "650000")),
        (centres["Varberga"], "900000", ("450000", "380000")),
    ]
    for centre, allocated, payouts in plan:
        ledger.allocation_post(
            user=finance,
            grant=grant,
            recipient=centre,
            amount=D(allocated),
            purpose=f"SKL-medel 2018: utökade hembesök, {centre.name}",
            date=allocated_on,
        )
        for paid_on, amount in zip(
            (datetime.date(2018, 6, 29), datetime.date(2018, 11, 30)), payouts, strict=True
        ):
            ledger.payout_post(
                user=finance,
                grant=grant,
                recipient_type=RecipientType.CENTRE,
                recipient_id=centre.pk,
                category="fixed",
                amount=D(amount),
                date=paid_on,
                reference=f"SKL-medel 2018, BVC-sjuksköterskans tid: {centre.name}",
            )
    ledger.allocation_post(
        user=finance,
        grant=grant,
        recipient=dental,
        amount=D("600000"),
        purpose="SKL-medel 2018: tandvård i hembesöken",
        date=allocated_on,
    )
    ledger.payout_post(
        user=finance,
        grant=grant,
        recipient_type=RecipientType.PARTNER,
        recipient_id=dental.pk,
        category="partner_transfer",
        amount=D("600000"),
        date=datetime.date(2018, 10, 31),
        reference="Folktandvården: tandhygienist i hembesöken 2018",
    )
    ledger.payout_post(
        user=finance,
        grant=grant,
        recipient_type=RecipientType.ORGANISATION,
        recipient_id=org.pk,
        category="coordination",
        amount=D("700000"),
        date=datetime.date(2018, 12, 14),
        reference="Samordning CBHV och utbildning i Rinkebymodellen 2018",
    )
    figures = ledger.grant_close(user=finance, grant=grant)
    if figures.repayment_due > 0:
        ledger.repayment_post(
            user=finance,
            grant=grant,
            amount=figures.repayment_due,
            date=datetime.date(2019, 3, 29),
            reference="SKL:s faktura 2019-0412 (exempel)",
        )


# --- Region Östergötland: the region's own money (seed 001) ------------------------------------
OSTERGOTLAND_YEARLY = D("6250000")
OSTERGOTLAND_DENTAL = D("1500000")
# "De vårdcentraler som har högst vårdtyngd och antal listade barn": the demo funds four.
OSTERGOTLAND_FUNDED_CENTRES = 4


def _ostergotland(org: Organisation, today: datetime.date) -> None:
    finance = User.objects.get(username="finance_ostergotland")
    dental = _agreement(
        finance,
        Partner.objects.get(organisation=org, name="Folktandvården"),
        "Folktandvården: tandvårdsinsatser i utökade hembesök",
        # The decision is permanent (seed 001); the agreement's last year is an example.
        (2021, 2030),
        OSTERGOTLAND_DENTAL,
        AgreementCondition.NONE,
    )
    shares = _care_load_shares(org, OSTERGOTLAND_YEARLY - OSTERGOTLAND_DENTAL)
    for year in range(2021, today.year + 1):
        _ostergotland_year(org, finance, dental, shares, year=year, today=today)


def _care_load_shares(org: Organisation, pool: Decimal) -> list[tuple[Centre, Decimal]]:
    """The centres with the highest care load (child CNI × listed children 0–5, DOMAIN.md 4.2's
    default weighting) and their shares of `pool` in whole kronor, adding up to it exactly.
    The demo has one CNI value per centre, used for every year."""
    centres = list(Centre.objects.filter(organisation=org))
    current = {v.centre_id: v for v in CniValue.objects.current_for([c.pk for c in centres])}
    weighted: list[tuple[Centre, Decimal]] = []
    for centre in centres:
        cni = current.get(centre.pk)
        if cni is not None and cni.listed_children:
            weighted.append((centre, cni.value * cni.listed_children))
    weighted.sort(key=lambda cw: (-cw[1], cw[0].name))
    top = weighted[:OSTERGOTLAND_FUNDED_CENTRES]
    kronor = largest_remainder(int(pool), [(centre.name, weight) for centre, weight in top])
    return [(centre, D(kronor[centre.name])) for centre, _weight in top]


def _ostergotland_year(
    org: Organisation,
    finance: User,
    dental: PartnerAgreement,
    shares: list[tuple[Centre, Decimal]],
    *,
    year: int,
    today: datetime.date,
) -> None:
    reference = f"RÖ HSN {year}"
    if Grant.objects.filter(funder=Funder.REGION, reference=reference).exists():
        return
    received = min(datetime.date(year, 1, 4), today)
    grant = ledger.grant_create(
        user=finance,
        organisation=org,
        funder=Funder.REGION,
        reference=reference,
        year=year,
        amount=OSTERGOTLAND_YEARLY,
        received_on=received,
        use_by=datetime.date(year, 12, 31),
        # The region's own money owes no funder a report; the follow-up to the board is
        # recorded as a date all the same (an example).
        report_due=datetime.date(year + 1, 3, 31),
        conditions=(
            "Regionens egna medel: hälso- och sjukvårdsnämndens beslut 2020-11-10 att göra "
            "satsningen permanent, 6,25 miljoner kronor per år, varav 1,5 miljoner kronor till "
            "Folktandvården; resten till vårdcentralerna med högst vårdtyngd och antal listade "
            "barn. " + DEMO_NOTE
        ),
    )
    partners.agreement_allocate(user=finance, agreement=dental, grant=grant, date=received)
    for centre, amount in shares:
        ledger.allocation_post(
            user=finance,
            grant=grant,
            recipient=centre,
            amount=amount,
            purpose=f"{centre.name}: utökade hembesök {year} efter vårdtyngd (CNI × listade barn)",
            date=received,
        )
    recipients: list[tuple[str, Centre | Partner, str]] = [
        (RecipientType.PARTNER, dental.partner, "partner_transfer"),
        *((RecipientType.CENTRE, centre, "fixed") for centre, _amount in shares),
    ]
    for half, paid_on in enumerate((datetime.date(year, 6, 30), datetime.date(year, 12, 15))):
        if paid_on > today:
            break
        for recipient_type, recipient, category in recipients:
            open_amount = ledger.recipient_open_allocation(grant, recipient_type, recipient.pk)
            # The first half in June, what is left in December (whole kronor).
            amount = open_amount if half else D(int(open_amount) // 2)
            ledger.payout_post(
                user=finance,
                grant=grant,
                recipient_type=recipient_type,
                recipient_id=recipient.pk,
                category=category,
                amount=amount,
                date=paid_on,
                reference=f"{recipient.name}: utökade hembesök {year}, halvår {half + 1}",
            )
    if year < today.year:
        ledger.grant_close(user=finance, grant=grant)
