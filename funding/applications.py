"""The application workflow of fixed compensation (DOMAIN.md 4.2, API.md "Fixed-compensation
applications"): a centre drafts a plan, submits it when eligible, CBHV requests changes,
approves or rejects, the centre may withdraw.

Every transition is a function here, guarded by the application's state (a wrong state is a
Conflict, 409) and by who may take it (PermissionDenied, 403: only CBHV of the organisation
decides, and never on an application of a centre they belong to or that they drafted or
submitted; the rules are `funding.selectors.may_decide()` and `is_centre_staff()`). Each
transition is recorded with who, when and why, and mails the other side after commit.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field
from decimal import Decimal

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.exceptions import Conflict
from core.models import Centre, User
from funding import notifications, selectors
from funding.compensation import recompute_application
from funding.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
    TransitionKind,
    Transport,
)

S = ApplicationStatus
EDITABLE = (S.DRAFT, S.CHANGES_REQUESTED)
WITHDRAWABLE = (S.DRAFT, S.SUBMITTED, S.CHANGES_REQUESTED, S.APPROVED)


@dataclass
class Plan:
    """The plan of seed 004 (API.md field names)."""

    nurse_hours_per_week: Decimal
    social_services_contacted: bool
    planned_visits: int
    programme: str
    target_families: str
    start_date: datetime.date
    transport: str
    social_services_contact: str = ""
    planned_slots: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, application: Application) -> Plan:
        """The plan an application holds now."""
        return cls(**{name: getattr(application, name) for name in PLAN_FIELDS})


PLAN_FIELDS = [
    "nurse_hours_per_week",
    "social_services_contacted",
    "social_services_contact",
    "planned_visits",
    "programme",
    "planned_slots",
    "target_families",
    "start_date",
    "transport",
]


def _clean_plan(plan: Plan, year: int) -> Plan:
    errors: dict[str, list[str]] = {}
    if plan.nurse_hours_per_week <= 0 or plan.nurse_hours_per_week > 80:
        errors["nurse_hours_per_week"] = [_("Ange timmar per vecka (över 0, högst 80).")]
    if plan.planned_visits < 1:
        errors["planned_visits"] = [_("Ange hur många utökade hembesök som planeras.")]
    if plan.programme not in ("full", "partial"):
        errors["programme"] = [_("Välj hela eller delar av programmet.")]
    slots = list(dict.fromkeys(s.strip() for s in plan.planned_slots if s.strip()))
    if plan.programme == "partial" and not slots:
        errors["planned_slots"] = [_("Ange vilka besök som planeras.")]
    if plan.programme == "full":
        slots = []
    if not plan.target_families.strip():
        errors["target_families"] = [_("Beskriv vilka familjer som ska erbjudas.")]
    if plan.start_date.year > year:
        errors["start_date"] = [_("Starten ligger efter ansökningsåret.")]
    if plan.transport not in Transport.values:
        errors["transport"] = [_("Välj transportsätt.")]
    if plan.social_services_contacted and not plan.social_services_contact.strip():
        errors["social_services_contact"] = [_("Ange vem hos socialtjänsten ni har kontakt med.")]
    if errors:
        raise ValidationError(errors)
    plan.planned_slots = slots
    plan.target_families = plan.target_families.strip()
    plan.social_services_contact = plan.social_services_contact.strip()
    return plan


def _record(application: Application, kind: str, user: User, comment: str = "") -> None:
    ApplicationTransition.objects.create(
        application=application, kind=kind, by=user, comment=comment
    )


def _locked(application: Application) -> Application:
    return Application.objects.select_for_update().select_related("centre").get(pk=application.pk)


def _require_state(application: Application, *states: str) -> None:
    if application.status not in states:
        raise Conflict(
            _("Ansökan är %(status)s; det går inte nu.")
            % {"status": application.get_status_display().lower()}
        )


def _require_decider(user: User, application: Application) -> None:
    if not selectors.is_decider_of(user=user, application=application):
        raise PermissionDenied(_("Bara CBHV beslutar om ansökningar."))
    if not selectors.may_decide(user=user, application=application):
        raise PermissionDenied(_("Ingen beslutar om en ansökan från sin egen BVC."))


def _require_centre_staff(user: User, centre: Centre) -> None:
    if not selectors.is_centre_staff(user=user, centre_id=centre.pk):
        raise PermissionDenied(_("Bara BVC:ns sjuksköterskor och chef ansöker för BVC:n."))


def application_create(*, user: User, centre: Centre, year: int, plan: Plan) -> Application:
    _require_centre_staff(user, centre)
    if year < timezone.localdate().year:
        raise ValidationError({"year": [_("Ansök för innevarande eller ett senare år.")]})
    plan = _clean_plan(plan, year)
    application = Application(centre=centre, year=year, created_by=user, **asdict(plan))
    try:
        with transaction.atomic(), pghistory.context(user=user.username):
            application.save()
            _record(application, TransitionKind.CREATED, user)
    except IntegrityError as exc:
        raise Conflict(_("BVC:n har redan en ansökan för %(year)s.") % {"year": year}) from exc
    return application


def application_update(*, user: User, application: Application, plan: Plan) -> Application:
    plan = _clean_plan(plan, application.year)
    _require_centre_staff(user, application.centre)
    with transaction.atomic(), pghistory.context(user=user.username):
        locked = _locked(application)
        _require_state(locked, *EDITABLE)
        for name, value in asdict(plan).items():
            setattr(locked, name, value)
        locked.save(update_fields=PLAN_FIELDS)
        _record(locked, TransitionKind.UPDATED, user)
    return locked


def application_submit(*, user: User, application: Application) -> Application:
    """Submit (also after changes were requested). The centre must be eligible for the
    application's year (`selectors.Eligibility`), else ValidationError on `centre`."""
    _require_centre_staff(user, application.centre)
    with transaction.atomic(), pghistory.context(user=user.username):
        locked = _locked(application)
        _require_state(locked, *EDITABLE)
        eligibility = selectors.centre_eligibility(locked.centre, locked.year)
        if not eligibility.eligible:
            raise ValidationError({"centre": [eligibility.reason]})
        resubmission = locked.status == S.CHANGES_REQUESTED
        locked.status = S.SUBMITTED
        locked.submitted_by = user
        locked.submitted_at = timezone.now()
        locked.save(update_fields=["status", "submitted_by", "submitted_at"])
        kind = TransitionKind.RESUBMITTED if resubmission else TransitionKind.SUBMITTED
        _record(locked, kind, user)
        notifications.on_commit_notify_deciders(locked, kind)
    return locked


def application_save(
    *,
    user: User,
    centre: Centre,
    year: int,
    application: Application | None,
    plan: Plan,
    submit: bool,
) -> Application:
    """The application form's "Spara utkast" and "Skicka in": create the application (when
    `application` is None) or change its plan, and with `submit` submit it, all or nothing, so
    a refused submission leaves the application as it was."""
    with transaction.atomic():
        if application is None:
            saved = application_create(user=user, centre=centre, year=year, plan=plan)
        else:
            saved = application_update(user=user, application=application, plan=plan)
        if submit:
            saved = application_submit(user=user, application=saved)
    return saved


def application_request_changes(
    *, user: User, application: Application, comment: str
) -> Application:
    _require_decider(user, application)
    if not comment.strip():
        raise ValidationError({"comment": [_("Skriv vad som ska kompletteras.")]})
    with transaction.atomic(), pghistory.context(user=user.username):
        locked = _locked(application)
        _require_decider(user, locked)  # the stored row: who submitted it is current
        _require_state(locked, S.SUBMITTED)
        locked.status = S.CHANGES_REQUESTED
        locked.save(update_fields=["status"])
        _record(locked, TransitionKind.CHANGES_REQUESTED, user, comment.strip())
        notifications.on_commit_notify_centre(locked, TransitionKind.CHANGES_REQUESTED)
    return locked


def application_approve(
    *,
    user: User,
    application: Application,
    comment: str = "",
    effective_from: datetime.date | None = None,
) -> Application:
    _require_decider(user, application)
    with transaction.atomic(), pghistory.context(user=user.username):
        locked = _locked(application)
        _require_decider(user, locked)  # the stored row: who submitted it is current
        _require_state(locked, S.SUBMITTED)
        now = timezone.now()
        # Default: the later of the decision date and the plan's start date (DOMAIN.md 4.1).
        start = effective_from or max(
            timezone.localdate(now), locked.start_date, datetime.date(locked.year, 1, 1)
        )
        if start.year != locked.year:
            raise ValidationError(
                {"effective_from": [_("Datumet ska ligga i ansökningsåret %s.") % locked.year]}
            )
        locked.status = S.APPROVED
        locked.approved = True
        locked.decided_by = user
        locked.decided_at = now
        locked.decision_comment = comment.strip()
        locked.effective_from = start
        locked.save(
            update_fields=[
                "status",
                "approved",
                "decided_by",
                "decided_at",
                "decision_comment",
                "effective_from",
            ]
        )
        _record(locked, TransitionKind.APPROVED, user, comment.strip())
        recompute_application(locked)  # DOMAIN.md 4.1: a decision recomputes its visits
        notifications.on_commit_notify_centre(locked, TransitionKind.APPROVED)
    return locked


def application_reject(*, user: User, application: Application, reason: str) -> Application:
    _require_decider(user, application)
    if not reason.strip():
        raise ValidationError({"reason": [_("Ange skälet till avslaget.")]})
    with transaction.atomic(), pghistory.context(user=user.username):
        locked = _locked(application)
        _require_decider(user, locked)  # the stored row: who submitted it is current
        _require_state(locked, S.SUBMITTED)
        locked.status = S.REJECTED
        locked.decided_by = user
        locked.decided_at = timezone.now()
        locked.decision_comment = reason.strip()
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
        _record(locked, TransitionKind.REJECTED, user, reason.strip())
        notifications.on_commit_notify_centre(locked, TransitionKind.REJECTED)
    return locked


def application_withdraw(*, user: User, application: Application) -> Application:
    """The centre withdraws (from any state but rejected). An approved application keeps its
    decision; the centre has fixed compensation up to the day before the withdrawal."""
    _require_centre_staff(user, application.centre)
    with transaction.atomic(), pghistory.context(user=user.username):
        locked = _locked(application)
        _require_state(locked, *WITHDRAWABLE)
        now = timezone.now()
        locked.status = S.WITHDRAWN
        locked.withdrawn_at = now
        locked.withdrawn_on = timezone.localdate(now)
        locked.save(update_fields=["status", "withdrawn_at", "withdrawn_on"])
        _record(locked, TransitionKind.WITHDRAWN, user)
        recompute_application(locked)  # only an approved one changes anything
        if locked.submitted_at is not None:
            notifications.on_commit_notify_deciders(locked, TransitionKind.WITHDRAWN)
    return locked
