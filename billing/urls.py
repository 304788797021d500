from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("", views.integrations, name="integrations"),
    path("calendar-sync/buy/", views.buy, name="buy"),
    path("calendar-sync/activate/", views.activate, name="activate"),
    path("calendar-sync/<int:pk>/cancel/", views.cancel, name="cancel"),
]
