"""What a report run renders: one function per kind, called by the run machinery in a Celery
worker (never in a web worker). Each takes the run (kind, organisation, year, grant or centre)
and the current narrative texts (section key → text; empty for kinds without sections) and
returns the file. Renderers read the database but never write to it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.utils.module_loading import import_string

from reporting.models import ReportKind, ReportRun


@dataclass(frozen=True)
class Rendered:
    content: bytes
    content_type: str
    extension: str  # "pdf", "xlsx", "zip", "si"


Renderer = Callable[[ReportRun, Mapping[str, str]], Rendered]


# Dotted paths, imported when a worker renders (web workers never import WeasyPrint).
RENDERERS: dict[str, str] = {
    ReportKind.SOCIALSTYRELSEN: "reporting.pdf.render_socialstyrelsen",
    ReportKind.HALSOVAL: "reporting.pdf.render_halsoval",
    ReportKind.SKL: "reporting.pdf.render_skl",
    ReportKind.FINANCE_XLSX: "reporting.exports.render_finance_xlsx",
    ReportKind.FINANCE_CSV: "reporting.exports.render_finance_csv",
    ReportKind.AUDITOR_BUNDLE: "reporting.exports.render_auditor_bundle",
    ReportKind.SIE: "reporting.sie.render_sie",
    ReportKind.LOG_EXTRACT: "reporting.pdf.render_log_extract",
}


def renderer_for(kind: str) -> Renderer:
    renderer: Renderer = import_string(RENDERERS[kind])
    return renderer
