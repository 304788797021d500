from django.apps import AppConfig


class AgendaConfig(AppConfig):
    name = "agenda"
    verbose_name = "Practice calendar"

    def ready(self) -> None:
        from agenda import checks  # noqa: F401  registers the system checks
