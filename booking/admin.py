from __future__ import annotations

from django.contrib import admin

from booking.models import (
    Booking,
    Charge,
    FlightReservation,
    HotelReservation,
    Notification,
    Refund,
    ServiceFaults,
)


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "customer_name",
        "customer_email",
        "amount",
        "currency",
        "workflow",
        "created_at",
    ]
    search_fields = ["reference", "customer_email", "customer_name"]
    readonly_fields = ["process"]


@admin.register(ServiceFaults)
class ServiceFaultsAdmin(admin.ModelAdmin):
    list_display = [
        "service",
        "technical_rate",
        "business_rate",
        "latency_ms",
        "outage",
        "seed",
        "updated_at",
    ]
    list_editable = ["technical_rate", "business_rate", "latency_ms", "outage"]


for model in (Charge, Refund, FlightReservation, HotelReservation, Notification):
    admin.site.register(model)
