"""`manage.py bench_visits`: how fast a nurse's daily API calls are, as ratios to a floor.

Logs visits through `POST /api/v1/visits/` and reads the worklist on the current database (the
demo data), interleaved with `GET /api/v1/me/` (authentication, one membership query, JSON) as
the floor measured in the same run, so the ratios hold on a shared, noisy machine. Everything
runs in one transaction that is rolled back: the data is left as it was.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import User
from core.services import api_token_create
from visits.selectors import worklist


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time visit logging and the worklist through the API against GET /api/v1/me/."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--user", default="nurse_vivalla")
        parser.add_argument(
            "--visits", type=int, default=60, help="visits to log (max: open slots)"
        )
        parser.add_argument("--reads", type=int, default=60, help="worklist pages to read")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = User.objects.get(username=options["user"])
        except User.DoesNotExist as exc:
            raise CommandError(f"No user {options['user']!r}: run `manage.py seed_demo`.") from exc
        try:
            with transaction.atomic():
                self._run(user, options["visits"], options["reads"])
                raise _Rollback
        except _Rollback:
            pass

    def _run(self, user: User, n_visits: int, n_reads: int) -> None:
        _, key = api_token_create(user=user)  # rolled back with the rest of the run
        client = Client(headers={"authorization": f"Token {key}"})
        today = timezone.localdate()
        # Each row is a distinct (enrolment, slot): logging one never clashes with another.
        targets = list(worklist(user, today=today)[:n_visits])
        if not targets:
            raise CommandError("The worklist is empty: nothing to log.")

        def timed(call: Any) -> float:
            start = time.perf_counter()
            response = call()
            elapsed = time.perf_counter() - start
            if response.status_code >= 400:
                raise CommandError(f"{response.status_code}: {response.content[:300]!r}")
            return elapsed

        for _ in range(5):  # warm-up
            timed(lambda: client.get("/api/v1/me/"))
            timed(lambda: client.get("/api/v1/worklist/?page_size=50"))

        me: list[float] = []
        post: list[float] = []
        for row in targets:
            body = {
                "enrolment": str(row.pk),
                "date": str(today),  # logged today (late for an overdue slot): an open month
                "place": "home",
                "status": "completed",
                "slot": row.slot_key,  # type: ignore[attr-defined]
                "social_services_present": True,
            }
            me.append(timed(lambda: client.get("/api/v1/me/")))
            post.append(
                timed(
                    lambda b=body: client.post(
                        "/api/v1/visits/", b, content_type="application/json"
                    )
                )
            )
        reads: list[float] = []
        me_reads: list[float] = []
        for _ in range(n_reads):
            me_reads.append(timed(lambda: client.get("/api/v1/me/")))
            reads.append(timed(lambda: client.get("/api/v1/worklist/?page_size=50")))

        with CaptureQueriesContext(connection) as queries:
            client.get("/api/v1/worklist/?page_size=50")
        selects = [q for q in queries.captured_queries if "visits_enrolment" in q["sql"]]

        def line(name: str, values: list[float], floor: list[float]) -> str:
            p50, p95 = statistics.median(values), _percentile(values, 0.95)
            f50, f95 = statistics.median(floor), _percentile(floor, 0.95)
            return (
                f"{name:<32} n={len(values):<4} p50={p50 * 1000:7.2f} ms  p95={p95 * 1000:7.2f} ms"
                f"  ratio to /me/: p50 {p50 / f50:5.2f}x  p95 {p95 / f95:5.2f}x"
            )

        self.stdout.write(line("GET /api/v1/me/ (floor)", me, me))
        self.stdout.write(line("POST /api/v1/visits/", post, me))
        self.stdout.write(line("GET /api/v1/worklist/ (50 rows)", reads, me_reads))
        self.stdout.write(
            f"queries per worklist page: {len(queries.captured_queries)} in all, "
            f"{len(selects)} touching visits_enrolment (the worklist itself)"
        )
