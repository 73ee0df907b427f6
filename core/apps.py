from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Organisation och behörigheter"

    def ready(self) -> None:
        from config.celery import announce_eager_mode

        announce_eager_mode()
        register_navigation()
        connect_signals()


def connect_signals() -> None:
    from django.contrib.auth.signals import user_logged_in

    from core.sessions import stamp_sign_in

    user_logged_in.connect(stamp_sign_in, dispatch_uid="core.sessions.stamp_sign_in")


def register_navigation() -> None:
    """Core's items in the shared menu (core.navigation): the start page first, administration
    and the API's docs last. The apps above core register their own."""
    from django.utils.translation import gettext_lazy as _

    from core.models import Role
    from core.navigation import ALL_ROLES, NavItem, register_nav_item

    for item in (
        NavItem(_("Start"), "home", ALL_ROLES, _("Översikt över ditt arbete."), order=0),
        NavItem(
            _("Administration"),
            "admin:index",
            frozenset({Role.ADMIN}),
            _("Användare, BVC, samverkansparter och referensdata."),
            order=900,
        ),
        NavItem(
            _("API-dokumentation"),
            "api-docs",
            frozenset({Role.ADMIN, Role.FINANCE, Role.CBHV}),
            _("Gränssnittet för journalsystem och ekonomiverktyg."),
            order=910,
        ),
    ):
        register_nav_item(item)
