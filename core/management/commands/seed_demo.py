"""`manage.py seed_demo`: the demo data of API.md, idempotent, never run by migrations.

Each app contributes its part in `<app>/demo.py` (a `seed()` function), run in the order of
INSTALLED_APPS, so core's organisations and users exist before visits' children and funding's
grants, and no app imports one above it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction


class Command(BaseCommand):
    help = "Create or update the demo organisations, users and data (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed although DEBUG is off (a trial installation, never a region's data).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The demo's users, admin among them, share one published password: with production
        # settings that would be an open door.
        if not settings.DEVELOPMENT and not options["allow_production"]:
            raise CommandError(
                "seed_demo creates users with the public demo password and is refused with "
                "production settings (DJANGO_DEBUG off). For a trial installation without real "
                "data, run it with --allow-production."
            )
        with transaction.atomic():
            for config in apps.get_app_configs():
                try:
                    module = import_module(f"{config.name}.demo")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{config.name}.demo":
                        raise
                    continue
                module.seed()
                self.stdout.write(f"seed_demo: {config.name} done")
        self.stdout.write(self.style.SUCCESS("Demo data ready (password: hembesok-demo)."))
