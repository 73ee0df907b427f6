"""The shape the retention commands share: a `--dry-run` that counts and changes nothing, today's
date in the project's time zone, and a closing line that says a dry run changed nothing. Not a
command itself (Django skips modules whose names start with an underscore)."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone


class DryRunCommand(BaseCommand):
    dry_run_help = "Count what would change; change nothing."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help=self.dry_run_help)

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        self.run(today=timezone.localdate(), dry_run=dry_run)
        if dry_run:
            self.stdout.write("Torrkörning: inget har ändrats.")

    def run(self, *, today: datetime.date, dry_run: bool) -> None:
        raise NotImplementedError
