"""Trip bookings for the tests: one way to make them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from booking.bookings import booking_create
from booking.models import Booking

# The trip the tests book, as booking_create takes it...
TRIP: dict[str, Any] = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "itinerary": {"origin": "CDG", "destination": "JFK", "depart_on": "2027-01-10", "hotel": "Grand Hotel"},
    "amount": Decimal("420.00"),
    "currency": "EUR",
}
# ...and as an API client sends it.
API_TRIP: dict[str, Any] = {**TRIP, "amount": "420.00", "currency": "eur"}
# The trip where a step fails for good at its first technical failure and waits for an operator
# (the fixture `fragile_workflow` of tests/dashboard/conftest.py makes it).
FRAGILE_TRIP = "fragile-trip"
# The trip with 2 s step timeouts, so that recovery is quick to watch (the e2e `cluster` fixture).
FAST_TRIP = "trip-fast-timeouts"


def book(workflow: str, **overrides: Any) -> Booking:
    """Book the trip (with `overrides`) on `workflow`: its process starts at once."""
    return booking_create(workflow=workflow, **{**TRIP, **overrides})


def book_many(count: int, workflow: str, **overrides: Any) -> list[Booking]:
    return [book(workflow, **overrides) for _ in range(count)]


def statuses(bookings: list[Booking]) -> set[str]:
    rows = Booking.objects.filter(pk__in=[b.pk for b in bookings]).values_list("process__status", flat=True)
    return {status for status in rows if status}
