"""The report runs in /metrics (core.metrics; registered in ReportingConfig.ready())."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reporting.models import ReportRun, RunStatus


class ReportRunCollector(Collector):
    """`hembesok_report_runs{status=…}`: runs by status, every status (0 included), one query.
    Queued and running runs that keep growing mean the reports worker is behind or down."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = dict(
            ReportRun.objects.order_by()
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        family = GaugeMetricFamily(
            "hembesok_report_runs", "Report runs by status.", labels=["status"]
        )
        for status in RunStatus.values:
            family.add_metric([status], counts.get(status, 0))
        yield family
