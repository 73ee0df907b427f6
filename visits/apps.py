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
