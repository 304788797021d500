from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("", views.integrations, name="integrations"),
    path("calendar-sync/buy/", views.buy, name="buy"),
    path("calendar-sync/activate/", views.activate, name="activate"),
    path("calendar-sync/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("credits/", views.credits, name="credits"),
    path("credits/buy/", views.credits_buy, name="credits_buy"),
    path("credits/return/", views.credits_return, name="credits_return"),
    path("credits/cancelled/", views.credits_cancelled, name="credits_cancelled"),
]
