from django.contrib import admin
from django.urls import include, path

from api.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("book/", include("booking.urls")),
    path("", include("dashboard.urls")),
]

# The database being away answers 503 with Retry-After instead of 500.
handler500 = "config.http.server_error"
