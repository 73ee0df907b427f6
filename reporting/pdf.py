"""The annual PDF reports (DOMAIN.md 5; issue: reports 2–5) and the patient's log extract,
rendered in a Celery worker.

Django templates (templates/reports/pdf/) → HTML → WeasyPrint, with the machine's fonts and a
URL fetcher that only reads local files: a report never reaches the network. Every figure comes
from `reporting.selectors`; the narrative sections are the CBHV's or the centre manager's texts.
Aggregates only: no identity number or name of a child, and counts of children or families of
1–4 are shown as "<5". The log extract (templates/reports/pdf/log_extract.html) is the one
document about one child: it names the child by the masked identity only, and the care units
and times that accessed its data, never who.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from core.money import format_money
from reporting import charts, selectors, suppression
from reporting.models import LogExtractOrder, ReportKind, ReportRun
from reporting.narratives import SECTIONS
from reporting.renderers import Rendered
from reporting.subjects import Subject, preliminary_reason
from visits import log_review
from visits.identity import mask_identities

PDF = "application/pdf"
CATEGORY_LABELS = {
    "programme_variable": "Rörlig ersättning för gemensamma hembesök",
    "fixed": "Fast ersättning till BVC",
    "partner_transfer": "Överföring till samverkansparter",
    "coordination": "Egen samordning",
}
# Who submits each report in Hembesök (reporting.permissions: the role that writes its texts).
SUBMITTED_BY = {
    ReportKind.SOCIALSTYRELSEN: "CBHV",
    ReportKind.SKL: "CBHV",
    ReportKind.HALSOVAL: "BVC:ns chef",
}


def _kronor(amount: Decimal) -> str:
    """A rate as the reports name it: whole kronor without öre ("2 500 kr")."""
    if amount == amount.to_integral_value():
        return format_money(amount).replace(",00", "")
    return format_money(amount)


def _rate_label(rates: list[selectors.RatePeriod]) -> str:
    """The programme-variable rate of the year from the organisation's rules in force (rates
    are data, API.md), with the day it changed when it did."""
    if not rates:
        return "ingen ersättningsnivå gällde"
    parts: list[str] = []
    for i, rate in enumerate(rates):
        if i and rate.programme_variable == rates[i - 1].programme_variable:
            continue
        parts.append(_kronor(rate.programme_variable))
    if len(parts) == 1:
        return f"{parts[0]} per besök"
    changes = [
        f"{_kronor(rate.programme_variable)} från {rate.valid_from:%Y-%m-%d}"
        for i, rate in enumerate(rates)
        if i and rate.programme_variable != rates[i - 1].programme_variable
    ]
    return f"{_kronor(rates[0].programme_variable)} per besök, " + ", ".join(changes)


def _signoff(run: ReportRun) -> dict[str, Any]:
    """The sign-off as the file can state it: who submits it, and the run's id that finds its
    page. Who submitted it, when, and the file's SHA-256 are recorded at submission, after the
    file is made (a PDF cannot hold its own checksum), and shown on that page. No person's name
    is printed: the file names no one (a staff name can be a child's family name too)."""
    return {"submitter": SUBMITTED_BY.get(ReportKind(run.kind), ""), "run_id": run.pk}


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
    preliminary = preliminary_reason(Subject.of(run))
    context = {
        "generated": timezone.localdate(),
        "preliminary": preliminary,
        # The figures cover the calendar year (reach counts from 1 January), whatever day the
        # grant was received: the header says so, with the grant's own dates beside it.
        "period": (datetime.date(run.year, 1, 1), datetime.date(run.year, 12, 31)),
        **context,
    }
    if isinstance(context.get("activity"), selectors.Activity):
        # The templates get the counts only as reporting.suppression decided them, the same
        # decisions the chart is drawn from: no "<5" can be given back by a total or a bar.
        context["activity"] = suppression.present_activity(context["activity"])
    html = render_to_string(f"reports/pdf/{template}", context)
    return Rendered(content=html_to_pdf(html), content_type=PDF, extension="pdf")


def _chart(activity: selectors.Activity) -> str:
    # Built from numbers and fixed labels; reporting.charts escapes every text it writes.
    return mark_safe(  # noqa: S308 # nosec B308 B703
        charts.visits_per_month_svg(
            suppression.present_activity(activity).per_month,
            title=f"Hembesök per månad {activity.year}, med och utan socialtjänsten",
        )
    )


# --- Counts shown beside the activity's: through the activity's suppression decisions --------
def _regrouped(cells: list[suppression.Shown], value: int) -> str:
    """A sum of counts that the activity shows one by one (the visits of the ordinary slots,
    say): exact only when each of them is shown exactly, so that it tells nothing the activity
    does not (a sum of exact counts is 0 or 5 or more); else "x"."""
    exact = [cell.exact for cell in cells if cell.state is suppression.State.EXACT]
    if len(exact) == len(cells) and sum(n or 0 for n in exact) == value:
        return str(value)
    return suppression.WITHHELD_TEXT


def _split_shown(
    details: selectors.ProgrammeDetails, activity: selectors.Activity
) -> dict[str, str]:
    """Ordinary and extra visits are the visits per slot regrouped by the slots' kinds: shown
    from the per-slot decisions, so no "<5" or "x" there can be had back from them."""
    decided = suppression.present_activity(activity)
    by_key = {
        slot.key: cell
        for slot, (_label, cell) in zip(activity.per_slot, decided.per_slot, strict=True)
    }
    kinds = details.slot_kinds
    ordinary = [cell for key, cell in by_key.items() if kinds.get(key) == "ordinary"]
    extra = [cell for key, cell in by_key.items() if kinds.get(key) == "extra"]
    split = details.split
    # The activity's "outside the template" is the visits without a slot; a key the template
    # lacks would count here but not there: then it is not shown.
    outside = decided.extra_visits if split.outside_template == activity.extra_visits else None
    hidden = suppression.Shown(suppression.State.HIDDEN)
    return {
        "ordinary": _regrouped(ordinary, split.ordinary),
        "extra_slots": _regrouped(extra, split.extra_slots),
        "outside_template": outside.text if outside else suppression.WITHHELD_TEXT,
        "extra": _regrouped([*extra, outside or hidden], split.extra),
    }


def _languages_shown(
    details: selectors.ProgrammeDetails, activity: selectors.Activity
) -> list[tuple[str, str]]:
    """Interpreter visits by language add up to the activity's interpreter visits: shown only
    while that total is (a hidden total would come back as their sum). Languages under 5 are
    already grouped (`selectors.programme_details`)."""
    total = suppression.present_activity(activity).interpreter_visits
    readable = total.state in (suppression.State.EXACT, suppression.State.SMALL)
    return [
        (
            f"{row.language} ({row.languages} språk)" if row.languages > 1 else row.language,
            suppression.primary(row.visits).text if readable else suppression.WITHHELD_TEXT,
        )
        for row in details.interpreter_languages
    ]


def _visits_per_child(details: selectors.ProgrammeDetails, activity: selectors.Activity) -> str:
    """Completed visits per child: times the children shown beside it, it would give back the
    activity's completed visits, so only while those are shown exactly."""
    completed = suppression.present_activity(activity).completed_visits
    if completed.state is not suppression.State.EXACT:
        return suppression.WITHHELD_TEXT
    return details.completion.visits_per_child


def _plan_visits(plan: selectors.CentrePlan | None, activity: selectors.Activity) -> str:
    """The home visits in the period with fixed compensation, a part of the year's home visits
    that the activity shows: "x" when the rest would be a small count worked out from both."""
    if plan is None:
        return ""
    year = suppression.present_activity(activity).home_visits
    if year.state is suppression.State.EXACT and 0 < plan.home_visits - plan.home_visits_fixed < (
        suppression.SMALL
    ):
        return suppression.WITHHELD_TEXT
    return suppression.primary(plan.home_visits_fixed).text


def _grant_context(run: ReportRun, kind: str, narratives: Mapping[str, str]) -> dict[str, Any]:
    grant = run.grant
    assert grant is not None  # a grant report always names its grant (a database check)
    account = selectors.grant_account(grant)
    activity = selectors.programme_activity(run.organisation_id, run.year)
    record = selectors.grant_record(grant)
    details = selectors.programme_details(run.organisation_id, run.year)
    labels = {**CATEGORY_LABELS}
    labels["programme_variable"] += f" ({_rate_label(record.rates)})"
    return {
        "organisation": run.organisation.name,
        "grant": grant,
        "account": account,
        "categories": [(labels[c], amount) for c, amount in account.paid_by_category.items()],
        "record": record,
        "details": details,
        "split": _split_shown(details, activity),
        "languages": _languages_shown(details, activity),
        "visits_per_child": _visits_per_child(details, activity),
        "activity": activity,
        "chart": _chart(activity),
        "sections": _sections(kind, narratives),
        "signoff": _signoff(run),
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
    rates = selectors.rates_in_year(run.organisation_id, run.year)
    plan = selectors.centre_plan(centre, run.year)
    home = suppression.present_activity(account.activity).home_visits
    return _render(
        "halsoval.html",
        run,
        {
            "organisation": run.organisation.name,
            "centre": centre,
            "year": run.year,
            "account": account,
            # The compensated visits are the year's completed home visits, which the activity
            # shows as its suppression decided: the same text here.
            "compensated_visits": (
                home.text
                if account.compensated_visits == account.activity.home_visits
                else suppression.primary(account.compensated_visits).text
            ),
            "plan": plan,
            "plan_visits": _plan_visits(plan, account.activity),
            "rates": rates,
            "rate_label": _rate_label(rates),
            "activity": account.activity,
            "chart": _chart(account.activity),
            "sections": _sections(ReportKind.HALSOVAL, narratives),
            "signoff": _signoff(run),
        },
    )


def render_log_extract(run: ReportRun, narratives: Mapping[str, str]) -> Rendered:
    """The patient's log extract: the rows of the organisation's log up to the moment it was
    asked for (`LogExtractOrder.as_of`), newest first, as `visits.log_review` finds them."""
    order = LogExtractOrder.objects.get(run=run)
    accesses = log_review.extract_rows(
        organisation_ids=[run.organisation_id],
        identity_hash=order.identity_hash,
        start=order.period_from,
        end=order.period_to,
        until=order.as_of,
    )
    html = render_to_string(
        "reports/pdf/log_extract.html",
        {
            "organisation": run.organisation.name,
            "order": order,
            "accesses": accesses,
            "care_units": len({a.care_unit for a in accesses if a.care_unit}),
            "generated": timezone.localdate(),
            "run_id": run.pk,
        },
    )
    return Rendered(content=html_to_pdf(html), content_type=PDF, extension="pdf")
