from django.apps import AppConfig


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
