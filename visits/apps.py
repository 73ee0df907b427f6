from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "visits"
    verbose_name = "Barn och besök"

    def ready(self) -> None:
        from core.home import HomeSection, register_home_section
        from core.models import Role
        from visits.views import worklist_section

        # The nurse's (and her manager's) first task: the slots due and overdue at her centres.
        register_home_section(
            HomeSection(
                roles=frozenset({Role.NURSE.value, Role.CENTRE_MANAGER.value}),
                template="visits/partials/worklist_section.html",
                context=worklist_section,
                order=10,
            )
        )
        register_navigation()


def register_navigation() -> None:
    """Visits' items in the shared menu (core.navigation), placed among the others by order."""
    from django.utils.translation import gettext_lazy as _

    from core.models import Role
    from core.navigation import NavItem, register_nav_item

    for item in (
        NavItem(
            _("Barn"),
            "visits:child_list",
            frozenset({Role.NURSE, Role.CENTRE_MANAGER}),
            _("Barnen på din BVC: registrera, skriv in i programmet, se schemat."),
            order=10,
        ),
        NavItem(
            _("Besök"),
            "visits:visit_list",
            frozenset({Role.NURSE, Role.CENTRE_MANAGER}),
            _("Besöken som gjorts på din BVC, de senaste först."),
            order=20,
        ),
        NavItem(
            _("Loggranskning"),
            "visits:log_list",
            frozenset({Role.LOG_REVIEWER}),
            _("Sök i åtkomstloggen, granska stickprov och ta fram loggutdrag till patienter."),
            order=130,
        ),
    ):
        register_nav_item(item)
