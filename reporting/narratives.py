"""The written sections of each report (DOMAIN.md 5; issue: reports 2–4). Each section is
versioned (`NarrativeVersion`, append-only); a report is rendered with the latest versions and
remembers which ones it used."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reporting.models import ReportKind

# The longest text a section takes (the form's `max_length` and the service's check).
NARRATIVE_MAX_LENGTH = 20_000

# kind → [(section key, heading)]; the headings are the funder's questions.
SECTIONS: dict[str, list[tuple[str, str]]] = {
    ReportKind.SOCIALSTYRELSEN: [
        ("use", str(_("Hur bidraget har använts"))),
        ("cooperation_municipalities", str(_("Samverkan med kommuner (socialtjänst)"))),
        ("cooperation_other", str(_("Samverkan med förskola, tandvård och mödrahälsovård"))),
        ("comments", str(_("Övriga kommentarer"))),
    ],
    ReportKind.HALSOVAL: [
        ("form_content", str(_("Form och innehåll"))),
        ("development", str(_("Planer för fortsatt utveckling"))),
    ],
    ReportKind.SKL: [
        ("results", str(_("Resultat"))),
        ("sustained", str(_("Hur arbetet ska bestå"))),
        ("new_ways", str(_("Nya arbetssätt och samverkan"))),
        ("reached", str(_("Vilka som nåtts"))),
        ("challenges", str(_("Utmaningar"))),
        ("needs", str(_("Behov"))),
    ],
}
