"""The navigation per role: one table, read by the base template and the start page."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core.models import Role


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    roles: frozenset[str]
    description: str | Promise = ""

    @property
    def url(self) -> str:
        return reverse(self.url_name)


ALL_ROLES = frozenset(r.value for r in Role)

ITEMS: tuple[NavItem, ...] = (
    NavItem(_("Start"), "home", ALL_ROLES, _("Översikt över ditt arbete.")),
    NavItem(
        _("Barn"),
        "visits:child_list",
        frozenset({Role.NURSE, Role.CENTRE_MANAGER}),
        _("Barnen på din BVC: registrera, skriv in i programmet, se schemat."),
    ),
    NavItem(
        _("Besök"),
        "visits:visit_list",
        frozenset({Role.NURSE, Role.CENTRE_MANAGER}),
        _("Besöken som gjorts på din BVC, de senaste först."),
    ),
    NavItem(
        _("Att besluta"),
        "funding:inbox",
        frozenset({Role.CBHV}),
        _("Inskickade ansökningar om fast ersättning som väntar på ditt beslut."),
    ),
    NavItem(
        _("Rapporter"),
        "reporting:list",
        frozenset({Role.FINANCE, Role.CBHV, Role.CENTRE_MANAGER}),
        _("Beställ, följ och ladda ner rapporter; skriv texterna och lämna in."),
    ),
    NavItem(
        _("Att rapportera"),
        "deadlines:overview",
        frozenset({Role.CBHV, Role.FINANCE}),
        _("Rapporter och bidrag med sista dag: vad som är öppet, inlämnat och försenat."),
    ),
    NavItem(
        _("Bidrag"),
        "funding:grant_list",
        frozenset({Role.FINANCE, Role.CBHV}),
        _("Bidragen med mottaget, fördelat, utbetalt, kvar och att återbetala; huvudboken."),
    ),
    NavItem(
        _("Ersättning"),
        "funding:compensation_list",
        frozenset({Role.FINANCE, Role.CBHV, Role.CENTRE_MANAGER}),
        _("Ersättning per BVC och månad: besök, rörlig och ordinarie ersättning, justeringar."),
    ),
    NavItem(
        _("Ersättningsnivåer"),
        "funding:rate_list",
        frozenset({Role.CBHV, Role.ADMIN, Role.FINANCE, Role.CENTRE_MANAGER}),
        _("Ersättning per hembesök från ett datum; CBHV och administratörer lägger till nya."),
    ),
    NavItem(
        _("Betala månad"),
        "funding:compensation_pay",
        frozenset({Role.FINANCE}),
        _("Betala en månads rörliga ersättning från ett bidrag och lås månaden."),
    ),
    NavItem(
        _("Ansökningar"),
        "funding:application_list",
        frozenset({Role.NURSE, Role.CENTRE_MANAGER, Role.CBHV, Role.FINANCE, Role.ADMIN}),
        _("Ansökningar om fast ersättning: utkast, inskickade och beslut."),
    ),
    NavItem(
        _("BVC och CNI"),
        "funding:centre_list",
        ALL_ROLES,
        _("Barn-CNI per BVC, vem som kan ansöka och status för fast ersättning."),
    ),
    NavItem(
        _("Ersättningsordning"),
        "funding:scheme",
        frozenset({Role.CBHV, Role.ADMIN}),
        _("Tröskel för barn-CNI och fördelning av den fasta potten per år; CNI-import."),
    ),
    NavItem(
        _("Loggranskning"),
        "visits:log_list",
        frozenset({Role.LOG_REVIEWER}),
        _("Sök i åtkomstloggen, granska stickprov och ta fram loggutdrag till patienter."),
    ),
    NavItem(
        _("Administration"),
        "admin:index",
        frozenset({Role.ADMIN}),
        _("Användare, BVC, samverkansparter och referensdata."),
    ),
    NavItem(
        _("API-dokumentation"),
        "api-docs",
        frozenset({Role.ADMIN, Role.FINANCE, Role.CBHV}),
        _("Gränssnittet för journalsystem och ekonomiverktyg."),
    ),
)


def items_for(roles: frozenset[str]) -> list[NavItem]:
    visible = []
    for item in ITEMS:
        if not item.roles & roles:
            continue
        try:
            item.url  # noqa: B018 - a page that is not built yet stays out of the menu
        except NoReverseMatch:
            continue
        visible.append(item)
    return visible
