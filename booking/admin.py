"""Bookings and the services' records in the admin: read-only, since only the services write them;
fault settings and the demo traffic switch are the things to change here."""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString

from booking.models import Booking, DemoTraffic, Refund, Reservation, ServiceFaults
from booking.services.registry import services_all
from orchestrator.admin.common import ReadOnlyAdmin, dashboard_link


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    list_display = [
        "reference",
        "customer_name",
        "customer_email",
        "amount",
        "currency",
        "workflow",
        "created_at",
        "dashboard",
    ]
    search_fields = ["reference", "customer_email", "customer_name", "=process__id"]
    list_filter = ["workflow", "currency"]

    @admin.display(description="")
    def dashboard(self, obj: Booking) -> SafeString | str:
        return dashboard_link(obj.process_id) if obj.process_id else ""


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


@admin.register(DemoTraffic)
class DemoTrafficAdmin(admin.ModelAdmin):
    list_display = ["__str__", "enabled", "every_seconds", "last_booking_at"]


class ServiceRecordAdmin(ReadOnlyAdmin):
    list_display = ["key", "booking_reference", "status", "created_at"]
    search_fields = ["key", "booking_reference", "=process_id"]
    list_filter = ["status"]


class ReservationAdmin(ServiceRecordAdmin):
    list_display = ["key", "service", "code", "details", "booking_reference", "status", "created_at"]
    search_fields = ["key", "code", "booking_reference", "=process_id"]
    list_filter = ["service", "status"]


class RefundAdmin(ReadOnlyAdmin):
    list_display = ["refund_id", "amount", "currency", "charge", "created_at"]
    search_fields = ["refund_id", "charge__booking_reference"]


_ADMINS: dict[type, type[admin.ModelAdmin]] = {Reservation: ReservationAdmin, Refund: RefundAdmin}


def service_records_register() -> None:
    """List the records every declared service keeps, read-only (a table several services share
    is listed once). Called once the services are loaded (booking's AppConfig.ready)."""
    for model in dict.fromkeys(model for service in services_all() for model in service.records):
        if not admin.site.is_registered(model):
            admin.site.register(model, _ADMINS.get(model, ServiceRecordAdmin))
