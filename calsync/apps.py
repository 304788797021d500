from django.apps import AppConfig


class CalsyncConfig(AppConfig):
    name = "calsync"
    verbose_name = "Calendar sync"
