from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = "Rapporter"

    def ready(self) -> None:
        register_navigation()
        register_log_extract_pdf()
        register_metrics()


def register_metrics() -> None:
    """The report runs by status in /metrics (core.metrics)."""
    from core.metrics import register_collector
    from reporting.metrics import ReportRunCollector

    register_collector(ReportRunCollector())


def register_log_extract_pdf() -> None:
    """The patient's log extract as a PDF is a report run (visits asks through its extension
    point and never imports reporting)."""
    from reporting.log_extract import LogExtractPdf
    from visits.extension import register_log_extract_pdf

    register_log_extract_pdf(LogExtractPdf())


def register_navigation() -> None:
    """Reporting's items in the shared menu (core.navigation), placed among the others by
    order."""
    from django.utils.translation import gettext_lazy as _

    from core.models import Role
    from core.navigation import NavItem, register_nav_item

    for item in (
        NavItem(
            _("Rapporter"),
            "reporting:list",
            frozenset({Role.FINANCE, Role.CBHV, Role.CENTRE_MANAGER}),
            _("Beställ, följ och ladda ner rapporter; skriv texterna och lämna in."),
            order=40,
        ),
        NavItem(
            _("Att rapportera"),
            "deadlines:overview",
            frozenset({Role.CBHV, Role.FINANCE}),
            _("Rapporter och bidrag med sista dag: vad som är öppet, inlämnat och försenat."),
            order=50,
        ),
    ):
        register_nav_item(item)
