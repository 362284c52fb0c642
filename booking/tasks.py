"""The booking app's own Celery task. The services' command tasks are made by the registry, one
per declared command (booking.services.registry)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="booking.demo_traffic")
def demo_traffic() -> str | None:
    """Beat calls this every second; it starts a booking when the demo switch says one is due."""
    from booking.traffic import demo_traffic_step

    booking = demo_traffic_step()
    return booking.reference if booking else None
