from typing import Any

from django.apps import AppConfig
from django.db.models.signals import pre_delete


class CalsyncConfig(AppConfig):
    name = "calsync"
    verbose_name = "Calendar sync"

    def ready(self) -> None:
        from calsync.models import CalendarLink

        # Links are deleted only by cascades from their user or tenant, which bypass the
        # services; the receiver only stops the link's push channels (calsync/push.py).
        pre_delete.connect(_link_deleted, sender=CalendarLink, dispatch_uid="calsync-push-stop")


def _link_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    from calsync.push import before_link_deleted

    before_link_deleted(instance)
