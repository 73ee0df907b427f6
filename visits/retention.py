"""Retention (gallring, issue 24): children's data anonymised some years after their programme
ended, and access-log rows purged after their period.

Children. A child is due when it has no open enrolment and its last day in the programme (the
latest end, decline or visit date; its registration day when it never had an enrolment) lies
CHILD_DATA_RETENTION_YEARS or more before today. A due child is **anonymised, not deleted**:
its visits carry per-visit compensation, adjustments in the append-only money records and paid
months point at them, and the reports of past years count them, so removing the rows would
rewrite money that was paid and figures that were reported. What identifies the child goes:
the identity number (replaced by a value derived from the row's id, so uniqueness holds), its
keyed hash on the row, the names, the protected-identity mark, the family's language (free
text), and the day of birth (kept as the first day of its month, so ages stay right to the
month). Dates, centres, templates, slots, codes and the visits' facts stay. The history rows
(pghistory) of the child, its enrolments and visits are deleted, since they hold copies of the
identity and the names; the anonymisation itself leaves one history row with the anonymised
values. Each child is anonymised in its own transaction, which also writes the access log
(action "update", what "gallring", as the system) with the hash of the identity it had, so a
patient's log extract still finds every row about the child.

Access log. Rows older than ACCESS_LOG_RETENTION_YEARS (at least ACCESS_LOG_FLOOR_YEARS, held
by the settings, by `access_log_purge` and by the table's trigger) are deleted by
`manage.py purge_access_log`, which records itself as a log row without a patient.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import pghistory
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Count, DateField, Exists, Max, OuterRef, Q
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone

from core.dates import add_years
from core.models import Organisation
from visits.access_log import log_children, log_without_patient
from visits.identity import IdentityType
from visits.models import (
    ACCESS_LOG_FLOOR_YEARS,
    AccessAction,
    AccessLog,
    Child,
    ChildQuerySet,
    Enrolment,
    Visit,
    VisitImportRow,
)

logger = logging.getLogger(__name__)

# What the access log records for the anonymisation of a child.
ANONYMISED = "gallring"
# The identity an anonymised child keeps: a reserve-number type (no format check) and a value
# made from its id: 8 + 32 characters, the column's 40.
ANONYMISED_PREFIX = "GALLRAD-"


class _System(AnonymousUser):
    """The retention job in the access log: no user id, the name "system"."""

    def get_username(self) -> str:
        return "system"


SYSTEM = _System()


@dataclass(frozen=True)
class OrganisationCount:
    """What retention anonymised (or, in a dry run, would anonymise) in one organisation."""

    organisation: str
    children: int
    enrolments: int
    visits: int


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime.date  # a child whose last day is on or before this is due
    years: int
    dry_run: bool
    organisations: list[OrganisationCount]

    @property
    def children(self) -> int:
        return sum(o.children for o in self.organisations)


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime.date  # rows logged before this day (Europe/Stockholm) are removed
    years: int
    dry_run: bool
    rows: int


def _years(name: str, floor: int) -> int:
    years = getattr(settings, name)
    if not isinstance(years, int) or years < floor:
        raise ImproperlyConfigured(f"{name} must be a whole number of years, at least {floor}.")
    return years


def child_retention_years() -> int:
    # Patientdatalagen 3 kap. 17 §: a patient record is kept at least ten years after its last
    # entry (the settings' floor).
    return _years("CHILD_DATA_RETENTION_YEARS", settings.CHILD_DATA_RETENTION_MIN_YEARS)


def access_log_retention_years() -> int:
    return _years("ACCESS_LOG_RETENTION_YEARS", ACCESS_LOG_FLOOR_YEARS)


# --- Children ------------------------------------------------------------------------------
def children_due(*, today: datetime.date) -> ChildQuerySet:
    """Children not yet anonymised, with no open enrolment, whose last day in the programme is
    CHILD_DATA_RETENTION_YEARS or more before `today`."""
    cutoff = add_years(today, -child_retention_years())
    open_enrolment = Enrolment.objects.filter(
        child=OuterRef("pk"), ended_on__isnull=True, declined_on__isnull=True
    )
    # GREATEST skips NULLs. The registration day counts only for a child never enrolled: an
    # imported history's dates are its own, whenever the rows were written.
    last_day = Coalesce(
        Greatest(
            Max("enrolments__ended_on"),
            Max("enrolments__declined_on"),
            Max("enrolments__visits__date"),
            output_field=DateField(),
        ),
        TruncDate("created_at"),
        output_field=DateField(),
    )
    return (
        Child.objects.filter(anonymised_on__isnull=True)
        .exclude(Exists(open_enrolment))
        .annotate(last_day=last_day)
        .filter(last_day__lte=cutoff)
    )


def _counts(ids: Iterable[uuid.UUID]) -> list[OrganisationCount]:
    """The children's, their enrolments' and visits' numbers per organisation, by name."""
    per_organisation = {
        row["organisation_id"]: row
        for row in Child.objects.filter(pk__in=list(ids))
        .values("organisation_id")
        .annotate(
            n_children=Count("pk", distinct=True),
            n_enrolments=Count("enrolments", distinct=True),
            n_visits=Count("enrolments__visits", distinct=True),
        )
    }
    names = dict(Organisation.objects.filter(pk__in=per_organisation).values_list("pk", "name"))
    return sorted(
        (
            OrganisationCount(
                organisation=names[pk],
                children=row["n_children"],
                enrolments=row["n_enrolments"],
                visits=row["n_visits"],
            )
            for pk, row in per_organisation.items()
        ),
        key=lambda count: count.organisation,
    )


def _anonymous_identity(child: Child) -> str:
    return f"{ANONYMISED_PREFIX}{child.pk.hex}"


def _delete_history(*, child_id: uuid.UUID, enrolment_ids: list[uuid.UUID]) -> None:
    """The pghistory rows of a child, its enrolments and their visits (copies of the identity
    and the names, and of what was written about the child)."""
    visit_ids = list(
        Visit.objects.filter(enrolment_id__in=enrolment_ids).values_list("pk", flat=True)
    )
    for name, condition in (
        ("ChildEvent", Q(pgh_obj_id=child_id) | Q(id=child_id)),
        ("EnrolmentEvent", Q(pgh_obj_id__in=enrolment_ids) | Q(child_id=child_id)),
        ("VisitEvent", Q(pgh_obj_id__in=visit_ids) | Q(enrolment_id__in=enrolment_ids)),
    ):
        apps.get_model("visits", name)._default_manager.filter(condition).delete()


def child_anonymise(*, child_id: uuid.UUID, today: datetime.date) -> bool:
    """Anonymise one due child, its enrolments and the history of all three, in one
    transaction; False (and nothing written) when the child is no longer due."""
    with transaction.atomic(), pghistory.context(user=SYSTEM.get_username()):
        # FOR UPDATE also holds off a new enrolment of the child (its foreign-key check waits).
        child = Child.objects.select_for_update().filter(pk=child_id).first()
        if child is None or not children_due(today=today).filter(pk=child_id).exists():
            return False
        # Logged first, with the hash of the identity the child had: the extract finds it.
        log_children(
            user=SYSTEM,
            action=AccessAction.UPDATE,
            entries=[(child, child.current_centre_id)],
            what=ANONYMISED,
        )
        enrolment_ids = list(
            Enrolment.objects.filter(child_id=child_id).values_list("pk", flat=True)
        )
        _delete_history(child_id=child_id, enrolment_ids=enrolment_ids)
        child.identity_type = IdentityType.RESERVNUMMER.value
        child.identity = _anonymous_identity(child)
        child.identity_key = _anonymous_identity(child).lower()
        child.given_name = ""
        child.family_name = ""
        child.protected = False
        child.birth_date = child.birth_date.replace(day=1)
        child.anonymised_on = today
        child.save(
            update_fields=[
                "identity_type",
                "identity",
                "identity_key",
                "given_name",
                "family_name",
                "protected",
                "birth_date",
                "anonymised_on",
            ]
        )
        Enrolment.objects.filter(pk__in=enrolment_ids).exclude(language="").update(language="")
        # The journal imports' rows of the child (its masked identity, the visits it named);
        # the imports keep only their counts.
        VisitImportRow.objects.filter(child_id=child_id).delete()
    return True


def retention_apply(*, today: datetime.date, dry_run: bool) -> RetentionResult:
    """Anonymise every due child (each in its own transaction); a dry run only counts them."""
    years = child_retention_years()
    cutoff = add_years(today, -years)
    due = children_due(today=today)
    if dry_run:
        return RetentionResult(cutoff, years, dry_run, _counts(due.values_list("pk", flat=True)))
    done = [
        child_id
        for child_id in due.order_by("pk").values_list("pk", flat=True)
        if child_anonymise(child_id=child_id, today=today)
    ]
    result = RetentionResult(cutoff, years, dry_run, _counts(done))
    logger.info("Retention: %d children anonymised (last day on or before %s)", len(done), cutoff)
    return result


# --- Access log ----------------------------------------------------------------------------
def access_log_purge(*, today: datetime.date, dry_run: bool) -> PurgeResult:
    """Delete the access-log rows logged before the day ACCESS_LOG_RETENTION_YEARS before
    `today`, and log the purge itself; a dry run only counts them."""
    years = access_log_retention_years()
    cutoff = add_years(today, -years)
    start = timezone.make_aware(datetime.datetime.combine(cutoff, datetime.time.min))
    rows = AccessLog.objects.filter(at__lt=start)
    if dry_run:
        return PurgeResult(cutoff, years, dry_run, rows.count())
    with transaction.atomic():
        deleted, _ = rows.delete()
        log_without_patient(
            user=SYSTEM,
            action=AccessAction.UPDATE,
            what=f"gallring: {deleted} rader före {cutoff:%Y-%m-%d}",
        )
    logger.info("Access log purged: %d rows logged before %s", deleted, cutoff)
    return PurgeResult(cutoff, years, dry_run, deleted)
