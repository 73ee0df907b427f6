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
