"""What the operators' search box finds of a booking: its reference and the customer's e-mail.

(The codes the services issued, a PNR or a confirmation number, are business keys the engine
indexes for every service alike: orchestrator.keys.)"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from booking.models import Booking

# What a customer may read out, for the search box's hint (beside the services' business keys).
SEARCHED = ["reference", "e-mail"]


def booking_search(q: str) -> list[QuerySet[Any]]:
    """The ids of the processes of the bookings that match, one indexed lookup
    (orchestrator.selectors.search_register). References are upper case, as they are drawn; the
    e-mail is compared as typed in any case."""
    return [Booking.objects.filter(Q(reference=q.upper()) | Q(customer_email__iexact=q)).values("process_id")]
