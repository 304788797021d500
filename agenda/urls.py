from django.urls import path

from agenda import views

app_name = "agenda"

urlpatterns = [
    path("", views.week, name="week"),
    path("meetings/new/", views.meeting_new, name="meeting_new"),
    path("meetings/<int:pk>/", views.meeting_detail, name="meeting"),
    path("meetings/<int:pk>/edit/", views.meeting_edit, name="meeting_edit"),
    path("meetings/<int:pk>/delete/", views.meeting_remove, name="meeting_delete"),
    path("meetings/<int:pk>/split/", views.meeting_split, name="meeting_split"),
    path("meetings/<int:pk>/respond/", views.meeting_respond, name="meeting_respond"),
]
