"""Fixed compensation: CNI values, the yearly scheme, and the application workflow.

Every transition is a function here, guarded by the application's state (a wrong state is a
Conflict, 409) and by who may take it (PermissionDenied, 403: only CBHV of the organisation
decides, and never on an application of a centre they belong to or that they drafted or
submitted). Each transition is recorded with who, when and why, and mails the other side after
commit.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from core.exceptions import Conflict
from core.models import Centre, Membership, Role, User
from funding import notifications
from funding.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
    CniKind,
    CniValue,
    FixedCompensationScheme,
    TransitionKind,
    Transport,
    Weighting,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

S = ApplicationStatus
DEFAULT_THRESHOLD = Decimal("2.00")


# --- CNI and the scheme -----------------------------------------------------------------------
def scheme_in_force(*, organisation_id: uuid.UUID, year: int) -> FixedCompensationScheme:
    """The organisation's scheme for `year` (a year without its own uses the latest earlier
    one). Without any scheme the defaults of seed 004 apply, unsaved."""
    scheme = FixedCompensationScheme.objects.in_force(organisation_id, year)
    if scheme is None:
        return FixedCompensationScheme(
            organisation_id=organisation_id,
            from_year=year,
            threshold=DEFAULT_THRESHOLD,
            weighting=Weighting.CNI_X_LISTED,
        )
    return scheme


def scheme_set(
    *, user: User, organisation_id: uuid.UUID, from_year: int, threshold: Decimal, weighting: str
) -> FixedCompensationScheme:
    if weighting not in Weighting.values:
        raise ValidationError({"weighting": [_("Välj en fördelningsgrund.")]})
    if threshold < 0:
        raise ValidationError({"threshold": [_("Tröskeln kan inte vara negativ.")]})
    scheme, _created = FixedCompensationScheme.objects.update_or_create(
        organisation_id=organisation_id,
        from_year=from_year,
        defaults={"threshold": threshold, "weighting": weighting, "updated_by": user},
    )
    return scheme


def current_child_cni(centre: Centre) -> CniValue | None:
    return CniValue.objects.current_for([centre.pk]).first()


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    cni: CniValue | None
    threshold: Decimal

    @property
    def reason(self) -> str:
        if self.cni is None:
            return _("BVC:n har inget barn-CNI registrerat; tröskeln är %(t)s.") % {
                "t": number_format(self.threshold, 2)
            }
        return _("BVC:ns barn-CNI är %(cni)s; det måste vara över %(t)s.") % {
            "cni": number_format(self.cni.value, 2),
            "t": number_format(self.threshold, 2),
        }


def centre_eligibility(centre: Centre, year: int) -> Eligibility:
    """Seed 004: only centres whose current child CNI is above the threshold may apply."""
    threshold = scheme_in_force(organisation_id=centre.organisation_id, year=year).threshold
    cni = current_child_cni(centre)
    return Eligibility(cni is not None and cni.value > threshold, cni, threshold)


# --- Applications -----------------------------------------------------------------------------
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


def is_own_application(user: User, application: Application) -> bool:
    """API.md: deciding one's own application means deciding as a member of its centre, or as
    the one who drafted or submitted it."""
    if user.pk in (application.created_by_id, application.submitted_by_id):
        return True
    # A resubmission overwrites submitted_by: every earlier drafter and submitter counts too.
    if ApplicationTransition.objects.filter(
        application_id=application.pk,
        by_id=user.pk,
        kind__in=[TransitionKind.CREATED, TransitionKind.SUBMITTED, TransitionKind.RESUBMITTED],
    ).exists():
        return True
    return Membership.objects.filter(user=user, centre_id=application.centre_id).exists()


def _require_decider(user: User, application: Application) -> None:
    if not user.scope.has_role_in(Role.CBHV, organisation_id=application.centre.organisation_id):
        raise PermissionDenied(_("Bara CBHV beslutar om ansökningar."))
    if is_own_application(user, application):
        raise PermissionDenied(_("Ingen beslutar om en ansökan från sin egen BVC."))


def _require_centre_staff(user: User, centre: Centre) -> None:
    if not (
        user.scope.has_role_at(Role.NURSE, centre_id=centre.pk)
        or user.scope.has_role_at(Role.CENTRE_MANAGER, centre_id=centre.pk)
    ):
        raise PermissionDenied(_("Bara BVC:ns sjuksköterskor och chef ansöker för BVC:n."))


def application_create(*, user: User, centre: Centre, year: int, plan: Plan) -> Application:
    _require_centre_staff(user, centre)
    if year < timezone.localdate().year:
        raise ValidationError({"year": [_("Ansök för innevarande eller ett senare år.")]})
    plan = _clean_plan(plan, year)
    application = Application(centre=centre, year=year, created_by=user, **plan.__dict__)
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
        _require_state(locked, S.DRAFT, S.CHANGES_REQUESTED)
        for name, value in plan.__dict__.items():
            setattr(locked, name, value)
        locked.save(update_fields=PLAN_FIELDS)
        _record(locked, TransitionKind.UPDATED, user)
    return locked


def application_submit(*, user: User, application: Application) -> Application:
    _require_centre_staff(user, application.centre)
    with transaction.atomic(), pghistory.context(user=user.username):
        locked = _locked(application)
        _require_state(locked, S.DRAFT, S.CHANGES_REQUESTED)
        eligibility = centre_eligibility(locked.centre, locked.year)
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
        from funding.compensation import recompute_application  # it imports this module

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
        _require_state(locked, S.DRAFT, S.SUBMITTED, S.CHANGES_REQUESTED, S.APPROVED)
        now = timezone.now()
        locked.status = S.WITHDRAWN
        locked.withdrawn_at = now
        locked.withdrawn_on = timezone.localdate(now)
        locked.save(update_fields=["status", "withdrawn_at", "withdrawn_on"])
        _record(locked, TransitionKind.WITHDRAWN, user)
        from funding.compensation import recompute_application  # it imports this module

        recompute_application(locked)  # only an approved one changes anything
        if locked.submitted_at is not None:
            notifications.on_commit_notify_deciders(locked, TransitionKind.WITHDRAWN)
    return locked


# --- The rule the money work uses ---------------------------------------------------------------
def centres_with_fixed_compensation(
    day: datetime.date, centre_ids: Iterable[object] | None = None
) -> set[object]:
    """Ids of the centres that have fixed compensation on `day` (one query)."""
    qs = Application.objects.fixed_on(day)
    if centre_ids is not None:
        qs = qs.filter(centre_id__in=list(centre_ids))
    return set(qs.values_list("centre_id", flat=True))


def has_fixed_compensation(centre: Centre, day: datetime.date) -> bool:
    return Application.objects.fixed_on(day).filter(centre=centre).exists()


def cni_record(
    *,
    user: User | None,
    centre: Centre,
    value: Decimal,
    reference_date: datetime.date,
    source: str,
    kind: str = CniKind.CHILD_CNI,
    scale: str = "Riksgenomsnitt 1,0",
    listed_children: int | None = None,
) -> CniValue:
    cni = CniValue(
        centre=centre,
        kind=kind,
        value=value,
        reference_date=reference_date,
        source=source,
        scale=scale,
        listed_children=listed_children,
        created_by=user,
    )
    cni.full_clean()
    cni.save()
    return cni
