from django.apps import AppConfig


class FundingConfig(AppConfig):
    name = "funding"
    verbose_name = "Ersättning och bidrag"

    def ready(self) -> None:
        from core.home import HomeSection, register_home_section
        from core.models import Role
        from funding.compensation import DESCRIBER, HOOK, PAGE_DESCRIBER
        from funding.views.applications import centre_applications_section, inbox_section
        from visits.extension import register_visit_describer, register_visit_hook

        # Per-visit compensation and locked months (DOMAIN.md 4.1): every visit save asks.
        register_visit_hook(HOOK)
        register_visit_describer(DESCRIBER)
        register_visit_describer(PAGE_DESCRIBER)

        # CBHV's first task: the applications waiting for a decision.
        register_home_section(
            HomeSection(
                roles=frozenset({Role.CBHV.value}),
                template="funding/partials/inbox_section.html",
                context=inbox_section,
                order=20,
            )
        )
        # The centre sees CBHV's decision or request for changes where its day starts: a few
        # lines, so above the (long) worklist rather than below it.
        register_home_section(
            HomeSection(
                roles=frozenset({Role.NURSE.value, Role.CENTRE_MANAGER.value}),
                template="funding/partials/centre_applications_section.html",
                context=centre_applications_section,
                order=5,
            )
        )
        register_navigation()


def register_navigation() -> None:
    """Funding's items in the shared menu (core.navigation), placed among the others by order."""
    from django.utils.translation import gettext_lazy as _

    from core.models import Role
    from core.navigation import ALL_ROLES, NavItem, register_nav_item

    for item in (
        NavItem(
            _("Att besluta"),
            "funding:inbox",
            frozenset({Role.CBHV}),
            _("Inskickade ansökningar om fast ersättning som väntar på ditt beslut."),
            order=30,
        ),
        NavItem(
            _("Bidrag"),
            "funding:grant_list",
            frozenset({Role.FINANCE, Role.CBHV}),
            _("Bidragen med mottaget, fördelat, utbetalt, kvar och att återbetala; huvudboken."),
            order=60,
        ),
        NavItem(
            _("Ersättning"),
            "funding:compensation_list",
            frozenset({Role.FINANCE, Role.CBHV, Role.CENTRE_MANAGER}),
            _("Ersättning per BVC och månad: besök, rörlig och ordinarie ersättning, justeringar."),
            order=70,
        ),
        NavItem(
            _("Ersättningsnivåer"),
            "funding:rate_list",
            frozenset({Role.CBHV, Role.ADMIN, Role.FINANCE, Role.CENTRE_MANAGER}),
            _("Ersättning per hembesök från ett datum; CBHV och administratörer lägger till nya."),
            order=80,
        ),
        NavItem(
            _("Betala månad"),
            "funding:compensation_pay",
            frozenset({Role.FINANCE}),
            _("Betala en månads rörliga ersättning från ett bidrag och lås månaden."),
            order=90,
        ),
        NavItem(
            _("Ansökningar"),
            "funding:application_list",
            frozenset({Role.NURSE, Role.CENTRE_MANAGER, Role.CBHV, Role.FINANCE, Role.ADMIN}),
            _("Ansökningar om fast ersättning: utkast, inskickade och beslut."),
            order=100,
        ),
        NavItem(
            _("BVC och CNI"),
            "funding:centre_list",
            ALL_ROLES,
            _("Barn-CNI per BVC, vem som kan ansöka och status för fast ersättning."),
            order=110,
        ),
        NavItem(
            _("Ersättningsordning"),
            "funding:scheme",
            frozenset({Role.CBHV, Role.ADMIN}),
            _("Tröskel för barn-CNI och fördelning av den fasta potten per år; CNI-import."),
            order=120,
        ),
    ):
        register_nav_item(item)
