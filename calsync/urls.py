from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from accounts.forms import AdminLoginForm
from agenda import settings_views
from calsync import views, webhooks

# The Django admin's login is throttled like the app's (per account and per client address).
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", account_views.home, name="home"),
    path("account/", include("accounts.urls")),
    path("account/calendarsync/", include("calsync.sync_urls")),
    path("calendar/", include("agenda.urls")),
    path("settings/", account_views.settings_home, name="settings"),
    path("settings/resources/", settings_views.resource_add, name="settings_resource_add"),
    path("settings/clients/", settings_views.client_add, name="settings_client_add"),
    path("settings/integrations/", include("billing.urls")),
    path("health/", views.health, name="health"),
    # The providers' push notifications (calsync/webhooks.py), under CALSYNC_PUBLIC_URL.
    path("push/google/", webhooks.google, name="push_google"),
    path("push/microsoft/", webhooks.microsoft, name="push_microsoft"),
    path("admin/", admin.site.urls),
]
