"""Report runs, narrative sections and deadline reminders (DOMAIN.md 5; API.md "Reports").

A run is one request for one report: it is queued, rendered by a Celery worker (never by a web
worker), stored in the private report store under a name made from the run's id only, and may
be submitted, which freezes it. Figures are never stored here: they come from the selectors at
render time, and a submitted run keeps its file and checksum whatever happens to the data later.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import Centre, Organisation, User
from funding.models import Account, Grant


class ReportKind(models.TextChoices):
    SOCIALSTYRELSEN = "socialstyrelsen", _("Återrapportering till Socialstyrelsen")
    HALSOVAL = "halsoval", _("Årsredovisning till Hälsovalsenheten")
    SKL = "skl", _("Slutrapport till SKL")
    FINANCE_XLSX = "finance_xlsx", _("Ekonomiexport (Excel)")
    FINANCE_CSV = "finance_csv", _("Ekonomiexport (CSV)")
    AUDITOR_BUNDLE = "auditor_bundle", _("Underlag för revision")
    SIE = "sie", _("Bokföringsexport (SIE 4)")
    LOG_EXTRACT = "log_extract", _("Loggutdrag till patient")


# What each kind is about: a grant, a centre, or the organisation's year.
GRANT_KINDS = (
    ReportKind.SOCIALSTYRELSEN,
    ReportKind.SKL,
    ReportKind.AUDITOR_BUNDLE,
    ReportKind.SIE,
)
CENTRE_KINDS = (ReportKind.HALSOVAL,)
# Reports that answer a deadline and can be submitted (frozen).
SUBMITTABLE_KINDS = (ReportKind.SOCIALSTYRELSEN, ReportKind.SKL, ReportKind.HALSOVAL)
# The patient's log extract as a PDF: requested through the log review
# (`POST /api/v1/access-log/extract/` with "format": "pdf"), never through `POST /reports/`, read
# by the organisation's log reviewers only, never submitted, and one run per request (two
# extracts of the same organisation's year are two children, or two moments).
PER_REQUEST_KINDS = (ReportKind.LOG_EXTRACT,)


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("I kö")
    RUNNING = "running", _("Skapas")
    DONE = "done", _("Klar")
    FAILED = "failed", _("Misslyckades")


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class ReportRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("rapport"), max_length=20, choices=ReportKind.choices)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="report_runs"
    )
    year = models.PositiveIntegerField(_("år"))
    grant = models.ForeignKey(
        Grant, on_delete=models.PROTECT, null=True, blank=True, related_name="report_runs"
    )
    centre = models.ForeignKey(
        Centre, on_delete=models.PROTECT, null=True, blank=True, related_name="report_runs"
    )
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    error = models.TextField(_("fel"), blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The stored file: a name made from the run's id (never from a person or a child).
    file_name = models.CharField(max_length=100, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    # The narrative versions the file was rendered with (ids of NarrativeVersion).
    narrative_versions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name = _("rapportkörning")
        verbose_name_plural = _("rapportkörningar")
        constraints = [
            # One run at a time for the same report (queued or running).
            models.UniqueConstraint(
                fields=["kind", "organisation", "year", "grant", "centre"],
                condition=Q(status__in=["queued", "running"])
                & ~Q(kind__in=[k.value for k in PER_REQUEST_KINDS]),
                nulls_distinct=False,
                name="reporting_run_one_active",
            ),
            # A report is submitted once; a submitted report is never replaced.
            models.UniqueConstraint(
                fields=["kind", "organisation", "year", "grant", "centre"],
                condition=Q(submitted_at__isnull=False),
                nulls_distinct=False,
                name="reporting_run_one_submitted",
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | (~Q(sha256="") & ~Q(file_name="")),
                name="reporting_run_done_has_file",
            ),
            models.CheckConstraint(
                condition=Q(submitted_at__isnull=True) | Q(status="done"),
                name="reporting_run_submitted_is_done",
            ),
            models.CheckConstraint(
                condition=Q(submitted_at__isnull=True)
                | Q(kind__in=[k.value for k in SUBMITTABLE_KINDS]),
                name="reporting_run_submitted_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in GRANT_KINDS], grant__isnull=False)
                | Q(kind__in=[k.value for k in CENTRE_KINDS], centre__isnull=False)
                | (
                    ~Q(kind__in=[k.value for k in (*GRANT_KINDS, *CENTRE_KINDS)])
                    & Q(grant__isnull=True, centre__isnull=True)
                ),
                name="reporting_run_subject",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "kind", "year"], name="reporting_run_subject_idx"),
            models.Index(fields=["status", "started_at"], name="reporting_run_status_idx"),
        ]
        triggers = [
            # A submitted report is frozen: its row (file, checksum) can no longer change.
            pgtrigger.Protect(
                name="report_run_submitted_frozen",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
                condition=pgtrigger.Q(old__submitted_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.year}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


HASH_PATTERN = r"^[0-9a-f]{64}$"


class LogExtractOrder(models.Model):
    """What a log-extract run renders, without the identity number (DOMAIN.md 7: never in task
    arguments, file names, URLs or logs): the keyed hash that finds the child's log rows
    (`visits.identity.identity_hash`), the masked identity that heads the extract, the period,
    and the moment of the request: the extract lists the rows up to then, as the JSON extract
    does (not the request's own log row). Written once with its run, never changed."""

    run = models.OneToOneField(
        ReportRun, on_delete=models.CASCADE, primary_key=True, related_name="log_extract"
    )
    identity_hash = models.CharField(max_length=64)
    # The child's id when a record was found (for the access log of a download), else null.
    child_id = models.UUIDField(null=True, blank=True)
    child_masked = models.CharField(max_length=40)
    period_from = models.DateField(null=True, blank=True)
    period_to = models.DateField(null=True, blank=True)
    as_of = models.DateTimeField()

    class Meta:
        verbose_name = _("loggutdrag")
        verbose_name_plural = _("loggutdrag")
        constraints = [
            models.CheckConstraint(
                condition=Q(identity_hash__regex=HASH_PATTERN), name="reporting_extract_hash"
            ),
            models.CheckConstraint(
                condition=Q(period_from__isnull=True)
                | Q(period_to__isnull=True)
                | Q(period_from__lte=models.F("period_to")),
                name="reporting_extract_period",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="log_extract_order_unchanged",
                operation=pgtrigger.Update,
                when=pgtrigger.Before,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.child_masked} {self.as_of:%Y-%m-%d %H:%M}"


class NarrativeVersion(models.Model):
    """One version of one written section of a report (append-only: editing a section adds a
    version). The current text is the latest version; a run records which versions it used."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=ReportKind.choices)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="narratives"
    )
    year = models.PositiveIntegerField()
    grant = models.ForeignKey(
        Grant, on_delete=models.PROTECT, null=True, blank=True, related_name="narratives"
    )
    centre = models.ForeignKey(
        Centre, on_delete=models.PROTECT, null=True, blank=True, related_name="narratives"
    )
    section = models.CharField(max_length=40)
    version = models.PositiveIntegerField()
    text = models.TextField()
    written_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    written_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["section", "-version"]
        verbose_name = _("textavsnitt")
        verbose_name_plural = _("textavsnitt")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "organisation", "year", "grant", "centre", "section", "version"],
                nulls_distinct=False,
                name="reporting_narrative_unique_version",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="narrative_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.section} v{self.version}"


class ReminderSent(models.Model):
    """A deadline reminder that has gone out (30, 7 and 1 days before): sent once each."""

    deadline = models.CharField(max_length=200)  # the deadline's key (kind and subject ids)
    days_before = models.PositiveSmallIntegerField()
    recipients = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("skickad påminnelse")
        verbose_name_plural = _("skickade påminnelser")
        constraints = [
            models.UniqueConstraint(
                fields=["deadline", "days_before"], name="reporting_reminder_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deadline} −{self.days_before} d"


# The ledger's accounts as finance staff call them (funding.models.Account has no labels).
LEDGER_ACCOUNT_LABELS = {
    Account.FUNDER: _("Bidragsgivaren (mottagna bidrag)"),
    Account.BALANCE: _("Saldo (bidragsmedel kvar)"),
    Account.PAID: _("Utbetalt"),
    Account.CARRIED_OVER: _("Överfört till senare år"),
    Account.REPAID: _("Återbetalt"),
    Account.UNALLOCATED: _("Ej fördelat (åtagande)"),
    Account.ALLOCATED: _("Fördelat (åtagande)"),
}
LEDGER_ACCOUNT_CHOICES = [
    (account.value, LEDGER_ACCOUNT_LABELS.get(account, account.label)) for account in Account
]

# An account number in an organisation's chart of accounts: digits only (SIE's `kontonr`), four
# to six of them (BAS numbers have four; some regions' charts add sub-accounts).
SIE_ACCOUNT_NUMBER = r"^[0-9]{4,6}$"


class SieAccount(models.Model):
    """Where one of the ledger's internal accounts (`funding.models.Account`) goes in the
    organisation's own chart of accounts, for the SIE export (`reporting.sie`). An account the
    organisation has not mapped uses the default chart in `reporting.sie.DEFAULT_CHART`. Edited
    in the admin; a change applies to the files made after it (a file already made keeps its
    numbers)."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="sie_accounts"
    )
    ledger_account = models.CharField(
        _("konto i bidragsreskontran"), max_length=20, choices=LEDGER_ACCOUNT_CHOICES
    )
    number = models.CharField(
        _("kontonummer"),
        max_length=6,
        validators=[RegexValidator(SIE_ACCOUNT_NUMBER, _("Ange ett kontonummer med 4–6 siffror."))],
    )
    name = models.CharField(_("kontonamn"), max_length=100)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["organisation", "number", "ledger_account"]
        verbose_name = _("konto i SIE-exporten")
        verbose_name_plural = _("konton i SIE-exporten")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "ledger_account"], name="reporting_sie_account_once"
            ),
            models.CheckConstraint(
                condition=Q(number__regex=SIE_ACCOUNT_NUMBER), name="reporting_sie_account_digits"
            ),
            models.CheckConstraint(
                condition=Q(ledger_account__in=Account.values),
                name="reporting_sie_account_known",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="reporting_sie_account_named"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"
