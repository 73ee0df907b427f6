"""`manage.py purge_access_log [--dry-run]`: delete access-log rows older than
ACCESS_LOG_RETENTION_YEARS (at least 5; the table's trigger refuses younger ones whatever this
command is told) and record the purge as a row of the log itself (visits.retention)."""

from __future__ import annotations

import datetime

from visits.management.commands._dry_run import DryRunCommand
from visits.retention import access_log_purge


class Command(DryRunCommand):
    help = "Delete access-log rows past ACCESS_LOG_RETENTION_YEARS; the purge is logged."

    dry_run_help = "Count the rows that would go; delete nothing."

    def run(self, *, today: datetime.date, dry_run: bool) -> None:
        result = access_log_purge(today=today, dry_run=dry_run)
        verb = "skulle tas bort" if result.dry_run else "borttagna"
        self.stdout.write(
            f"Åtkomstloggen, rader före {result.cutoff:%Y-%m-%d} ({result.years} år): "
            f"{result.rows} {verb}."
        )
