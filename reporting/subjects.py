"""What a report is about, and when a report of it is final.

A subject is a kind, an organisation's year, and a grant or a centre. A report can be requested
and downloaded at any time; it is submitted only once its period is over: a Socialstyrelsen
report (and the auditor bundle) for a closed grant, a Hälsoval account or SKL report after its
year (API.md "Reports are submitted when their period is over"). Before that it is
"Preliminär": `preliminary_reason` is the one rule behind the PDFs' mark, the submit's 409 and
the auditor bundle's 409.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from core.models import Centre, Organisation
from funding.models import Funder, Grant
from reporting.models import NarrativeVersion, ReportKind, ReportRun
from reporting.narratives import SECTIONS

# A grant report is about a grant from this funder (the auditor bundle takes any grant).
KIND_FUNDER = {ReportKind.SOCIALSTYRELSEN: Funder.SOCIALSTYRELSEN, ReportKind.SKL: Funder.SKL}
# The reports a grant's funder asks for: each answers the grant's report deadline, and the
# submitted one is what the grant's auditor bundle holds.
GRANT_REPORT_KINDS = tuple(KIND_FUNDER)
# Kinds whose period ends when the grant is closed, and kinds whose period is their year.
GRANT_PERIOD_KINDS = (ReportKind.SOCIALSTYRELSEN, ReportKind.AUDITOR_BUNDLE)
YEAR_PERIOD_KINDS = (ReportKind.HALSOVAL, ReportKind.SKL)


@dataclass(frozen=True)
class Subject:
    """What a report is about: a kind, an organisation's year, and a grant or a centre."""

    kind: str
    organisation: Organisation
    year: int
    grant: Grant | None = None
    centre: Centre | None = None

    def lookup(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "organisation_id": self.organisation.pk,
            "year": self.year,
            "grant_id": self.grant.pk if self.grant else None,
            "centre_id": self.centre.pk if self.centre else None,
        }

    @classmethod
    def of(cls, run: ReportRun) -> Subject:
        return cls(run.kind, run.organisation, run.year, run.grant, run.centre)

    @property
    def sections(self) -> list[tuple[str, str]]:
        return SECTIONS.get(self.kind, [])

    def __str__(self) -> str:
        what = self.grant.reference if self.grant else (self.centre.name if self.centre else "")
        return f"{ReportKind(self.kind).label} {what} {self.year}".replace("  ", " ")


def preliminary_reason(subject: Subject, at: datetime.datetime | None = None) -> str:
    """Why a report of `subject` made at `at` (default: now) is preliminary, or "" when its
    period is over: a Socialstyrelsen report and the auditor bundle once the grant is closed
    (until then its figures still move), a Hälsoval account or SKL report once its year has
    ended."""
    moment = at or timezone.now()
    if subject.kind in GRANT_PERIOD_KINDS:
        grant = subject.grant
        if grant is not None and grant.closed_at is not None and grant.closed_at <= moment:
            return ""
        return _(
            "Bidraget %(reference)s är inte avslutat. Ekonomi avslutar det när medlen är "
            "använda (senast %(use_by)s); först därefter kan rapporten lämnas in."
        ) % {
            "reference": grant.reference if grant else "",
            "use_by": grant.use_by.isoformat() if grant else "",
        }
    if subject.kind in YEAR_PERIOD_KINDS and timezone.localdate(moment).year <= subject.year:
        return _("Året %(year)s är inte slut. Rapporten kan lämnas in från %(from)s.") % {
            "year": subject.year,
            "from": datetime.date(subject.year + 1, 1, 1).isoformat(),
        }
    return ""


def is_preliminary(subject: Subject, at: datetime.datetime | None = None) -> bool:
    return bool(preliminary_reason(subject, at))


def missing_sections(subject: Subject, current: Mapping[str, NarrativeVersion]) -> list[str]:
    """The headings of the subject's narrative sections with no text (never written, or the
    current version empty), in the report's order. `current`:
    `reporting.selectors.current_narratives(subject)`."""
    return [
        heading
        for key, heading in subject.sections
        if key not in current or not current[key].text.strip()
    ]


def outdated_reason(run: ReportRun, current: Mapping[str, NarrativeVersion]) -> str:
    """Why the run's file would not be the final report, or "": rendered while the period was
    still open (it says "Preliminär"), or before the texts were last changed (`current`:
    `current_narratives()`). Rendering starts after `started_at`, so a period that was over
    then was over when the file was made."""
    if is_preliminary(Subject.of(run), at=run.started_at or run.finished_at):
        return _(
            "Rapporten skapades innan perioden var slut och är märkt Preliminär. Beställ "
            "rapporten igen och lämna in den nya."
        )
    if set(run.narrative_versions) != {str(v.pk) for v in current.values()}:
        return _(
            "Texterna har ändrats sedan rapporten skapades. Beställ rapporten igen och lämna in "
            "den nya."
        )
    return ""
