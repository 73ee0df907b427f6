"""`manage.py apply_retention [--dry-run]`: anonymise the children due for retention
(visits.retention), the same work as beat's nightly task. Prints counts per organisation,
never a child."""

from __future__ import annotations

import datetime

from visits.management.commands._dry_run import DryRunCommand
from visits.retention import retention_apply


class Command(DryRunCommand):
    help = (
        "Anonymise children, enrolments and visits whose programme ended "
        "CHILD_DATA_RETENTION_YEARS ago or more."
    )

    dry_run_help = "Count what would be anonymised; change nothing."

    def run(self, *, today: datetime.date, dry_run: bool) -> None:
        result = retention_apply(today=today, dry_run=dry_run)
        verb = "skulle gallras" if result.dry_run else "gallrade"
        self.stdout.write(
            f"Barn vars sista dag i programmet var {result.cutoff:%Y-%m-%d} eller tidigare "
            f"({result.years} år): {result.children} {verb}."
        )
        for row in result.organisations:
            self.stdout.write(
                f"  {row.organisation}: {row.children} barn, {row.enrolments} inskrivningar, "
                f"{row.visits} besök"
            )
