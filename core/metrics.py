"""GET /metrics for Prometheus (issue 25, item 7): django-prometheus's request counts and
latencies, and the application's own figures computed when scraped.

Internal only, without a login: the answer holds counts, never anything about a child or a
user, but it is not for the public either. Allowed are

- a request with `Authorization: Bearer <METRICS_TOKEN>` when that is set (a scraper that
  comes through the reverse proxy), and
- a request from a private or loopback address that did not come through the reverse proxy
  (no `X-Forwarded-For`): Prometheus on the compose network scraping web:8000 directly.

Anything else gets the same 404 as an unknown address. The reverse proxy must add
X-Forwarded-For (Caddy does; nginx with `proxy_set_header X-Forwarded-For
$proxy_add_x_forwarded_for`), and it may as well refuse /metrics itself.

With several gunicorn workers each has its own counters: set PROMETHEUS_MULTIPROC_DIR (an
empty folder, one per container; config/gunicorn.conf.py empties it at start and marks exited
workers dead) and the scrape adds them up. The application's figures come from the database
and Redis at scrape time, so they are the same whichever worker answers.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# The application's collectors, asked at every scrape. Core's own are here; the apps above
# core add theirs in AppConfig.ready() (reporting: the report runs).
_COLLECTORS: list[Collector] = []


def register_collector(collector: Collector) -> None:
    """Add a scrape-time collector, once per class (ready() may run more than once in tests)."""
    if not any(type(known) is type(collector) for known in _COLLECTORS):
        _COLLECTORS.append(collector)


class QueueLengthCollector(Collector):
    """`hembesok_queue_length{queue=…}`: messages waiting in each Celery queue (Redis LLEN of
    the queue's list; tasks are sent without a priority, so they all wait in that one list).
    Without REDIS_URL (tasks run eagerly) or when Redis does not answer: no sample, and the
    scrape still succeeds."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        url: str = getattr(settings, "REDIS_URL", "")
        if not url:
            return
        import redis

        from core.health import bounded_redis

        names = [queue.name for queue in settings.CELERY_TASK_QUEUES]
        try:
            with bounded_redis(url) as client:
                pipeline = client.pipeline(transaction=False)
                for name in names:
                    pipeline.llen(name)
                lengths = pipeline.execute()
        except (redis.RedisError, OSError) as exc:
            logger.warning("metrics: Redis did not answer (%s)", exc.__class__.__name__)
            return
        family = GaugeMetricFamily(
            "hembesok_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        for name, length in zip(names, lengths, strict=True):
            family.add_metric([name], float(length))
        yield family


class OutgoingMailCollector(Collector):
    """`hembesok_outgoing_mail_pending`: outbox rows not sent yet (core.mail), given-up ones
    included: a number that keeps growing means the mail server is away."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from core.models import OutgoingMail

        pending = OutgoingMail.objects.filter(sent__isnull=True).count()
        yield GaugeMetricFamily(
            "hembesok_outgoing_mail_pending", "Outgoing mail not sent yet.", value=pending
        )


register_collector(QueueLengthCollector())
register_collector(OutgoingMailCollector())


class _Scrape(Collector):
    """The process's (or all workers') django-prometheus metrics, then the application's."""

    def __init__(self, sources: Iterable[Collector]) -> None:
        self.sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def exposition() -> bytes:
    """The metrics in Prometheus's text format."""
    base: Collector = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = CollectorRegistry()
        MultiProcessCollector(base)
    return generate_latest(_Scrape([base, *_COLLECTORS]))


def _private_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback


def may_scrape(request: HttpRequest) -> bool:
    """The rule in the module's docstring."""
    token: str = getattr(settings, "METRICS_TOKEN", "")
    authorization = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    if "X-Forwarded-For" in request.headers:
        return False
    return _private_address(request.META.get("REMOTE_ADDR", ""))


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        raise Http404
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
