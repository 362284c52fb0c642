"""The services' Celery tasks, one per declared command, each on its service's queue."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from booking.providers import notifications, payments, reservations
from booking.providers.batches import commands_take
from booking.providers.runner import Handler

# Each command task's service and handler, by task name: a batch runs whichever it takes.
HANDLERS: dict[str, tuple[str, Handler]] = {}


def _task(name: str, service: str, handler: Handler) -> Any:
    HANDLERS[name] = (service, handler)

    def run(self: Any, body: Any) -> None:
        delivery = self.request.delivery_info or {}
        commands_take(name, body, queue=delivery.get("routing_key"), handlers=HANDLERS)

    run.__name__ = name.replace(".", "_")
    run.__doc__ = f"The {name} command, with those waiting behind it (booking.providers.batches)."
    return shared_task(name=name, bind=True)(run)


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
