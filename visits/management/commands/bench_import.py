"""`manage.py bench_import --rows 5000 --rows 50000`: the journal import's speed and memory.

For each size, a CSV journal export is generated for that many rows (five visits per child, about
one in twenty rows repeated, invalid or naming an unknown child) for children added to a demo
centre, then read three ways: the floor (the reader alone: every row streamed from the file, as
the preview must at least do), the preview (`import_preview`) and the commit (`import_commit`).
Printed per step: rows per second, the ratio to the floor measured in the same run, the number
of queries, and the peak growth of the process's resident memory during the step (sampled every
10 ms, so the step's own working set, whatever the process held before).

Everything runs in one transaction that is rolled back: the data is left as it was. Needs the
demo data (`make run` once, or `manage.py seed_demo`).
"""

from __future__ import annotations

import datetime
import itertools
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from core.models import Centre, User
from visits.identity import luhn_check_digit
from visits.imports.reader import CONTRACT_COLUMNS, read_rows
from visits.imports.service import import_commit, import_create, import_preview
from visits.models import Child, Enrolment, ImportStatus, ProgrammeTemplate
from visits.selectors import child_centre_ids

VISITS_PER_CHILD = 5


class _Rollback(Exception):
    pass


def _rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _PeakMemory:
    """The highest resident set size while the block runs, sampled in a thread."""

    def __init__(self) -> None:
        self.start = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> _PeakMemory:
        self.start = self.peak = _rss_kib()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_kib())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_kib())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 1024


def _personnummer(birth: datetime.date, serial: int) -> str:
    ten = f"{birth:%y%m%d}{serial:03d}"
    return f"{birth:%Y%m%d}{serial:03d}{luhn_check_digit(ten)}"


class Command(BaseCommand):
    help = "Time and measure the journal import (preview, commit) against the reader alone."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--user", default="nurse_vivalla")
        parser.add_argument("--rows", type=int, action="append", help="rows (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}: run `manage.py seed_demo`.")
        centre = Centre.objects.filter(pk__in=child_centre_ids(user)).order_by("name").first()
        if centre is None or not centre.hsa_id:
            raise CommandError("The user works at no centre with an HSA-id.")
        for rows in options["rows"] or [5000]:
            try:
                with transaction.atomic():
                    self._run(user, centre, rows)
                    raise _Rollback
            except _Rollback:
                pass

    def _run(self, user: User, centre: Centre, rows: int) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "export.csv"
            self._children_and_file(user, centre, rows, path)
            size_mib = path.stat().st_size / 2**20
            self.stdout.write(f"\n{rows} rows ({size_mib:.1f} MiB CSV), centre {centre.name}")

            def floor() -> int:
                return sum(1 for _row in read_rows(path))

            visit_import = import_create(
                user=user, centre=centre, path_or_file=path, file_name="export.csv"
            )
            floor_seconds, _, _ = self._step("floor (reader)", rows, floor, None)
            self._step("preview", rows, lambda: import_preview(visit_import), floor_seconds)
            visit_import.refresh_from_db()
            self.stdout.write(f"  counts {visit_import.counts}")
            committed = visit_import.count_new
            self._step(
                "commit",
                committed,
                lambda: import_commit(visit_import, user=user),
                floor_seconds * committed / rows,
            )
            visit_import.refresh_from_db()
            if visit_import.status != ImportStatus.COMMITTED:
                raise CommandError(f"commit ended {visit_import.status}: {visit_import.error}")

    def _step(
        self, name: str, rows: int, work: Callable[[], object], floor: float | None
    ) -> tuple[float, int, float]:
        queries = 0

        def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count), _PeakMemory() as memory:
            started = time.perf_counter()
            work()
            seconds = time.perf_counter() - started
        ratio = f", {floor / seconds:.3f}× the floor's speed" if floor else ""
        self.stdout.write(
            f"  {name}: {seconds:.2f} s, {rows / seconds:,.0f} rows/s{ratio}, "
            f"{queries} queries, peak memory +{memory.growth_mib:.1f} MiB"
        )
        return seconds, queries, memory.growth_mib

    def _children_and_file(self, user: User, centre: Centre, rows: int, path: Path) -> None:
        """A child enrolled at `centre` per row, each row a visit at one of the template's slots
        made in the last 30 days (months not yet paid), every third one with social services;
        one row in twenty repeated, one with a wrong check digit, one naming no registered
        child."""
        template = (
            ProgrammeTemplate.objects.filter(
                organisation_id=centre.organisation_id, superseded_by__isnull=True
            )
            .prefetch_related("slots")
            .first()
        )
        if template is None:
            raise CommandError("The demo organisation has no programme template.")
        slots = [s for s in template.slots.all() if s.earliest_age_days >= 0]
        today = timezone.localdate()
        children: list[tuple[Child, Any, datetime.date]] = []
        serials: dict[datetime.date, Iterator[int]] = {}
        taken = set(
            Child.objects.filter(organisation_id=centre.organisation_id).values_list(
                "identity_key", flat=True
            )
        )
        for n in range(rows):
            slot = slots[n % len(slots)]
            visit_day = today - datetime.timedelta(days=(n // len(slots)) % 30)
            birth = visit_day - datetime.timedelta(days=slot.target_age_days)
            serial = serials.setdefault(birth, itertools.count(1))
            while True:  # the next serial of the birth date that no child has
                child = Child(
                    organisation_id=centre.organisation_id,
                    current_centre=centre,
                    identity_type="personnummer",
                    identity=_personnummer(birth, next(serial)),
                    birth_date=birth,
                )
                child.fill_identity_key()
                if child.identity_key not in taken:
                    break
            taken.add(child.identity_key)
            children.append((child, slot, visit_day))
        Child.objects.bulk_create([c for c, _slot, _day in children], batch_size=2000)
        Enrolment.objects.bulk_create(
            [
                Enrolment(
                    child=c,
                    centre=centre,
                    template=template,
                    offered_on=c.birth_date,
                    accepted_on=c.birth_date,
                    eligibility=["first_time_parents"],
                    created_by=user,
                )
                for c, _slot, _day in children
            ],
            batch_size=2000,
        )
        with path.open("w", encoding="utf-8") as file:
            file.write(";".join(CONTRACT_COLUMNS) + "\n")
            for line in self._lines(children, centre):
                file.write(line + "\n")

    @staticmethod
    def _lines(children: list[tuple[Child, Any, datetime.date]], centre: Centre) -> Iterator[str]:
        previous = ""
        for n, (child, _slot, day) in enumerate(children):
            joint = n % 3 == 0
            identity = f"{child.identity[:8]}-{child.identity[8:]}"
            if n % 20 == 7:
                identity = identity[:-1] + str((int(identity[-1]) + 1) % 10)  # check digit
            elif n % 20 == 13:
                identity = "20240101-0026"  # valid, but no such child in the organisation
            values = {
                "personnummer": identity,
                "datum": day.isoformat(),
                "vardenhet": centre.hsa_id,
                "besokstyp": "hembesök",
                "status": "genomfört",
                "kva": "ZV509" if joint else "",
                "socialtjanst": "ja" if joint else "nej",
                "tolk": "nej",
                "sprak": "",
                "besokstillfalle": "",
            }
            line = ";".join(values[c] for c in CONTRACT_COLUMNS)
            # The same visit twice in one file (the second a duplicate) in place of another row.
            yield previous if n % 20 == 3 else line
            previous = line
