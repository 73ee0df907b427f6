"""The finance pages (funding/views/grants.py and compensation.py): the grant overview and a
grant's page with the ledger's figures, the ledger with its running balance, fixed allocation
(preview, then post), payouts, repayments, allocations, close, the compensation statements and
paying a month; who reaches what (finance writes, CBHV reads, others 403, another
organisation's grant 404), form errors on their fields, one-time tokens, and constant query
counts."""

from __future__ import annotations

import datetime
import re
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from core.models import IdempotencyKey, Role
from funding import ledger
from funding.applications import application_approve, application_submit
from funding.models import Grant, LedgerTransaction, PaidMonth, TxKind
from tests.core.factories import CentreFactory, OrganisationFactory, PartnerFactory, member
from tests.funding.factories import cni, draft
from tests.funding.test_compensation import at, d, rule, visit

pytestmark = pytest.mark.django_db

D = Decimal
NBSP = "\xa0"
MAY = datetime.date(2026, 5, 4)


def kr(text: str) -> str:
    """`1 349 000,00 kr` as the money filter writes it (non-breaking spaces)."""
    return text.replace(" ", NBSP)


def make_grant(
    org, user, *, reference="26RS1", amount="10000", year=2026, funder="socialstyrelsen"
):
    return ledger.grant_create(
        user=user,
        organisation=org,
        funder=funder,
        reference=reference,
        year=year,
        amount=D(amount),
        received_on=datetime.date(year, 1, 15),
        use_by=datetime.date(year, 12, 31),
        report_due=datetime.date(year + 1, 3, 1),
    )


def pay_org(grant, user, amount, date=MAY):
    return ledger.payout_post(
        user=user,
        grant=grant,
        recipient_type="organisation",
        recipient_id=grant.organisation_id,
        category="coordination",
        amount=D(amount),
        date=date,
    )


@pytest.fixture
def org():
    return OrganisationFactory(name="Region Örebro län")


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


@pytest.fixture
def cbhv(org):
    return member(Role.CBHV, organisation=org)


@pytest.fixture
def centre(org):
    return CentreFactory(organisation=org, name="Vivalla")


@pytest.fixture
def nurse(centre):
    return member(Role.NURSE, centre=centre)


@pytest.fixture
def grant(org, finance):
    return make_grant(org, finance)


@pytest.fixture
def outsider_grant():
    other = OrganisationFactory(name="Linköpings kommun")
    return make_grant(other, member(Role.FINANCE, organisation=other), reference="LK1")


def logged_in(client, user):
    client.force_login(user)
    return client


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def url(name: str, grant: Grant | None = None) -> str:
    return reverse(f"funding:{name}", args=[grant.pk] if grant else [])


def cells(html: str, label: str) -> list[str]:
    return re.findall(rf'data-label="{label}">([^<]*)</td>', html)


def token() -> str:
    return str(uuid.uuid4())


GRANT_PAGES = ["grant_detail", "grant_ledger"]
FORM_PAGES = [
    "grant_payout",
    "grant_repayment",
    "grant_allocation",
    "grant_close",
    "grant_fixed_allocation",
]


# --- Who reaches what ---------------------------------------------------------------------------
@pytest.mark.parametrize("role", [Role.FINANCE, Role.CBHV])
def test_finance_and_cbhv_read_the_grant_pages(client, org, grant, role):
    logged_in(client, member(role, organisation=org))
    for page in ["grant_list", "compensation_list"]:
        assert client.get(url(page)).status_code == 200
    for page in GRANT_PAGES:
        assert client.get(url(page, grant)).status_code == 200


def test_cbhv_sees_no_forms_and_every_write_is_403(client, org, cbhv, grant):
    logged_in(client, cbhv)
    html = html_of(client.get(url("grant_detail", grant)))
    assert html.count('method="post"') == 1  # only "Logga ut"
    assert url("grant_payout", grant) not in html
    assert url("grant_create") not in html_of(client.get(url("grant_list")))
    for page in FORM_PAGES:
        assert client.get(url(page, grant)).status_code == 403
        assert client.post(url(page, grant), {"token": token()}).status_code == 403
    assert client.post(url("grant_fixed_allocation_post", grant)).status_code == 403
    assert client.get(url("grant_create")).status_code == 403
    assert client.post(url("grant_create"), {}).status_code == 403
    assert client.get(url("compensation_pay")).status_code == 403
    assert client.post(url("compensation_pay"), {"grant": grant.pk}).status_code == 403
    assert LedgerTransaction.objects.filter(grant=grant).count() == 1  # the receipt


def test_a_nurse_gets_403_everywhere(client, nurse, grant):
    logged_in(client, nurse)
    for page in ["grant_list", "grant_create", "compensation_list", "compensation_pay"]:
        assert client.get(url(page)).status_code == 403
    for page in GRANT_PAGES + FORM_PAGES:
        assert client.get(url(page, grant)).status_code == 403


def test_another_organisations_grant_is_404(client, finance, outsider_grant):
    logged_in(client, finance)
    for page in GRANT_PAGES + FORM_PAGES:
        assert client.get(url(page, outsider_grant)).status_code == 404
    response = client.post(
        url("grant_repayment", outsider_grant),
        {"amount": "1", "date": "2026-05-04", "reference": "F", "token": token()},
    )
    assert response.status_code == 404
    assert outsider_grant.reference not in html_of(client.get(url("grant_list")))


def test_finance_of_one_organisation_and_cbhv_of_another_only_reads_the_other(
    client, finance, outsider_grant
):
    member(Role.CBHV, organisation=outsider_grant.organisation, user=finance)
    logged_in(client, finance)
    assert client.get(url("grant_detail", outsider_grant)).status_code == 200
    assert client.get(url("grant_payout", outsider_grant)).status_code == 403


# --- The overview and the grant's page ----------------------------------------------------------
@pytest.fixture
def busy_grant(org, finance, centre):
    """Received 1 349 000; 300 000 allocated; 12 345,67 paid; 1 000 repaid."""
    grant = make_grant(org, finance, reference="23RS9581", amount="1349000")
    ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("300000"))
    pay_org(grant, finance, "12345.67")
    ledger.repayment_post(user=finance, grant=grant, amount=D("1000"), date=MAY, reference="F1")
    return grant


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CBHV])
def test_the_overview_shows_each_grants_figures_swedish_style(client, org, busy_grant, role):
    logged_in(client, member(role, organisation=org))
    html = html_of(client.get(url("grant_list")))
    assert cells(html, "Mottaget") == [kr("1 349 000,00 kr")]
    assert cells(html, "Fördelat") == [kr("300 000,00 kr")]
    assert cells(html, "Utbetalt") == [kr("12 345,67 kr")]
    assert cells(html, "Överfört") == [kr("0,00 kr")]
    assert cells(html, "Kvar") == [kr("1 335 654,33 kr")]
    assert cells(html, "Att återbetala") == [kr("0,00 kr")]
    assert "1349000" not in html and "12345.67" not in html


def test_the_overview_shows_what_is_to_repay_after_close(client, finance, busy_grant):
    ledger.grant_close(user=finance, grant=busy_grant)
    html = html_of(logged_in(client, finance).get(url("grant_list")))
    # unused 1 336 654,33 − repaid 1 000
    assert cells(html, "Att återbetala") == [kr("1 335 654,33 kr")]
    assert "Avslutat" in html


def test_the_overview_filters_by_year_funder_and_status(client, org, finance):
    make_grant(org, finance, reference="A", year=2025)
    make_grant(org, finance, reference="B", year=2026)
    closed = make_grant(org, finance, reference="C", year=2026, funder="region")
    ledger.grant_close(user=finance, grant=closed)
    logged_in(client, finance)

    def shown(query: str) -> set[str]:
        html = html_of(client.get(url("grant_list") + query))
        return set(re.findall(r"(?:Socialstyrelsen|Regionen själv) ([ABC])</a>", html))

    assert shown("") == {"A", "B", "C"}
    assert shown("?year=2025") == {"A"}
    assert shown("?funder=region") == {"C"}
    assert shown("?status=open") == {"A", "B"}
    assert shown("?status=closed&year=2026") == {"C"}


def test_the_overview_query_count_does_not_grow_with_grants(
    client, org, finance, django_assert_max_num_queries
):
    make_grant(org, finance, reference="ONE")
    logged_in(client, finance)
    with django_assert_max_num_queries(20) as one:
        client.get(url("grant_list"))
    for n in range(8):
        g = make_grant(org, finance, reference=f"MANY{n}")
        pay_org(g, finance, "10")
    with django_assert_max_num_queries(len(one.captured_queries)):
        html = html_of(client.get(url("grant_list")))
    assert len(cells(html, "Mottaget")) == 9 + 1  # and the total


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CBHV])
def test_the_grants_page_shows_its_figures(client, org, busy_grant, role):
    html = html_of(
        logged_in(client, member(role, organisation=org)).get(url("grant_detail", busy_grant))
    )
    assert kr("1 335 654,33 kr") in html  # left
    assert kr("1 000,00 kr") in html  # repaid
    assert (url("grant_payout", busy_grant) in html) is (role == Role.FINANCE)
    assert (url("grant_close", busy_grant) in html) is (role == Role.FINANCE)


# --- Registering a grant ------------------------------------------------------------------------
GRANT_DATA = {
    "funder": "socialstyrelsen",
    "reference": "26RS77",
    "year": "2026",
    "amount": "1 349 000,00",
    "received_on": "2026-02-01",
    "use_by": "2026-12-31",
    "report_due": "2027-03-01",
    "conditions": "Bara utökning.",
}


def test_registering_a_grant_posts_its_receipt(client, finance):
    response = logged_in(client, finance).post(url("grant_create"), GRANT_DATA, follow=True)
    grant = Grant.objects.get(reference="26RS77")
    assert response.redirect_chain[-1][0] == url("grant_detail", grant)
    html = html_of(response)
    assert re.search(r'role="status"[^>]*>\s*<p[^>]*>Bidraget .* är registrerat', html)
    assert ledger.figures(grant).amount == D("1349000")


def test_grant_form_errors_are_on_their_fields(client, finance, grant):
    logged_in(client, finance)
    bad = {**GRANT_DATA, "use_by": "2026-01-01", "amount": ""}
    html = html_of(client.post(url("grant_create"), bad))
    assert 'role="alert"' in html
    assert 'href="#id_amount"' in html
    assert re.search(r'name="amount"[^>]*aria-invalid="true"', html)
    assert not Grant.objects.filter(reference="26RS77").exists()
    # The service's rule, on its field.
    html = html_of(client.post(url("grant_create"), {**GRANT_DATA, "use_by": "2026-01-01"}))
    assert re.search(r'name="use_by"[^>]*aria-invalid="true"', html)
    assert "Sista användningsdag ligger före mottagandet." in html
    # The same funder's reference twice: the conflict is on `reference`.
    html = html_of(client.post(url("grant_create"), {**GRANT_DATA, "reference": grant.reference}))
    assert re.search(r'name="reference"[^>]*aria-invalid="true"', html)
    assert Grant.objects.count() == 1


# --- The ledger ---------------------------------------------------------------------------------
@pytest.mark.parametrize("role", [Role.FINANCE, Role.CBHV])
def test_the_ledger_shows_the_balance_after_each_row(client, org, finance, centre, role):
    partner = PartnerFactory(organisation=org, name="Folktandvården")
    grant = make_grant(org, finance)
    ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("2000"))
    ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("3000"))
    ledger.payout_post(
        user=finance,
        grant=grant,
        recipient_type="partner",
        recipient_id=partner.pk,
        category="partner_transfer",
        amount=D("1500"),
        date=MAY,
    )
    pay_org(grant, finance, "1234.50", date=datetime.date(2026, 6, 1))
    ledger.repayment_post(
        user=finance, grant=grant, amount=D("100"), date=datetime.date(2026, 7, 1), reference="F"
    )
    logged_in(client, member(role, organisation=org))
    html = html_of(client.get(url("grant_ledger", grant)))
    assert cells(html, "Saldo") == [
        kr("10 000,00 kr"),
        kr("10 000,00 kr"),  # an allocation is a commitment: the balance stays
        kr("10 000,00 kr"),
        kr("8 500,00 kr"),
        kr("7 265,50 kr"),
        kr("7 165,50 kr"),
    ]
    assert cells(html, "Belopp") == [
        kr("10 000,00 kr"),
        kr("2 000,00 kr"),
        kr("3 000,00 kr"),
        kr("−1 500,00 kr"),
        kr("−1 234,50 kr"),
        kr("−100,00 kr"),
    ]
    assert cells(html, "Mottagare") == [
        "–",
        "Folktandvården",
        "Vivalla",
        "Folktandvården",
        org.name,
        "–",
    ]
    assert ledger.figures(grant).balance == D("7165.50")

    # Filters hide rows; the balance on a row stays the grant's balance after it.
    payouts = html_of(client.get(url("grant_ledger", grant) + "?kind=payout"))
    assert cells(payouts, "Saldo") == [kr("8 500,00 kr"), kr("7 265,50 kr")]
    summer = html_of(
        client.get(url("grant_ledger", grant) + "?date_from=2026-06-01&date_to=2026-06-30")
    )
    assert cells(summer, "Saldo") == [kr("7 265,50 kr")]
    partner_only = html_of(client.get(url("grant_ledger", grant) + "?category=partner_transfer"))
    assert cells(partner_only, "Belopp") == [kr("−1 500,00 kr")]


def test_the_ledger_query_count_does_not_grow_with_rows(
    client, org, finance, centre, django_assert_max_num_queries
):
    """A few rows (one of each kind of recipient) against many: the same number of queries."""
    partner = PartnerFactory(organisation=org)
    grant = make_grant(org, finance)

    def rows_for(recipient_centre) -> None:
        ledger.allocation_post(
            user=finance, grant=grant, recipient=recipient_centre, amount=D("10")
        )
        ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("10"))
        pay_org(grant, finance, "10")

    rows_for(centre)
    logged_in(client, finance)
    with django_assert_max_num_queries(20) as few:
        html_of(client.get(url("grant_ledger", grant)))
    for _ in range(5):
        rows_for(CentreFactory(organisation=org))
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = html_of(client.get(url("grant_ledger", grant)))
    assert len(cells(html, "Saldo")) == 1 + 6 * 3


# --- Payouts, repayments, allocations: errors and one-time tokens ---------------------------------
def payout_data(grant, **overrides: str) -> dict[str, str]:
    return {
        "category": "coordination",
        "recipient_type": "organisation",
        "recipient": str(grant.organisation_id),
        "amount": "2 500,00",
        "date": "2026-05-04",
        "reference": "Samordning maj",
        "token": token(),
        **overrides,
    }


def payouts(grant) -> int:
    return LedgerTransaction.objects.filter(grant=grant, kind=TxKind.PAYOUT).count()


def test_a_payout_from_the_page(client, finance, grant):
    logged_in(client, finance)
    form = html_of(client.get(url("grant_payout", grant)))
    assert re.search(r'type="hidden" name="token" value="[0-9a-f-]{36}"', form)
    response = client.post(url("grant_payout", grant), payout_data(grant), follow=True)
    assert response.redirect_chain[-1][0] == url("grant_ledger", grant)
    html = html_of(response)
    assert re.search(r'role="status".*Utbetalningen på 2\xa0500,00\xa0kr är bokförd', html, re.S)
    assert ledger.figures(grant).paid_out == D("2500")


def test_a_payout_beyond_the_balance_is_an_error_on_amount(client, finance, grant):
    html = html_of(
        logged_in(client, finance).post(
            url("grant_payout", grant), payout_data(grant, amount="10 000,01")
        )
    )
    assert 'role="alert"' in html and 'href="#id_amount"' in html
    assert re.search(r'name="amount"[^>]*aria-invalid="true"', html)
    assert "Beloppet är större än det som finns kvar" in html
    assert payouts(grant) == 0


def test_a_payout_to_another_organisations_centre_is_an_error_on_recipient(client, finance, grant):
    stranger = CentreFactory()
    data = payout_data(
        grant, category="programme_variable", recipient_type="centre", recipient=str(stranger.pk)
    )
    html = html_of(logged_in(client, finance).post(url("grant_payout", grant), data))
    assert re.search(r'name="recipient"[^>]*aria-invalid="true"', html)
    assert payouts(grant) == 0


def test_a_payout_on_a_closed_grant_is_a_message(client, finance, grant):
    ledger.grant_close(user=finance, grant=grant)
    response = logged_in(client, finance).post(
        url("grant_payout", grant), payout_data(grant), follow=True
    )
    assert "Bidraget är avslutat." in html_of(response)
    assert payouts(grant) == 0


def test_a_payout_sent_twice_is_paid_once(client, finance, grant):
    logged_in(client, finance)
    data = payout_data(grant)
    first = client.post(url("grant_payout", grant), data)
    assert first.status_code == 302
    rows = LedgerTransaction.objects.filter(grant=grant).count()
    again = client.post(url("grant_payout", grant), data, follow=True)
    assert again.redirect_chain[0][0] == first.url
    assert "Formuläret var redan skickat" in html_of(again)
    # Back, change the amount, send again: still the same token, nothing posted.
    changed = client.post(url("grant_payout", grant), {**data, "amount": "3000"}, follow=True)
    assert "ändringarna efteråt bokfördes inte" in html_of(changed)
    assert LedgerTransaction.objects.filter(grant=grant).count() == rows
    assert ledger.figures(grant).paid_out == D("2500")
    # A new form (a new token) pays again.
    client.post(url("grant_payout", grant), payout_data(grant))
    assert payouts(grant) == 2


def test_a_refused_payout_leaves_its_token_usable(client, finance, grant):
    logged_in(client, finance)
    data = payout_data(grant, amount="99999")
    client.post(url("grant_payout", grant), data)
    assert not IdempotencyKey.objects.exists()
    client.post(url("grant_payout", grant), {**data, "amount": "100"})
    assert payouts(grant) == 1


def test_a_form_without_a_token_posts_nothing(client, finance, grant):
    data = payout_data(grant)
    del data["token"]
    html = html_of(logged_in(client, finance).post(url("grant_payout", grant), data))
    assert 'role="alert"' in html and "engångsnyckel" in html
    assert payouts(grant) == 0


def test_a_repayment_sent_twice_is_recorded_once(client, finance, grant):
    logged_in(client, finance)
    data = {"amount": "500", "date": "2026-05-04", "reference": "Faktura 1", "token": token()}
    client.post(url("grant_repayment", grant), data)
    client.post(url("grant_repayment", grant), data)
    assert ledger.figures(grant).repaid == D("500")
    html = html_of(
        client.post(url("grant_repayment", grant), {**data, "reference": "", "token": token()})
    )
    assert re.search(r'name="reference"[^>]*aria-invalid="true"', html)
    assert LedgerTransaction.objects.filter(grant=grant, kind=TxKind.REPAYMENT).count() == 1


def test_allocation_to_a_partner_and_a_centre(client, org, finance, grant, centre):
    partner = PartnerFactory(organisation=org)
    logged_in(client, finance)
    for kind, recipient in [("partner", partner), ("centre", centre)]:
        data = {
            "recipient_type": kind,
            "recipient": str(recipient.pk),
            "amount": "1000",
            "purpose": "Samverkan",
            "token": token(),
        }
        client.post(url("grant_allocation", grant), data)
        client.post(url("grant_allocation", grant), data)  # the double click
    assert ledger.figures(grant).allocated == D("2000")
    # A centre chosen as a partner: an error on recipient.
    data = {
        "recipient_type": "partner",
        "recipient": str(centre.pk),
        "amount": "1",
        "token": token(),
    }
    html = html_of(client.post(url("grant_allocation", grant), data))
    assert re.search(r'name="recipient"[^>]*aria-invalid="true"', html)


# --- Close --------------------------------------------------------------------------------------
def test_close_shows_the_figures_first_then_closes_once(client, finance, grant):
    pay_org(grant, finance, "4000")
    ledger.repayment_post(user=finance, grant=grant, amount=D("1000"), date=MAY, reference="F")
    logged_in(client, finance)
    html = html_of(client.get(url("grant_close", grant)))
    assert kr("6 000,00 kr") in html  # unused
    assert kr("5 000,00 kr") in html  # to repay: 6 000 − 1 000 repaid
    assert Grant.objects.get(pk=grant.pk).closed_at is None
    tok = re.search(r'name="token" value="([0-9a-f-]{36})"', html).group(1)
    response = client.post(url("grant_close", grant), {"token": tok}, follow=True)
    assert "är avslutat" in html_of(response)
    closed = Grant.objects.get(pk=grant.pk)
    assert closed.unused_at_close == D("6000")
    again = client.post(url("grant_close", grant), {"token": tok}, follow=True)
    assert "Formuläret var redan skickat" in html_of(again)
    assert Grant.objects.get(pk=grant.pk).closed_at == closed.closed_at
    page = html_of(client.get(url("grant_close", grant)))
    assert "Att avsluta igen ändrar ingenting" in page and 'name="token"' not in page


# --- Fixed allocation ---------------------------------------------------------------------------
@pytest.fixture
def approved(org, cbhv):
    def make(name: str, value: str, listed: int | None):
        centre = CentreFactory(organisation=org, name=name)
        cni(centre, value, listed)
        manager = member(Role.CENTRE_MANAGER, centre=centre)
        app = application_submit(user=manager, application=draft(centre, by=manager, year=2026))
        application_approve(user=cbhv, application=app)
        return centre

    return make


@pytest.fixture
def three(approved):
    with at(d(2, 10)):
        return (
            approved("Vivalla", "2.87", 612),
            approved("Varberga", "3.10", 400),
            approved("Mikaeli", "2.50", 250),
        )


def test_fixed_allocation_preview_then_post(client, finance, grant, three):
    logged_in(client, finance)
    with at(d(2, 10)):
        html = html_of(
            client.post(url("grant_fixed_allocation", grant), {"year": "2026", "pool": "9000"})
        )
        assert LedgerTransaction.objects.filter(grant=grant).count() == 1  # nothing posted
        assert re.findall(r'data-label="BVC">([^<]*)</td>', html) == [
            "Mikaeli",
            "Varberga",
            "Vivalla",
        ]
        assert cells(html, "Barn-CNI") == ["2,50", "3,10", "2,87"]
        assert cells(html, "Listade barn 0–5 år") == ["250", "400", "612"]
        assert cells(html, "Vikt") == ["625,00", "1240,00", "1756,44"]  # exact
        amounts = cells(html, "Belopp")
        assert len(amounts) == 3
        assert cells(html, "Summa") == [kr("9 000,00 kr")]
        response = client.post(
            url("grant_fixed_allocation_post", grant), {"year": "2026", "pool": "9000"}, follow=True
        )
        assert "är fördelad" in html_of(response)
        assert ledger.figures(grant).allocated == D("9000")
        again = client.post(
            url("grant_fixed_allocation_post", grant), {"year": "2026", "pool": "1000"}, follow=True
        )
        assert "redan fördelad" in html_of(again)
        preview = html_of(
            client.post(url("grant_fixed_allocation", grant), {"year": "2026", "pool": "1000"})
        )
        assert "redan bokförd" in preview and ">Bokför</button>" not in preview
    assert ledger.figures(grant).allocated == D("9000")


def test_fixed_allocation_errors(client, org, finance, grant, approved):
    logged_in(client, finance)
    with at(d(2, 10)):
        html = html_of(
            client.post(url("grant_fixed_allocation", grant), {"year": "2026", "pool": "1"})
        )
        assert "Inga BVC har beviljad fast ersättning för 2026." in html and 'role="alert"' in html
        approved("Vivalla", "2.87", 612)
        html = html_of(
            client.post(url("grant_fixed_allocation", grant), {"year": "2026", "pool": "1000,50"})
        )
        assert re.search(r'name="pool"[^>]*aria-invalid="true"', html)
        assert "Ange potten i hela kronor" in html
        approved("Lundby", "2.40", None)
        html = html_of(
            client.post(url("grant_fixed_allocation", grant), {"year": "2026", "pool": "1000"})
        )
        assert "Lundby saknar antal listade barn" in html
    assert LedgerTransaction.objects.filter(grant=grant).count() == 1


# --- Compensation statements and paying a month -------------------------------------------------
@pytest.fixture
def august(org, finance):
    """Vivalla: two 2 500 kr visits and one 1 800 kr; Lundby one 2 500 kr visit, in August."""
    rule(org)
    vivalla = CentreFactory(organisation=org, name="Vivalla")
    lundby = CentreFactory(organisation=org, name="Lundby")
    visit(vivalla, d(8, 3))
    visit(vivalla, d(8, 4))
    visit(vivalla, d(8, 5), social_services_present=False)
    visit(lundby, d(8, 6))
    with at(d(1, 5)):
        grant = make_grant(org, finance, reference="26RS9", amount="100000")
    return vivalla, lundby, grant


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CBHV])
def test_statements_page(client, org, august, role):
    logged_in(client, member(role, organisation=org))
    html = html_of(client.get(url("compensation_list") + "?year=2026&month=8"))
    assert re.findall(r'data-label="BVC">([^<]*)</td>', html) == ["Lundby", "Vivalla"]
    assert cells(html, "Besök") == ["1", "3", "4"]
    assert cells(html, "Rörlig ersättning") == [
        kr("2 500,00 kr"),
        kr("5 000,00 kr"),
        kr("7 500,00 kr"),
    ]
    assert cells(html, "Ordinarie")[:2] == [kr("0,00 kr"), kr("1 800,00 kr")]
    assert cells(html, "Summa")[:2] == [kr("2 500,00 kr"), kr("6 800,00 kr")]
    assert (url("compensation_pay") in html) is (role == Role.FINANCE)


def test_a_centre_manager_sees_her_own_centres_statements(client, august):
    vivalla, _lundby, _grant = august
    logged_in(client, member(Role.CENTRE_MANAGER, centre=vivalla))
    html = html_of(client.get(url("compensation_list") + "?year=2026"))
    assert re.findall(r'data-label="BVC">([^<]*)</td>', html) == ["Vivalla"]
    assert client.get(url("grant_list")).status_code == 403


def test_paying_a_month_from_the_page_once(client, org, finance, august):
    _vivalla, _lundby, grant = august
    logged_in(client, finance)
    query = f"?grant={grant.pk}&year=2026&month=8"
    with at(d(9, 15)):
        html = html_of(client.get(url("compensation_pay") + query))
        assert cells(html, "Betalas från bidraget") == [kr("2 500,00 kr"), kr("5 000,00 kr")]
        assert "Betala " + kr("7 500,00 kr") in html
        assert LedgerTransaction.objects.filter(grant=grant, kind=TxKind.PAYOUT).count() == 0
        tok = re.search(r'name="token" value="([0-9a-f-]{36})"', html).group(1)
        data = {"grant": str(grant.pk), "year": "2026", "month": "8", "token": tok}
        response = client.post(url("compensation_pay"), data, follow=True)
        page = html_of(response)
        assert re.search(r'role="status".*Augusti 2026 är betald: 7\xa0500,00\xa0kr', page, re.S)
        assert "Betald och låst" in page
        again = client.post(url("compensation_pay"), data, follow=True)
        assert "Formuläret var redan skickat" in html_of(again)
        chosen = html_of(client.get(url("compensation_pay") + f"?grant={grant.pk}"))
        assert 'role="alert"' not in chosen and f'value="{grant.pk}" selected' in chosen
        paid = html_of(client.get(url("compensation_pay") + query))
        assert "Månaden är redan betald och låst." in paid and 'name="token"' not in paid
    assert payouts(grant) == 2
    assert ledger.figures(grant).paid_out == D("7500")
    assert PaidMonth.objects.filter(organisation=org).count() == org.centres.count()


def test_paying_a_month_beyond_the_balance_posts_nothing(client, org, finance, august):
    _v, _l, _g = august
    with at(d(1, 5)):
        small = make_grant(org, finance, reference="SMALL", amount="3000")
    logged_in(client, finance)
    with at(d(9, 15)):
        data = {"grant": str(small.pk), "year": "2026", "month": "8", "token": token()}
        html = html_of(client.post(url("compensation_pay"), data))
    assert 'role="alert"' in html and "Månaden kostar" in html
    assert payouts(small) == 0
    assert not PaidMonth.objects.exists()


def test_centre_page_shows_this_years_compensation_to_its_manager_not_its_nurse(demo, client):
    from core.models import Centre, User

    vivalla = Centre.objects.get(name="Vivalla/Lundby")
    url = f"/bvc/{vivalla.pk}/"
    client.force_login(User.objects.get(username="nurse_vivalla"))
    assert 'id="money-heading"' not in client.get(url).content.decode()
    for username in ("manager_vivalla", "finance", "cbhv"):
        client.force_login(User.objects.get(username=username))
        page = client.get(url).content.decode().replace("\xa0", " ")
        assert 'id="money-heading"' in page and "Summa för året" in page
        assert re.search(r"\d,\d\d kr", page)
