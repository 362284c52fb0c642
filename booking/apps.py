from django.apps import AppConfig


class BookingConfig(AppConfig):
    name = "booking"
    verbose_name = "Trip bookings"

    def ready(self) -> None:
        from booking.commands import commands_register

        commands_register()
