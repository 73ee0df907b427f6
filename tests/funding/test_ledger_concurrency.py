"""Concurrent payouts on one grant never overdraw (API.md: "Concurrent payouts never
overdraw"): `payout_post()` locks the grant's row, so each payout sees the ones before it.
Each thread has its own database connection, so the test needs real transactions."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from core.models import Role
from funding import ledger
from funding.models import LedgerTransaction
from tests.core.factories import OrganisationFactory, member

THREADS = 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_payouts_never_overdraw():
    org = OrganisationFactory()
    finance = member(Role.FINANCE, organisation=org)
    grant = ledger.grant_create(
        user=finance,
        organisation=org,
        funder="region",
        reference="R1",
        year=2023,
        amount=Decimal("1000.00"),
        received_on=datetime.date(2023, 1, 1),
        use_by=datetime.date(2023, 12, 31),
        report_due=datetime.date(2024, 3, 1),
    )
    amount = Decimal("300.00")  # ten of them ask for 3000.00 of 1000.00
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            ledger.payout_post(
                user=finance,
                grant=grant,
                recipient_type="organisation",
                recipient_id=org.pk,
                category="coordination",
                amount=amount,
                date=datetime.date(2023, 6, 1),
            )
            outcome = "paid"
        except ValidationError:
            outcome = "refused"
        except Exception as exc:  # anything else fails the test below
            outcome = repr(exc)
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(set(outcomes)) == ["paid", "refused"], outcomes
    assert outcomes.count("paid") == 3  # floor(1000 / 300)
    state = ledger.figures(grant)
    assert state.balance == Decimal("100.00")
    assert state.balance >= 0
    assert LedgerTransaction.objects.filter(grant=grant, kind="payout").count() == 3
