"""URLs of *My Account > CalendarSync* (included under /account/calendarsync/)."""

from django.urls import path

from calsync import privacy_views, views

app_name = "calsync"

urlpatterns = [
    path("", views.calendarsync, name="calendarsync"),
    path("caldav/", views.setup_caldav, name="setup_caldav"),
    path("caldav/choose/", views.setup_caldav_choose, name="setup_caldav_choose"),
    path("google/", views.setup_google, name="setup_google"),
    path("google/callback/", views.google_callback, name="google_callback"),
    path("microsoft/", views.setup_microsoft, name="setup_microsoft"),
    path("microsoft/callback/", views.microsoft_callback, name="microsoft_callback"),
    path("<int:pk>/revoke/", views.revoke, name="revoke"),
    path("<int:pk>/sync/", views.sync_now, name="sync_now"),
    path("<int:pk>/status/", views.sync_status, name="sync_status"),
    path("<int:pk>/allow-deletions/", views.allow_deletions, name="allow_deletions"),
    path("<int:pk>/privacy/", privacy_views.link_privacy, name="link_privacy"),
    path("version/", views.calendar_version, name="calendar_version"),
]
