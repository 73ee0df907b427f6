"""`manage.py import_visits FILE --centre HSA-ID --user USERNAME [--commit]`: the journal import
from the command line (API.md), for scheduled imports run as a named service user.

The same service as the API: the file is stored, previewed and, with `--commit`, its new rows
are saved through the typed visit's service. Prints the counts and each row that is not new or
a duplicate (its line, the masked child, the reason; never an identity number). Exits non-zero
when any row is invalid, and then commits nothing even with `--commit`: an invalid row says the
export or the column mapping is wrong, and a scheduled run must not save half a broken file
quietly (the new rows are saved by the next run once it is fixed; the import is idempotent).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.exceptions import Conflict
from core.models import Centre, User
from visits.imports.service import import_commit, import_create, import_preview
from visits.models import ImportStatus, RowOutcome, VisitImport, VisitImportRow

LABELS: dict[str, str] = {
    RowOutcome.INVALID: "ogiltig",
    RowOutcome.CONFLICT: "konflikt",
    RowOutcome.UNMATCHED: "omatchad",
}


def counts_line(visit_import: VisitImport) -> str:
    return (
        f"rader {visit_import.count_rows}, nya {visit_import.count_new}, "
        f"dubbletter {visit_import.count_duplicate}, konflikter {visit_import.count_conflict}, "
        f"omatchade {visit_import.count_unmatched}, ogiltiga {visit_import.count_invalid}"
    )


class Command(BaseCommand):
    help = "Import visits from a journal system's export (CSV or XLSX) for one centre."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path, help="The export, CSV or XLSX.")
        parser.add_argument("--centre", required=True, help="The centre's HSA-id.")
        parser.add_argument(
            "--user",
            required=True,
            help="The importing user (a nurse or centre manager of the centre).",
        )
        parser.add_argument(
            "--commit", action="store_true", help="Save the new rows (unless a row is invalid)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError("Filen finns inte.")
        centre = (
            Centre.objects.filter(hsa_id=options["centre"]).first() if options["centre"] else None
        )
        if centre is None:
            raise CommandError("Ingen BVC har det HSA-id:t.")
        user = User.objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError("Ingen aktiv användare har det användarnamnet.")
        try:
            visit_import = import_create(
                user=user, centre=centre, path_or_file=path, file_name=path.name
            )
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:  # not an export, a column missing (named)
            raise CommandError(" ".join(exc.messages)) from None
        visit_import = import_preview(visit_import)
        if visit_import.status == ImportStatus.FAILED:
            raise CommandError(visit_import.error)
        self.stdout.write(counts_line(visit_import))
        problems = VisitImportRow.objects.filter(
            visit_import=visit_import, outcome__in=list(LABELS)
        ).order_by("number")
        for row in problems.iterator(chunk_size=500):
            child = f", {row.child_masked}" if row.child_masked else ""
            self.stdout.write(f"rad {row.number} ({LABELS[row.outcome]}{child}): {row.reason}")
        if visit_import.count_invalid:
            raise CommandError(
                f"{visit_import.count_invalid} ogiltiga rader: inget sparades.", returncode=1
            )
        if not options["commit"]:
            self.stdout.write(f"Import {visit_import.pk}: inget sparat (spara med --commit).")
            return
        try:
            visit_import = import_commit(visit_import, user=user)
        except Conflict as exc:
            raise CommandError(exc.detail) from None
        if visit_import.status != ImportStatus.COMMITTED:
            raise CommandError(visit_import.error)
        self.stdout.write(f"Sparade {visit_import.count_new} nya besök.")
