from django.urls import path

from booking import checkout

app_name = "booking"

urlpatterns = [
    path("", checkout.checkout, name="checkout"),
    path("status/<str:token>/", checkout.status, name="status"),
]
