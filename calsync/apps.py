from typing import Any

from django.apps import AppConfig
from django.db.models.signals import pre_delete


class CalsyncConfig(AppConfig):
    name = "calsync"
    verbose_name = "Calendar sync"

    def ready(self) -> None:
        # The practice calendar announces committed changes (agenda.hooks); sync pushes them to
        # the owner's linked calendars (feature 25 of docs/features.md). The agenda imports
        # nothing of calsync: this subscription is the only connection.
        from agenda import hooks
        from calsync.scheduler import push_for_owner

        hooks.on_meetings_changed(push_for_owner)

        # The demo's Microsoft stand-in (calsync/standins.py); only the development settings
        # define the switch, and production refuses to start with it.
        from django.conf import settings

        standin = getattr(settings, "CALSYNC_MICROSOFT_LOGIN_STANDIN", "")
        if standin:
            from calsync.standins import mount_microsoft_login

            mount_microsoft_login(standin)

        from calsync.models import CalendarLink

        # Links are deleted only by cascades from their user or tenant, which bypass the
        # services; the receiver only stops the link's push channels (calsync/push.py).
        pre_delete.connect(_link_deleted, sender=CalendarLink, dispatch_uid="calsync-push-stop")


def _link_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    from calsync.push import before_link_deleted

    before_link_deleted(instance)
