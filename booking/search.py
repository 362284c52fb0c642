"""What the operators' search box finds of a trip: its reference, the customer's e-mail, the
payment id, the PNR and the hotel confirmation a customer reads out on the phone."""

from __future__ import annotations

from django.db.models import Q


def trip_search(q: str) -> Q:
    """A condition on processes (orchestrator.selectors.search_register)."""
    return (
        Q(booking__reference__iexact=q)
        | Q(booking__customer_email__iexact=q)
        | Q(context__payment__payment_id=q)
        | Q(context__flight__pnr=q.upper())
        | Q(context__hotel__confirmation=q.upper())
    )
