from django.apps import AppConfig


class BookingConfig(AppConfig):
    name = "booking"
    verbose_name = "Trip bookings"

    def ready(self) -> None:
        from booking import faults  # noqa: F401 (its signal: workers reread changed fault settings)
        from booking.admin import service_records_register
        from booking.search import SEARCHED, booking_search
        from booking.services.registry import services_load
        from orchestrator.selectors import search_register

        services_load()
        service_records_register()
        search_register(booking_search, finds=SEARCHED)
