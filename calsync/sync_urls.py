"""URLs of *My Account > CalendarSync* (included under /account/calendarsync/)."""

from django.urls import path

from calsync import history_views, views

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
    path("version/", views.calendar_version, name="calendar_version"),
    # The sync history's answers (calsync/history_views.py, issue 16 §2).
    path("<int:pk>/undo-last-run/", history_views.undo_last_run, name="undo_last_run"),
    path("changes/<int:pk>/undo/", history_views.change_undo, name="change_undo"),
    path("changes/<int:pk>/keep/", history_views.conflict_keep, name="conflict_keep"),
    path("changes/<int:pk>/take/", history_views.conflict_take, name="conflict_take"),
    path("messages/<int:pk>/convert/", history_views.message_convert, name="message_convert"),
]
