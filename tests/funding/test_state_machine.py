"""The application's life as a state machine (API.md "Fixed-compensation applications"):
Hypothesis drives one application through random sequences of submit, request changes,
approve, reject, withdraw and update by the right people, and checks each call succeeds
exactly when the transition is allowed, raising Conflict otherwise, with the invariants
holding after every step."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import transaction
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from core.exceptions import Conflict
from core.models import Role
from funding.applications import (
    application_approve,
    application_reject,
    application_request_changes,
    application_submit,
    application_update,
    application_withdraw,
)
from funding.models import Application, ApplicationStatus, TransitionKind
from tests.core.factories import CentreFactory, OrganisationFactory, UserFactory, member
from tests.funding.factories import draft, plan

S = ApplicationStatus
NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=ZoneInfo("Europe/Stockholm"))

# The allowed transitions, from API.md.
ALLOWED: dict[str, set[str]] = {
    "submit": {S.DRAFT, S.CHANGES_REQUESTED},
    "update": {S.DRAFT, S.CHANGES_REQUESTED},
    "request_changes": {S.SUBMITTED},
    "approve": {S.SUBMITTED},
    "reject": {S.SUBMITTED},
    "withdraw": {S.DRAFT, S.SUBMITTED, S.CHANGES_REQUESTED, S.APPROVED},
}
TARGET = {
    "request_changes": S.CHANGES_REQUESTED,
    "approve": S.APPROVED,
    "reject": S.REJECTED,
    "withdraw": S.WITHDRAWN,
}

comments = st.text(alphabet="abcåäö ,.", min_size=0, max_size=12).map(lambda s: s + "x")


class ApplicationMachine(RuleBasedStateMachine):
    """One application of an eligible centre; data lives in a savepoint rolled back at the
    end of each example."""

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        org = OrganisationFactory()
        centre = CentreFactory(organisation=org)
        self.centre_staff = [
            member(Role.CENTRE_MANAGER, centre=centre),
            member(Role.NURSE, centre=centre),
        ]
        self.deciders = [member(Role.CBHV, organisation=org) for _ in range(2)]
        self.outsiders = [
            member(Role.NURSE, centre=centre, user=UserFactory()),
            member(Role.FINANCE, organisation=org),
            member(Role.CBHV, organisation=OrganisationFactory()),
        ]
        self.application = draft(centre, by=self.centre_staff[0])
        # The model.
        self.status: str = S.DRAFT
        self.ever_approved = False
        self.transitions = 1  # created
        self.planned_visits = self.application.planned_visits

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- driving ------------------------------------------------------------------------------
    @initialize(
        path=st.sampled_from(
            [
                [],
                ["submit"],
                ["submit", "request_changes"],
                ["submit", "approve"],
                ["submit", "reject"],
                ["submit", "approve", "withdraw"],
            ]
        )
    )
    def start_somewhere(self, path: list[str]) -> None:
        """Start each example in any state (through the same rules), so that the rarer
        states are reached within a few steps."""
        for step in path:
            if step in ("submit", "withdraw"):
                getattr(self, step)(who=0)
            else:
                getattr(self, step)(who=0, **{"reason" if step == "reject" else "comment": "x"})
        assert self.status == (S.DRAFT if not path else TARGET.get(path[-1], S.SUBMITTED))

    def attempt(self, name: str, call) -> bool:
        """Call the service; it must succeed exactly when `name` is allowed now."""
        allowed = self.status in ALLOWED[name]
        if allowed:
            call()
            self.transitions += 1
            return True
        before = Application.objects.get(pk=self.application.pk)
        with pytest.raises(Conflict):
            call()
        after = Application.objects.get(pk=self.application.pk)
        assert after.status == before.status == self.status
        return False

    @rule(who=st.integers(0, 1))
    def submit(self, who: int) -> None:
        was = self.status
        if self.attempt(
            "submit",
            lambda: application_submit(user=self.centre_staff[who], application=self.application),
        ):
            self.status = S.SUBMITTED
            last = self.current().transitions.last()
            expected = (
                TransitionKind.RESUBMITTED
                if was == S.CHANGES_REQUESTED
                else TransitionKind.SUBMITTED
            )
            assert last is not None
            assert (last.kind, last.by) == (expected, self.centre_staff[who])

    @rule(who=st.integers(0, 1), visits=st.integers(1, 500))
    def update(self, who: int, visits: int) -> None:
        new_plan = plan(planned_visits=visits, nurse_hours_per_week=Decimal("10.5"))
        if self.attempt(
            "update",
            lambda: application_update(
                user=self.centre_staff[who], application=self.application, plan=new_plan
            ),
        ):
            self.planned_visits = visits

    @rule(who=st.integers(0, 1), comment=comments)
    def request_changes(self, who: int, comment: str) -> None:
        if self.attempt(
            "request_changes",
            lambda: application_request_changes(
                user=self.deciders[who], application=self.application, comment=comment
            ),
        ):
            self.status = S.CHANGES_REQUESTED

    @rule(who=st.integers(0, 1), comment=st.one_of(st.just(""), comments))
    def approve(self, who: int, comment: str) -> None:
        if self.attempt(
            "approve",
            lambda: application_approve(
                user=self.deciders[who], application=self.application, comment=comment
            ),
        ):
            self.status = S.APPROVED
            self.ever_approved = True
            app = self.current()
            assert (app.decided_by, app.effective_from) == (self.deciders[who], NOW.date())

    @rule(who=st.integers(0, 1), reason=comments)
    def reject(self, who: int, reason: str) -> None:
        if self.attempt(
            "reject",
            lambda: application_reject(
                user=self.deciders[who], application=self.application, reason=reason
            ),
        ):
            self.status = S.REJECTED
            assert self.current().decision_comment == reason.strip()

    @rule(who=st.integers(0, 1))
    def withdraw(self, who: int) -> None:
        if self.attempt(
            "withdraw",
            lambda: application_withdraw(user=self.centre_staff[who], application=self.application),
        ):
            self.status = S.WITHDRAWN

    @rule(
        who=st.integers(0, 2),
        decision=st.sampled_from(["request_changes", "approve", "reject"]),
    )
    def someone_else_decides(self, who: int, decision: str) -> None:
        """A nurse, finance or another organisation's CBHV: refused in every state (403 comes
        before 409), and nothing changes."""
        user, app = self.outsiders[who], self.application
        call = {
            "request_changes": lambda: application_request_changes(
                user=user, application=app, comment="Mer"
            ),
            "approve": lambda: application_approve(user=user, application=app),
            "reject": lambda: application_reject(user=user, application=app, reason="Nej"),
        }[decision]
        with pytest.raises(PermissionDenied):
            call()

    # --- invariants ---------------------------------------------------------------------------
    def current(self) -> Application:
        return Application.objects.get(pk=self.application.pk)

    @invariant()
    def the_invariants_hold(self) -> None:
        app = self.current()
        # The stored state is the one the model expects.
        assert app.status == self.status
        assert app.planned_visits == self.planned_visits
        # Approved only in approved or withdrawn, and then with its decision.
        assert app.approved == self.ever_approved
        if app.approved:
            assert app.status in (S.APPROVED, S.WITHDRAWN)
            assert app.effective_from is not None
            assert app.decided_at is not None
        else:
            assert app.effective_from is None
        # A rejection has its reason.
        if app.status == S.REJECTED:
            assert app.decision_comment.strip()
            assert app.decided_by_id is not None
        # A withdrawal has its day, and only a withdrawal.
        assert (app.withdrawn_on is not None) == (app.status == S.WITHDRAWN)
        if app.status == S.WITHDRAWN:
            assert (app.withdrawn_on, app.withdrawn_at) == (NOW.date(), NOW)
        # Once submitted, the submitter is someone of the centre.
        if app.submitted_by_id is not None:
            assert app.submitted_by_id in {u.pk for u in self.centre_staff}
        # Each successful step adds exactly one transition.
        assert app.transitions.count() == self.transitions


def test_the_application_follows_its_state_machine(db: None) -> None:
    with time_machine.travel(NOW, tick=False):
        run_state_machine_as_test(
            ApplicationMachine,
            settings=settings(max_examples=25, stateful_step_count=12, deadline=None),
        )
