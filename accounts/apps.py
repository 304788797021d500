from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Practices and users"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from accounts.signals import remember_browser_language

        user_logged_in.connect(remember_browser_language, dispatch_uid="accounts-browser-language")
