"""`manage.py purge_access_log [--dry-run]`: delete access-log rows older than
ACCESS_LOG_RETENTION_YEARS (at least 5; the table's trigger refuses younger ones whatever this
command is told) and record the purge as a row of the log itself (visits.retention)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from visits.retention import access_log_purge


class Command(BaseCommand):
    help = "Delete access-log rows past ACCESS_LOG_RETENTION_YEARS; the purge is logged."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count the rows that would go; delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = access_log_purge(today=timezone.localdate(), dry_run=options["dry_run"])
        verb = "skulle tas bort" if result.dry_run else "borttagna"
        self.stdout.write(
            f"Åtkomstloggen, rader före {result.cutoff:%Y-%m-%d} ({result.years} år): "
            f"{result.rows} {verb}."
        )
        if result.dry_run:
            self.stdout.write("Torrkörning: inget har ändrats.")
