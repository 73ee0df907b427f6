"""The per-visit rates pinned to their sources (issue 23, item 4; DOMAIN.md 4.1, seed 004):
Region Örebro län pays 2 500 kr for a completed home visit made jointly with social services
(ZV509) at a centre without fixed compensation, and 1 800 kr, the ordinary rate, for any other
completed home visit, also a joint one at a centre with fixed compensation. The amounts are
written here as literals, not read from the code: a change to the demo's rates, or to how the
compensation service applies them, fails a test."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from core.models import Centre, Organisation
from funding.compensation import compensation_for
from funding.models import Application, CompensationRule, VisitCompensation
from tests.visits.factories import ChildFactory, EnrolmentFactory, log_visit
from visits.models import Visit

pytestmark = pytest.mark.django_db

JOINT = Decimal("2500.00")  # seed 004: "2 500 kr" per home visit with social services
ORDINARY = Decimal("1800.00")  # seed 004: the ordinary rate, "1 800 kr"


def orebro() -> Organisation:
    return Organisation.objects.get(name="Region Örebro län")


def completed_home_visits(centre: Centre, *, social_services: bool):
    return VisitCompensation.objects.filter(
        centre=centre,
        visit__place="home",
        visit__status="completed",
        visit__social_services_present=social_services,
    )


# --- The demo data --------------------------------------------------------------------------------
def test_the_demo_rule_of_orebro_is_2500_and_1800(demo):
    rule = CompensationRule.objects.in_force(orebro().pk, timezone.localdate())
    assert rule is not None
    assert (rule.programme_variable, rule.ordinary) == (JOINT, ORDINARY)


def test_the_demo_pays_2500_for_joint_visits_at_a_centre_without_fixed_compensation(demo):
    adolfsberg = Centre.objects.get(name="Adolfsberg")  # child CNI below 2: never fixed
    assert not Application.objects.filter(centre=adolfsberg, approved=True).exists()
    joint = completed_home_visits(adolfsberg, social_services=True)
    assert joint.exists()
    assert set(joint.values_list("type", "amount")) == {("programme_variable", JOINT)}
    alone = completed_home_visits(adolfsberg, social_services=False)
    assert alone.exists()
    assert set(alone.values_list("type", "amount")) == {("ordinary", ORDINARY)}


def test_the_demo_pays_1800_for_joint_visits_while_a_centre_has_fixed_compensation(demo):
    approved = Application.objects.get(centre__name="Vivalla/Lundby", approved=True)
    period = approved.fixed_period()
    assert period is not None
    joint = completed_home_visits(approved.centre, social_services=True).filter(
        visit__date__gte=period[0], visit__date__lte=period[1]
    )
    if not joint.exists():
        pytest.skip("early in the year the demo has no visit in the fixed period yet")
    assert set(joint.values_list("type", "amount")) == {("ordinary", ORDINARY)}


# --- A visit made by hand -------------------------------------------------------------------------
def _log(centre: Centre, *, social_services: bool) -> Visit:
    """A completed home visit today, logged through the visit service (its compensation is
    computed by the compensation service's hook)."""
    today = timezone.localdate()
    child = ChildFactory(current_centre=centre, birth_date=today - datetime.timedelta(days=90))
    return log_visit(
        EnrolmentFactory(child=child), date=today, social_services_present=social_services
    )


def _paid(visit: Visit) -> tuple[str, Decimal]:
    row = VisitCompensation.objects.get(visit=visit)
    return row.type, row.amount


def test_a_joint_visit_logged_today_at_adolfsberg_earns_2500_and_a_visit_alone_1800(demo):
    adolfsberg = Centre.objects.get(name="Adolfsberg")
    assert _paid(_log(adolfsberg, social_services=True)) == ("programme_variable", JOINT)
    assert _paid(_log(adolfsberg, social_services=False)) == ("ordinary", ORDINARY)


def test_a_joint_visit_logged_today_at_a_centre_with_fixed_compensation_earns_1800(demo):
    approved = Application.objects.get(centre__name="Vivalla/Lundby", approved=True)
    if not approved.gives_fixed_on(timezone.localdate()):
        pytest.skip("the demo's fixed compensation starts on 1 February")
    assert _paid(_log(approved.centre, social_services=True)) == ("ordinary", ORDINARY)


def test_the_rule_of_the_table_with_seed_004s_rates():
    rule = CompensationRule(
        programme_variable=Decimal("2500"),
        ordinary=Decimal("1800"),
        valid_from=datetime.date(2023, 1, 1),
    )
    free, fixed = Centre(name="Adolfsberg"), Centre(name="Vivalla/Lundby")

    def visit(centre: Centre, **fields: object) -> Visit:
        values = {"status": "completed", "place": "home", "social_services_present": True}
        return Visit(centre=centre, date=datetime.date(2026, 3, 3), **{**values, **fields})

    assert compensation_for(visit(free), {fixed.pk}, rule)[:2] == ("programme_variable", JOINT)
    assert compensation_for(visit(fixed), {fixed.pk}, rule)[:2] == ("ordinary", ORDINARY)
    assert compensation_for(visit(free, social_services_present=False), {fixed.pk}, rule)[:2] == (
        "ordinary",
        ORDINARY,
    )
    assert compensation_for(visit(free, place="clinic"), {fixed.pk}, rule)[:2] == (
        "none",
        Decimal("0.00"),
    )
