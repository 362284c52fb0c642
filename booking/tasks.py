"""The services' Celery tasks, one per declared command, each on its service's queue."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from booking.providers import notifications, payments, reservations
from booking.providers.runner import Handler, command_run


def _task(name: str, service: str, handler: Handler) -> Any:
    def run(body: Any) -> None:
        command_run(body, service=service, task_name=name, handler=handler)

    run.__name__ = name.replace(".", "_")
    run.__doc__ = f"The {name} command."
    return shared_task(name=name)(run)


charge = _task("payments.charge", "payments", payments.charge)
refund = _task("payments.refund", "payments", payments.refund)
book_flight = _task("flights.book", "flights", reservations.FLIGHTS.book)
cancel_flight = _task("flights.cancel", "flights", reservations.FLIGHTS.cancel)
book_hotel = _task("hotels.book", "hotels", reservations.HOTELS.book)
cancel_hotel = _task("hotels.cancel", "hotels", reservations.HOTELS.cancel)
send_notification = _task("notifications.send", "notifications", notifications.send)
book_car = _task("cars.book", "cars", reservations.CARS.book)
cancel_car = _task("cars.cancel", "cars", reservations.CARS.cancel)


@shared_task(name="booking.demo_traffic")
def demo_traffic() -> str | None:
    """Beat calls this every second; it starts a booking when the demo switch says one is due."""
    from booking.traffic import demo_traffic_step

    booking = demo_traffic_step()
    return booking.reference if booking else None
