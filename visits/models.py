"""Children, enrolments, programme templates, visits, KVÅ codes and the access log.

Rules that one row can hold are constraints here (DOMAIN.md 3); rules across rows and tables
live in `visits.services`.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pghistory
import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.db_guards import Guard, GuardProtect
from core.models import Centre, Organisation, Role, User
from core.scoping import scope_of
from visits.identity import Identity, IdentityType, identity_hash

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

ZV509 = "ZV509"  # "Medverkan av företrädare för socialtjänst" (seed 004)
PROTECTED_LABEL = _("Skyddad identitet")

# Roles that see children at their centres (API.md, "Who sees a child").
CHILD_ROLES = (Role.NURSE, Role.CENTRE_MANAGER)


class KvaCode(models.Model):
    """A code of Klassifikation av vårdåtgärder, valid over a period (a versioned lookup)."""

    code = models.CharField(_("kod"), max_length=10)
    title = models.CharField(_("benämning"), max_length=300)
    valid_from = models.DateField(_("giltig från"))
    valid_to = models.DateField(_("giltig till"), null=True, blank=True)

    class Meta:
        ordering = ["code", "valid_from"]
        verbose_name = _("KVÅ-kod")
        verbose_name_plural = _("KVÅ-koder")
        constraints = [
            models.UniqueConstraint(
                fields=["code", "valid_from"], name="visits_kva_unique_version"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="visits_kva_valid_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class ProgrammeTemplateQuerySet(models.QuerySet["ProgrammeTemplate"]):
    def for_user(self, user: User | AnonymousUser) -> ProgrammeTemplateQuerySet:
        return self.filter(organisation_id__in=scope_of(user).organisation_ids())

    def current(self) -> ProgrammeTemplateQuerySet:
        return self.filter(superseded_by__isnull=True)


class ProgrammeTemplate(models.Model):
    """A programme's schedule as data (DOMAIN.md 1). A template in use is never edited: a change
    makes a new version, and an enrolment keeps the version it started with."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="templates",
        verbose_name=_("organisation"),
    )
    name = models.CharField(_("namn"), max_length=200)
    version = models.PositiveIntegerField(_("version"), default=1)
    description = models.TextField(_("beskrivning"), blank=True)
    superseded_by = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="supersedes",
        verbose_name=_("ersatt av"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProgrammeTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name", "-version"]
        verbose_name = _("programmall")
        verbose_name_plural = _("programmallar")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name", "version"], name="visits_template_unique_version"
            ),
            models.UniqueConstraint(
                fields=["id", "organisation"], name="visits_template_unique_id_organisation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"


class SlotKind(models.TextChoices):
    ORDINARY = "ordinary", _("Ordinarie")
    EXTRA = "extra", _("Extra")


class SlotPlace(models.TextChoices):
    HOME = "home", _("Hembesök")
    CLINIC = "clinic", _("Mottagningsbesök")


class TemplateSlot(models.Model):
    """One visit of a template: a target age and a window (ages in days from birth)."""

    template = models.ForeignKey(
        ProgrammeTemplate, on_delete=models.CASCADE, related_name="slots", verbose_name=_("mall")
    )
    key = models.SlugField(_("nyckel"), max_length=20)
    label = models.CharField(_("benämning"), max_length=100)
    kind = models.CharField(_("typ"), max_length=10, choices=SlotKind.choices)
    place = models.CharField(_("plats"), max_length=10, choices=SlotPlace.choices)
    target_age_days = models.PositiveIntegerField(_("målålder (dagar)"))
    earliest_age_days = models.PositiveIntegerField(_("tidigast (dagar)"))
    latest_age_days = models.PositiveIntegerField(_("senast (dagar)"))

    class Meta:
        ordering = ["template", "target_age_days", "key"]
        verbose_name = _("besökstillfälle")
        verbose_name_plural = _("besökstillfällen")
        constraints = [
            models.UniqueConstraint(fields=["template", "key"], name="visits_slot_unique_key"),
            models.CheckConstraint(
                condition=Q(earliest_age_days__lte=models.F("target_age_days"))
                & Q(target_age_days__lte=models.F("latest_age_days")),
                name="visits_slot_window_contains_target",
                violation_error_message=_("Tidigast ≤ målålder ≤ senast."),
            ),
        ]

    def __str__(self) -> str:
        return self.label

    def window(self, birth_date: datetime.date) -> tuple[datetime.date, datetime.date]:
        """The inclusive dates of this slot for a child born on `birth_date`. The worklist's SQL
        does the same arithmetic (`visits.selectors`); a test holds them together."""
        return (
            birth_date + datetime.timedelta(days=self.earliest_age_days),
            birth_date + datetime.timedelta(days=self.latest_age_days),
        )


class ChildQuerySet(models.QuerySet["Child"]):
    def for_user(self, user: User | AnonymousUser) -> ChildQuerySet:
        """Children whose current centre is one where the user is nurse or centre manager; an
        anonymised child (visits.retention) has nothing left to care for and is in no list."""
        return self.filter(
            current_centre_id__in=scope_of(user).centre_ids(*CHILD_ROLES),
            anonymised_on__isnull=True,
        )

    def bulk_create(self, objs: Iterable[Child], *args: Any, **kwargs: Any) -> list[Child]:
        """As `Child.save()`: every row gets its identity key (the demo inserts in bulk)."""
        children = list(objs)
        for child in children:
            child.fill_identity_key()
        return super().bulk_create(children, *args, **kwargs)


@pghistory.track()
class Child(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("organisation"),
    )
    current_centre = models.ForeignKey(
        Centre, on_delete=models.PROTECT, related_name="children", verbose_name=_("aktuell BVC")
    )
    identity_type = models.CharField(
        _("identitetstyp"), max_length=20, choices=[(t.value, t.label) for t in IdentityType]
    )
    identity = models.CharField(_("identitet"), max_length=40)
    # A keyed hash of (identity_type, identity) (`visits.identity.identity_hash`): uniqueness
    # per organisation is held on it, so a duplicate's database error carries the hash, never
    # the number (PostgreSQL writes a unique violation's key into its server log).
    identity_key = models.CharField(_("identitetsnyckel"), max_length=64, editable=False)
    birth_date = models.DateField(_("födelsedatum"))
    given_name = models.CharField(_("förnamn"), max_length=100, blank=True)
    family_name = models.CharField(_("efternamn"), max_length=100, blank=True)
    protected = models.BooleanField(_("skyddad identitet"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when retention anonymised the child (visits.retention): identity, names and the day of
    # birth are gone; the enrolments and visits stay for the money and the reports.
    anonymised_on = models.DateField(_("gallrad"), null=True, blank=True, editable=False)

    objects = ChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("barn")
        verbose_name_plural = _("barn")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "identity_key"],
                name="visits_child_unique_identity_key_per_organisation",
            ),
            models.CheckConstraint(
                condition=~Q(identity_type__in=["personnummer", "samordningsnummer"])
                | Q(identity__regex=r"^[0-9]{12}$"),
                name="visits_child_identity_normalised",
            ),
        ]
        indexes = [models.Index(fields=["current_centre"], name="visits_child_centre_idx")]

    def __str__(self) -> str:
        return self.masked

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A value derived from the row's own identity, stored so that the database can hold
        # uniqueness on it: set here so that no writer (the registration service, the admin,
        # fixtures) can store a child without it.
        if self.fill_identity_key() and kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "identity_key"}
        super().save(*args, **kwargs)

    def fill_identity_key(self) -> bool:
        """Set `identity_key` from the identity when it is not set yet; True when it was set.
        A key already set is kept: retention overwrites an anonymised child's key on purpose."""
        if self.identity_key:
            return False
        self.identity_key = identity_hash(self.identity_type, self.identity)
        return True

    @property
    def identity_value(self) -> Identity:
        return Identity(IdentityType(self.identity_type), self.identity, self.birth_date)

    @property
    def masked(self) -> str:
        """What every list shows: never the whole number; nothing at all when protected."""
        if self.protected:
            return str(PROTECTED_LABEL)
        return self.identity_value.masked


class Eligibility(models.TextChoices):
    FIRST_TIME_PARENTS = "first_time_parents", _("Förstagångsföräldrar")
    FIRST_CHILD_IN_SWEDEN = "first_child_in_sweden", _("Första barnet i Sverige")
    RISK_FACTORS = "risk_factors", _("Kända riskfaktorer")


class Programme(models.TextChoices):
    FULL = "full", _("Hela programmet")
    PARTIAL = "partial", _("Delar av programmet")


class EndReason(models.TextChoices):
    COMPLETED = "completed", _("Programmet genomfört")
    MOVED = "moved", _("Flyttat")
    DECLINED = "declined", _("Avböjt")
    DECEASED = "deceased", _("Avlidit")
    OTHER = "other", _("Annat")


class EnrolmentQuerySet(models.QuerySet["Enrolment"]):
    def for_user(self, user: User | AnonymousUser, *roles: str) -> EnrolmentQuerySet:
        """Enrolments made at the user's centres (history stays where it was made): where she
        is nurse or centre manager, or holds one of `roles` when given."""
        return self.filter(centre_id__in=scope_of(user).centre_ids(*(roles or CHILD_ROLES)))

    def active(self) -> EnrolmentQuerySet:
        """Accepted, not declined and not ended: what reaches the worklist."""
        return self.filter(
            accepted_on__isnull=False, declined_on__isnull=True, ended_on__isnull=True
        )


@pghistory.track()
class Enrolment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    child = models.ForeignKey(
        Child, on_delete=models.PROTECT, related_name="enrolments", verbose_name=_("barn")
    )
    centre = models.ForeignKey(
        Centre, on_delete=models.PROTECT, related_name="enrolments", verbose_name=_("BVC")
    )
    template = models.ForeignKey(
        ProgrammeTemplate,
        on_delete=models.PROTECT,
        related_name="enrolments",
        verbose_name=_("programmall"),
    )
    eligibility = ArrayField(
        models.CharField(max_length=30, choices=Eligibility.choices),
        default=list,
        blank=True,
        verbose_name=_("grund för erbjudande"),
    )
    programme = models.CharField(
        _("omfattning"), max_length=10, choices=Programme.choices, default=Programme.FULL
    )
    planned_slots = ArrayField(
        models.CharField(max_length=20), default=list, blank=True, verbose_name=_("planerade besök")
    )
    language = models.CharField(_("familjens språk"), max_length=60, blank=True)
    interpreter_needed = models.BooleanField(_("behov av tolk"), default=False)
    offered_on = models.DateField(_("erbjuden"))
    accepted_on = models.DateField(_("tackat ja"), null=True, blank=True)
    declined_on = models.DateField(_("tackat nej"), null=True, blank=True)
    ended_on = models.DateField(_("avslutad"), null=True, blank=True)
    end_reason = models.CharField(
        _("orsak till avslut"), max_length=20, choices=EndReason.choices, blank=True
    )
    moved_to = models.ForeignKey(
        Centre,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("flyttat till"),
    )
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EnrolmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("inskrivning")
        verbose_name_plural = _("inskrivningar")
        constraints = [
            models.CheckConstraint(
                condition=Q(accepted_on__isnull=True) | Q(accepted_on__gte=models.F("offered_on")),
                name="visits_enrolment_accepted_after_offer",
            ),
            models.CheckConstraint(
                condition=Q(accepted_on__isnull=True) | Q(declined_on__isnull=True),
                name="visits_enrolment_accepted_or_declined",
            ),
            models.CheckConstraint(
                condition=(Q(ended_on__isnull=True) & Q(end_reason=""))
                | (Q(ended_on__isnull=False) & ~Q(end_reason="")),
                name="visits_enrolment_end_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(moved_to__isnull=True) | Q(end_reason="moved"),
                name="visits_enrolment_moved_to_only_when_moved",
            ),
            models.CheckConstraint(
                condition=Q(programme="partial") | Q(planned_slots=[]),
                name="visits_enrolment_planned_slots_only_partial",
            ),
            # One open enrolment per child: a second one would double its worklist rows.
            models.UniqueConstraint(
                fields=["child"],
                condition=Q(ended_on__isnull=True, declined_on__isnull=True),
                name="visits_enrolment_one_open_per_child",
                violation_error_message=_("Barnet har redan en pågående inskrivning."),
            ),
        ]
        indexes = [models.Index(fields=["centre"], name="visits_enrol_centre_idx")]

    def __str__(self) -> str:
        return f"{self.child} – {self.centre}"

    @property
    def is_active(self) -> bool:
        return self.accepted_on is not None and self.declined_on is None and self.ended_on is None

    def includes_slot(self, key: str) -> bool:
        return self.programme == Programme.FULL or key in self.planned_slots


class VisitPlace(models.TextChoices):
    HOME = "home", _("Hemma")
    CLINIC = "clinic", _("Mottagning")
    OTHER = "other", _("Annan plats")


class VisitStatus(models.TextChoices):
    COMPLETED = "completed", _("Genomfört")
    CANCELLED = "cancelled", _("Inställt")
    NO_SHOW = "no_show", _("Uteblev")


class Participant(models.TextChoices):
    DENTAL = "dental", _("Tandvård")
    MATERNAL_HEALTH = "maternal_health", _("Mödrahälsovård")
    PRESCHOOL = "preschool", _("Förskola")
    INTERPRETER = "interpreter", _("Tolk")
    OTHER = "other", _("Annan")


class InterpreterMode(models.TextChoices):
    NONE = "none", _("Ingen tolk")
    IN_PERSON = "in_person", _("På plats")
    PHONE = "phone", _("Telefon")
    VIDEO = "video", _("Video")


class Contact(models.TextChoices):
    PRESCHOOL = "preschool", _("Förskola")
    MATERNAL_HEALTH = "maternal_health", _("Mödrahälsovård")
    DENTAL = "dental", _("Tandvård")
    SOCIAL_SERVICES = "social_services", _("Socialtjänst")


class VisitQuerySet(models.QuerySet["Visit"]):
    def for_user(self, user: User | AnonymousUser) -> VisitQuerySet:
        """Visits made at the user's centres."""
        return self.filter(centre_id__in=scope_of(user).centre_ids(*CHILD_ROLES))

    def completed(self) -> VisitQuerySet:
        return self.filter(status=VisitStatus.COMPLETED)


@pghistory.track()
class Visit(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.PROTECT, related_name="visits", verbose_name=_("inskrivning")
    )
    # The enrolment's centre, copied for scoping and for the (centre, -date) list index.
    centre = models.ForeignKey(
        Centre, on_delete=models.PROTECT, related_name="visits", verbose_name=_("BVC")
    )
    date = models.DateField(_("datum"))
    place = models.CharField(_("plats"), max_length=10, choices=VisitPlace.choices)
    status = models.CharField(_("status"), max_length=10, choices=VisitStatus.choices)
    slot = models.CharField(
        _("besökstillfälle"),
        max_length=20,
        blank=True,
        help_text=_("Tomt: extra besök utanför mallen."),
    )
    nurse = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="visits", verbose_name=_("sjuksköterska")
    )
    social_services_present = models.BooleanField(_("socialtjänsten deltog"), default=False)
    participants = ArrayField(
        models.CharField(max_length=20, choices=Participant.choices),
        default=list,
        blank=True,
        verbose_name=_("övriga deltagare"),
    )
    interpreter_mode = models.CharField(
        _("tolk"), max_length=10, choices=InterpreterMode.choices, default=InterpreterMode.NONE
    )
    interpreter_language = models.CharField(_("tolkspråk"), max_length=60, blank=True)
    kva_codes = ArrayField(
        models.CharField(max_length=10), default=list, blank=True, verbose_name=_("KVÅ-koder")
    )
    contacts_started = ArrayField(
        models.CharField(max_length=20, choices=Contact.choices),
        default=list,
        blank=True,
        verbose_name=_("kontakter som initierats"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VisitQuerySet.as_manager()

    class Meta:
        verbose_name = _("besök")
        verbose_name_plural = _("besök")
        constraints = [
            # Seed 004: every completed home visit with social services is coded ZV509 ...
            models.CheckConstraint(
                condition=~Q(status="completed", place="home", social_services_present=True)
                | Q(kva_codes__contains=[ZV509]),
                name="visits_visit_joint_home_visit_has_zv509",
            ),
            # ... and ZV509 claims that social services took part.
            models.CheckConstraint(
                condition=~Q(kva_codes__contains=[ZV509]) | Q(social_services_present=True),
                name="visits_visit_zv509_needs_social_services",
            ),
            models.CheckConstraint(
                condition=Q(status="completed") | Q(kva_codes=[]),
                name="visits_visit_codes_only_when_completed",
            ),
            models.CheckConstraint(
                condition=~Q(participants__contains=["interpreter"]) | ~Q(interpreter_mode="none"),
                name="visits_visit_interpreter_has_mode",
            ),
            models.UniqueConstraint(
                fields=["enrolment", "slot"],
                condition=Q(status="completed") & ~Q(slot=""),
                name="visits_visit_one_completed_per_slot",
            ),
        ]
        indexes = [
            models.Index(fields=["centre", "-date", "-id"], name="visits_visit_centre_date_idx"),
            models.Index(fields=["enrolment", "slot"], name="visits_visit_enrol_slot_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.get_place_display()} ({self.get_status_display()})"


class AccessAction(models.TextChoices):
    READ = "read", _("Läsning")
    CREATE = "create", _("Registrering")
    UPDATE = "update", _("Ändring")
    EXPORT = "export", _("Export")
    IMPORT = "import", _("Import")  # read by the journal import (visits.imports)


# Access-log rows are kept at least this long (HSLF-FS 2016:40; DOMAIN.md 7). The database holds
# the floor: its trigger lets a DELETE through only for rows older than this, whatever the
# settings say; ACCESS_LOG_RETENTION_YEARS (>= this) decides what the purge removes.
ACCESS_LOG_FLOOR_YEARS = 5


class AccessLog(models.Model):
    """Who read or changed which child's data, when and through which care unit
    (Patientdatalagen; HSLF-FS 2016:40). Append-only: a trigger refuses UPDATE, TRUNCATE and
    DELETE, except the DELETE of rows past the floor of ACCESS_LOG_FLOOR_YEARS years that the
    purge (`manage.py purge_access_log`, visits.retention) makes.

    No foreign keys: a row must outlive the user's and the child's records (retention); the
    child is its id plus a keyed hash of its identity, so a patient's log extract can find it.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(_("tid"), auto_now_add=True, db_index=True)
    user_id = models.BigIntegerField(_("användar-id"), null=True)
    username = models.CharField(_("användare"), max_length=150)
    care_unit = models.UUIDField(_("vårdenhet"), null=True, blank=True)
    action = models.CharField(_("åtgärd"), max_length=10, choices=AccessAction.choices)
    child_id = models.UUIDField(_("barn"), null=True, blank=True, db_index=True)
    identity_hash = models.CharField(_("identitetshash"), max_length=64, blank=True, db_index=True)
    what = models.CharField(_("vad"), max_length=40, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("åtkomstlogg")
        verbose_name_plural = _("åtkomstlogg")
        triggers = [
            # Transaction time (now()), not the caller's clock: a row younger than the floor
            # stays even for a DELETE that names it, as any role and with pgtrigger.ignore
            # (honoured only for the table's owner, core.db_guards).
            Guard(
                name="access_log_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
                func=(
                    "IF TG_OP = 'DELETE' AND OLD.at < pg_catalog.now() - "
                    f"interval '{ACCESS_LOG_FLOOR_YEARS} years' THEN RETURN OLD; END IF; "
                    "RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table "
                    f"(rows are kept {ACCESS_LOG_FLOOR_YEARS} years)', TG_TABLE_NAME;"
                ),
            ),
            Guard(
                name="access_log_no_truncate",
                operation=pgtrigger.Truncate,
                level=pgtrigger.Statement,
                when=pgtrigger.Before,
                func="RAISE EXCEPTION 'The access log is append-only'; RETURN NULL;",
            ),
        ]
        indexes = [models.Index(fields=["username", "-at"], name="visits_log_user_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action}"


class FindingVerdict(models.TextChoices):
    JUSTIFIED = "justified", _("Befogad")
    QUESTIONED = "questioned", _("Ifrågasatt")


class AccessLogSample(models.Model):
    """A random sample of a period's access-log rows for the systematic follow-up that
    Patientdatalagen 4 kap. 3 § requires. The rows are chosen in the database by
    `md5(seed || id)`, so the seed and the period reproduce the choice; the chosen ids are
    stored too, because the period may still receive rows after the sample is drawn."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The reviewer's organisations when she drew it: the rows come from their scope, and only a
    # reviewer of all of them may open it.
    organisation_ids = ArrayField(models.UUIDField(), verbose_name=_("organisationer"))
    period_from = models.DateField(_("från"))
    period_to = models.DateField(_("till"))
    size = models.PositiveSmallIntegerField(_("storlek"))
    seed = models.CharField(_("frö"), max_length=64)
    row_ids = ArrayField(models.BigIntegerField(), blank=True, verbose_name=_("loggrader"))
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("skapad"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("stickprov i åtkomstloggen")
        verbose_name_plural = _("stickprov i åtkomstloggen")
        constraints = [
            models.CheckConstraint(
                condition=Q(size__gte=1, size__lte=500), name="log_sample_size_range"
            ),
            models.CheckConstraint(
                condition=Q(period_from__lte=models.F("period_to")), name="log_sample_period"
            ),
        ]
        indexes = [models.Index(fields=["-created_at", "-id"], name="visits_log_sample_idx")]
        triggers = [
            GuardProtect(
                name="log_sample_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period_from}–{self.period_to} ({self.size})"


class AccessLogFinding(models.Model):
    """A reviewer's verdict on one row of a sample. Append-only (a trigger refuses UPDATE and
    DELETE): a row reviewed again gets a new finding, and the latest one counts."""

    id = models.BigAutoField(primary_key=True)
    sample = models.ForeignKey(AccessLogSample, on_delete=models.PROTECT, related_name="findings")
    # No foreign key: a log row may be purged after its retention period, the finding stays.
    row_id = models.BigIntegerField(_("loggrad"))
    verdict = models.CharField(_("bedömning"), max_length=10, choices=FindingVerdict.choices)
    remark = models.TextField(_("kommentar"), blank=True)
    reviewed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(_("granskad"), auto_now_add=True)

    class Meta:
        ordering = ["-reviewed_at", "-id"]
        verbose_name = _("granskning av loggrad")
        verbose_name_plural = _("granskningar av loggrader")
        constraints = [
            models.CheckConstraint(
                condition=Q(verdict__in=FindingVerdict.values), name="log_finding_verdict"
            ),
            models.CheckConstraint(
                condition=~Q(verdict=FindingVerdict.QUESTIONED) | ~Q(remark=""),
                name="log_finding_questioned_has_remark",
            ),
        ]
        indexes = [models.Index(fields=["sample", "row_id"], name="visits_log_finding_row_idx")]
        triggers = [
            GuardProtect(
                name="log_finding_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.row_id}: {self.verdict}"


# The journal import's models live in their own module; imported here so that Django finds them
# in this app (and so that `from visits.models import VisitImport` works).
from visits.imports.models import ColumnMapping as ColumnMapping  # noqa: E402
from visits.imports.models import ImportStatus as ImportStatus  # noqa: E402
from visits.imports.models import RowOutcome as RowOutcome  # noqa: E402
from visits.imports.models import VisitImport as VisitImport  # noqa: E402
from visits.imports.models import VisitImportRow as VisitImportRow  # noqa: E402
