"""Who may do what with reports (API.md "Reports" and "Money at the edges"): one home for each
rule, used by the pages and the API alike.

Finance and CBHV of an organisation request and read every report of it; a centre manager
requests and reads the Hälsoval account of her centre. Narrative sections are written by CBHV
(Socialstyrelsen, SKL) and by the centre manager of the centre (Hälsoval); only that role
submits the report. CBHV and finance see what is due when. The patient's log extract
(`log_extract`) is the exception: the log reviewers of its organisation read it (it is asked
for through the log review, `reporting.log_extract`), and nobody else, whatever the role.
Everyone else is refused (403) before anything is looked up.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from core.models import Role
from core.scoping import scope_of
from reporting.models import (
    CENTRE_KINDS,
    PER_REQUEST_KINDS,
    SUBMITTABLE_KINDS,
    ReportKind,
    ReportRun,
)
from reporting.narratives import SECTIONS

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from core.models import User
    from reporting.subjects import Subject

# Organisation-wide roles that request and read every report of their organisation.
ORGANISATION_ROLES = (Role.FINANCE, Role.CBHV)
# Everyone who may ever request or read a report (the 403 before anything is looked up).
REPORT_ROLES = (Role.FINANCE, Role.CBHV, Role.CENTRE_MANAGER)
# Who submits: the role that writes the report's narratives (`may_submit`); finance never does.
SUBMIT_ROLES = (Role.CBHV, Role.CENTRE_MANAGER)
# Who sees the deadlines and gets their reminders (issue 18, item 9).
DEADLINE_ROLES = (Role.CBHV, Role.FINANCE)
# Who reads the log extracts of her organisations (and no other report).
LOG_EXTRACT_ROLES = (Role.LOG_REVIEWER,)
# The kinds requested through `POST /reports/` and the report pages: not the log extract.
ORGANISATION_KINDS = [k for k in ReportKind.values if k not in PER_REQUEST_KINDS]


def require(allowed: bool) -> None:
    """403 unless `allowed` (a page's role check, before any object is looked up)."""
    if not allowed:
        raise PermissionDenied


def works_with_reports(user: User | AnonymousUser) -> bool:
    """Finance, CBHV and centre managers work with reports; other roles never do."""
    return scope_of(user).has_role(*REPORT_ROLES)


def reads_runs(user: User | AnonymousUser) -> bool:
    """Works with reports, or reads log extracts (a run's page and state, before the run is
    looked up; `reporting.selectors.report_runs` then finds hers or answers 404)."""
    return scope_of(user).has_role(*REPORT_ROLES, *LOG_EXTRACT_ROLES)


def submits_reports(user: User | AnonymousUser) -> bool:
    """Holds a role that submits some report (the 403 before the run is looked up)."""
    return scope_of(user).has_role(*SUBMIT_ROLES)


def sees_deadlines(user: User | AnonymousUser) -> bool:
    return scope_of(user).has_role(*DEADLINE_ROLES)


def requestable_kinds(user: User) -> list[str]:
    """The kinds the user may ever request (the 403 of a request)."""
    scope = user.scope
    if scope.has_role(*ORGANISATION_ROLES):
        return list(ORGANISATION_KINDS)
    if scope.has_role(Role.CENTRE_MANAGER):
        return [k.value for k in CENTRE_KINDS]
    return []


def may_read_subject(user: User, subject: Subject) -> bool:
    """The row form of `reporting.selectors.report_runs`: finance and CBHV of the organisation,
    or the manager of the centre whose account it is; for a log extract, the organisation's
    log reviewers only."""
    scope = user.scope
    if subject.kind in PER_REQUEST_KINDS:
        return subject.organisation.pk in scope.organisation_ids(*LOG_EXTRACT_ROLES)
    if subject.organisation.pk in scope.organisation_ids(*ORGANISATION_ROLES):
        return True
    return (
        subject.kind in CENTRE_KINDS
        and subject.centre is not None
        and scope.has_role_at(Role.CENTRE_MANAGER, centre_id=subject.centre.pk)
    )


def _writes_narratives(
    user: User, kind: str, organisation_id: uuid.UUID, centre_id: uuid.UUID | None
) -> bool:
    """The role that writes a report's narrative sections: the centre manager of the centre for
    a Hälsoval account, CBHV of the organisation for Socialstyrelsen and SKL."""
    scope = user.scope
    if kind in CENTRE_KINDS:
        return centre_id is not None and scope.has_role_at(Role.CENTRE_MANAGER, centre_id=centre_id)
    if kind in SECTIONS:
        return scope.has_role_in(Role.CBHV, organisation_id=organisation_id)
    return False


def may_write_narrative(user: User, subject: Subject) -> bool:
    return _writes_narratives(
        user,
        subject.kind,
        subject.organisation.pk,
        subject.centre.pk if subject.centre is not None else None,
    )


def may_submit(user: User, run: ReportRun) -> bool:
    """Only the role that writes a report's narratives submits it (API.md "Money at the
    edges"): CBHV for Socialstyrelsen and SKL, the centre's manager for its Hälsoval account.
    Finance (and CBHV for an account) reads and requests, never submits."""
    return run.kind in SUBMITTABLE_KINDS and _writes_narratives(
        user, run.kind, run.organisation_id, run.centre_id
    )


# --- The same rules as DRF permissions ---------------------------------------------------------
class ReportAccess(BasePermission):
    """`works_with_reports`."""

    message = "Bara ekonomi, CBHV och vårdcentralschefer hanterar rapporter."

    def has_permission(self, request: Request, view: Any) -> bool:
        return works_with_reports(request.user)


class RunReadAccess(BasePermission):
    """`reads_runs`: a run's state (the log reviewer follows her log extract's)."""

    message = "Bara ekonomi, CBHV, vårdcentralschefer och logggranskare läser rapporter."

    def has_permission(self, request: Request, view: Any) -> bool:
        return reads_runs(request.user)


class SeesDeadlines(BasePermission):
    """`sees_deadlines`."""

    message = "Bara CBHV och ekonomi ser vad som ska rapporteras."

    def has_permission(self, request: Request, view: Any) -> bool:
        return sees_deadlines(request.user)
