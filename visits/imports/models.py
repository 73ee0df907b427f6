"""The journal import's records: an organisation's column mapping, an import and its rows.

Imported by `visits.models`, so Django finds them in the visits app. A row keeps what the
commit needs (the parsed visit, its child and enrolment) and never the identity number: the
child is its foreign key and its masked form.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import Centre, Organisation, User
from visits.imports.reader import CONTRACT_COLUMNS


def _header_field(column: str) -> models.CharField[str, str]:
    return models.CharField(
        _("rubrik för %s") % column,
        max_length=100,
        blank=True,
        help_text=_("Tomt: kolumnen heter %s i filen.") % column,
    )


class ColumnMapping(models.Model):
    """The header names of one organisation's journal export, per column of the contract.
    Blank means the contract's own name, so an organisation whose export already follows the
    contract needs no mapping at all."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.OneToOneField(
        Organisation,
        on_delete=models.CASCADE,
        related_name="visit_column_mapping",
        verbose_name=_("organisation"),
    )
    personnummer = _header_field("personnummer")
    datum = _header_field("datum")
    vardenhet = _header_field("vardenhet")
    besokstyp = _header_field("besokstyp")
    status = _header_field("status")
    kva = _header_field("kva")
    socialtjanst = _header_field("socialtjanst")
    tolk = _header_field("tolk")
    sprak = _header_field("sprak")
    besokstillfalle = _header_field("besokstillfalle")

    class Meta:
        verbose_name = _("kolumnmappning för journalimport")
        verbose_name_plural = _("kolumnmappningar för journalimport")

    def __str__(self) -> str:
        return str(_("Kolumnmappning: %s") % self.organisation)

    def mapping(self) -> dict[str, str]:
        """Contract column → header in the file, for the columns named differently."""
        names = {column: str(getattr(self, column)).strip() for column in CONTRACT_COLUMNS}
        return {column: header for column, header in names.items() if header}


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("I kö")
    PREVIEWING = "previewing", _("Läses")
    READY = "ready", _("Klar att spara")
    COMMITTING = "committing", _("Sparas")
    COMMITTED = "committed", _("Sparad")
    FAILED = "failed", _("Misslyckades")


class RowOutcome(models.TextChoices):
    NEW = "new", _("Ny")
    DUPLICATE = "duplicate", _("Dubblett")
    CONFLICT = "conflict", _("Konflikt")
    UNMATCHED = "unmatched", _("Omatchad")
    INVALID = "invalid", _("Ogiltig")


class VisitImport(models.Model):
    """One uploaded file: previewed into rows, then committed once (or failed)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("organisation")
    )
    # The centre the import is for (its rows must name it); none: any centre in the importer's
    # scope in the organisation.
    centre = models.ForeignKey(
        Centre,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("BVC"),
    )
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("skapad"), auto_now_add=True)
    # Every change of status or progress: the sweep looks again at an import whose worker is
    # gone (visits.imports.service.import_resume_stuck).
    updated_at = models.DateTimeField(_("ändrad"), auto_now=True)
    # The name the user gave the file: shown, never used as a path (`stored_name` is).
    file_name = models.CharField(_("filnamn"), max_length=255)
    stored_name = models.CharField(_("lagrat namn"), max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    progress_done = models.PositiveIntegerField(_("lästa rader"), default=0)
    progress_total = models.PositiveIntegerField(_("rader totalt"), default=0)
    count_rows = models.PositiveIntegerField(_("rader"), default=0)
    count_new = models.PositiveIntegerField(_("nya"), default=0)
    count_duplicate = models.PositiveIntegerField(_("dubbletter"), default=0)
    count_conflict = models.PositiveIntegerField(_("konflikter"), default=0)
    count_unmatched = models.PositiveIntegerField(_("omatchade"), default=0)
    count_invalid = models.PositiveIntegerField(_("ogiltiga"), default=0)
    error = models.TextField(_("fel"), blank=True)
    committed_at = models.DateTimeField(_("sparad"), null=True, blank=True)
    # Who asked for the commit: the imported visits are logged in her name.
    committed_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("journalimport")
        verbose_name_plural = _("journalimporter")
        indexes = [
            models.Index(fields=["organisation", "-created_at"], name="visits_import_org_idx"),
            models.Index(fields=["centre"], name="visits_import_centre_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def counts(self) -> dict[str, int]:
        """API.md: `counts` {rows, new, duplicate, conflict, unmatched, invalid}."""
        return {
            "rows": self.count_rows,
            **{outcome: getattr(self, f"count_{outcome}") for outcome in RowOutcome.values},
        }


class VisitImportRow(models.Model):
    """One data row of an import's file and what the preview found it to be."""

    id = models.BigAutoField(primary_key=True)
    visit_import = models.ForeignKey(
        VisitImport, on_delete=models.CASCADE, related_name="rows", verbose_name=_("import")
    )
    number = models.PositiveIntegerField(_("rad"))  # the line in the file (header = 1)
    outcome = models.CharField(_("utfall"), max_length=10, choices=RowOutcome.choices)
    reason = models.TextField(_("orsak"), blank=True)
    # SET_NULL: an import row is a working record; it never keeps a child, an enrolment or a
    # visit from being removed.
    child = models.ForeignKey(
        "visits.Child", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    child_masked = models.CharField(_("barn"), max_length=40, blank=True)
    enrolment = models.ForeignKey(
        "visits.Enrolment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The stored visit the row duplicates or conflicts with, or the one its commit created.
    visit = models.ForeignKey(
        "visits.Visit", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Child id, date, place and slot: the same visit has the same key, typed or imported.
    key = models.CharField(_("nyckel"), max_length=120, blank=True)
    # The parsed visit (VisitInput's fields, the date as ISO text): what the commit saves.
    values: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField(
        _("värden"), default=dict, blank=True
    )

    class Meta:
        ordering = ["visit_import", "number"]
        verbose_name = _("importrad")
        verbose_name_plural = _("importrader")
        indexes = [
            models.Index(
                fields=["visit_import", "outcome", "number"], name="visits_import_row_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number}: {self.outcome}"
