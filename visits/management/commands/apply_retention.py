"""`manage.py apply_retention [--dry-run]`: anonymise the children due for retention
(visits.retention), the same work as beat's nightly task. Prints counts per organisation,
never a child."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from visits.retention import retention_apply


class Command(BaseCommand):
    help = (
        "Anonymise children, enrolments and visits whose programme ended "
        "CHILD_DATA_RETENTION_YEARS ago or more."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be anonymised; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = retention_apply(today=timezone.localdate(), dry_run=options["dry_run"])
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
        if result.dry_run:
            self.stdout.write("Torrkörning: inget har ändrats.")
