from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Practices and users")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from accounts.signals import remember_browser_language

        user_logged_in.connect(remember_browser_language, dispatch_uid="accounts-browser-language")
