from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Organisation och behörigheter"

    def ready(self) -> None:
        from config.celery import announce_eager_mode

        announce_eager_mode()
