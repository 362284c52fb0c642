"""What the operators' search box finds of a trip: its reference, the customer's e-mail, the
payment id, the PNR and the hotel confirmation a customer reads out on the phone."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from booking.models import Booking
from orchestrator.models import ProcessInstance


def trip_search(q: str) -> list[QuerySet[Any]]:
    """The ids of the trips that match, one indexed lookup per table
    (orchestrator.selectors.search_register). References are upper case, as they are drawn; the
    e-mail is compared as typed in any case; the service codes are as the services issued them."""
    return [
        Booking.objects.filter(Q(reference=q.upper()) | Q(customer_email__iexact=q)).values("process_id"),
        ProcessInstance.objects.filter(
            Q(context__payment__payment_id=q)
            | Q(context__flight__pnr=q.upper())
            | Q(context__hotel__confirmation=q.upper())
        ).values("pk"),
    ]
