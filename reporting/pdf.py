"""The annual PDF reports (DOMAIN.md 5; issue: reports 2–5), rendered in a Celery worker.

Django templates (templates/reports/pdf/) → HTML → WeasyPrint, with the machine's fonts and a
URL fetcher that only reads local files: a report never reaches the network. Every figure comes
from `reporting.selectors`; the narrative sections are the CBHV's or the centre manager's texts.
Aggregates only: no identity number or name of a child, and counts of children or families of
1–4 are shown as "<5".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from reporting import charts, selectors, services
from reporting.models import ReportKind, ReportRun
from reporting.narratives import SECTIONS
from reporting.renderers import Rendered
from visits.identity import mask_identities

PDF = "application/pdf"
CATEGORY_LABELS = {
    "programme_variable": "Rörlig ersättning för gemensamma hembesök (2 500 kr)",
    "fixed": "Fast ersättning till BVC",
    "partner_transfer": "Överföring till samverkansparter",
    "coordination": "Egen samordning",
}


def _sections(kind: str, narratives: Mapping[str, str]) -> list[tuple[str, str]]:
    """The written sections; saving refuses identity numbers, and this masks any that got in
    some other way (a report never carries one)."""
    return [
        (heading, mask_identities(narratives.get(key, "").strip()))
        for key, heading in SECTIONS[kind]
    ]


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML

    pdf: bytes = HTML(string=html, url_fetcher=_local_fetcher()).write_pdf()
    return pdf


def _local_fetcher() -> Any:
    """A URL fetcher that reads only files under the project's templates and static folders:
    a report never reaches the network, nor other files of the machine."""
    from weasyprint.urls import URLFetcher

    allowed = [(settings.BASE_DIR / folder).resolve() for folder in ("templates", "static")]

    class LocalOnly(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            path = Path(unquote(urlsplit(url).path)).resolve() if url.startswith("file:") else None
            if path is None or not any(path.is_relative_to(root) for root in allowed):
                raise ValueError(f"Refused to fetch {url[:80]} while rendering a report")
            return super().fetch(url, headers)

    return LocalOnly(allowed_protocols={"file"})


def _render(template: str, run: ReportRun, context: dict[str, Any]) -> Rendered:
    # While the report's period is open (the grant not closed, the year not over) every page
    # says "Preliminär" (API.md "Money at the edges"); the rule is `preliminary_reason`'s.
    preliminary = services.preliminary_reason(services.Subject.of(run))
    context = {"generated": timezone.localdate(), "preliminary": preliminary, **context}
    html = render_to_string(f"reports/pdf/{template}", context)
    return Rendered(content=html_to_pdf(html), content_type=PDF, extension="pdf")


def _chart(activity: selectors.Activity) -> str:
    return mark_safe(  # noqa: S308 - built from numbers and fixed labels in reporting.charts
        charts.visits_per_month_svg(
            activity.per_month,
            title=f"Hembesök per månad {activity.year}, med och utan socialtjänsten",
        )
    )


def _grant_context(run: ReportRun, kind: str, narratives: Mapping[str, str]) -> dict[str, Any]:
    grant = run.grant
    assert grant is not None  # a grant report always names its grant (a database check)
    account = selectors.grant_account(grant)
    activity = selectors.programme_activity(run.organisation_id, run.year)
    return {
        "organisation": run.organisation.name,
        "grant": grant,
        "account": account,
        "categories": [
            (CATEGORY_LABELS[c], amount) for c, amount in account.paid_by_category.items()
        ],
        "activity": activity,
        "chart": _chart(activity),
        "sections": _sections(kind, narratives),
    }


def render_socialstyrelsen(run: ReportRun, narratives: Mapping[str, str]) -> Rendered:
    context = _grant_context(run, ReportKind.SOCIALSTYRELSEN, narratives)
    return _render("socialstyrelsen.html", run, context)


def render_skl(run: ReportRun, narratives: Mapping[str, str]) -> Rendered:
    context = _grant_context(run, ReportKind.SKL, narratives)
    return _render("skl.html", run, context)


def render_halsoval(run: ReportRun, narratives: Mapping[str, str]) -> Rendered:
    centre = run.centre
    assert centre is not None  # a centre account always names its centre (a database check)
    account = selectors.centre_account(centre, run.year)
    return _render(
        "halsoval.html",
        run,
        {
            "organisation": run.organisation.name,
            "centre": centre,
            "year": run.year,
            "account": account,
            "activity": account.activity,
            "chart": _chart(account.activity),
            "sections": _sections(ReportKind.HALSOVAL, narratives),
        },
    )
