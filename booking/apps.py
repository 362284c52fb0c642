from django.apps import AppConfig


class BookingConfig(AppConfig):
    name = "booking"
    verbose_name = "Trip bookings"

    def ready(self) -> None:
        from booking import faults  # noqa: F401 (its signal: workers reread changed fault settings)
        from booking.commands import commands_register
        from booking.search import trip_search
        from orchestrator.selectors import search_register

        commands_register()
        search_register(trip_search)
