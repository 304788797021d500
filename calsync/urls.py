from django.contrib import admin
from django.urls import include, path

from accounts import people_views
from accounts import views as account_views
from accounts.forms import AdminLoginForm
from agenda import settings_views
from billing import views as billing_views
from calsync import metrics, privacy_views, views, webhooks

# The Django admin's login is throttled like the app's (per account and per client address).
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", account_views.home, name="home"),
    path("account/", include("accounts.urls")),
    path("account/calendarsync/", include("calsync.sync_urls")),
    path("calendar/", include("agenda.urls")),
    path("settings/", account_views.settings_home, name="settings"),
    path("welcome/", account_views.welcome, name="welcome"),
    path("settings/people/", people_views.people_page, name="settings_people"),
    path(
        "settings/people/invitations/<int:pk>/resend/",
        people_views.invitation_resend,
        name="settings_invitation_resend",
    ),
    path(
        "settings/people/invitations/<int:pk>/cancel/",
        people_views.invitation_cancel,
        name="settings_invitation_cancel",
    ),
    path("settings/people/<int:pk>/role/", people_views.person_role, name="settings_person_role"),
    path(
        "settings/people/<int:pk>/deactivate/",
        people_views.person_deactivate,
        name="settings_person_deactivate",
    ),
    path(
        "settings/people/<int:pk>/reactivate/",
        people_views.person_reactivate,
        name="settings_person_reactivate",
    ),
    path("settings/resources/", settings_views.resource_add, name="settings_resource_add"),
    path("settings/clients/", settings_views.client_add, name="settings_client_add"),
    path("settings/integrations/", include("billing.urls")),
    path("settings/privacy/", privacy_views.settings_privacy, name="settings_privacy"),
    path("billing/stripe/webhook/", billing_views.stripe_webhook, name="stripe_webhook"),
    path("health/", views.health, name="health"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # The providers' push notifications (calsync/webhooks.py), under CALSYNC_PUBLIC_URL.
    path("push/google/", webhooks.google, name="push_google"),
    path("push/microsoft/", webhooks.microsoft, name="push_microsoft"),
    path("admin/", admin.site.urls),
]
