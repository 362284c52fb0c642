"""Users and processes for the dashboard's tests."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from booking.bookings import booking_create
from booking.demo import trip_steps
from booking.models import Booking
from orchestrator.definitions import definition_save
from orchestrator.engine.types import RetryPolicy
from orchestrator.status import OnExhausted

# What every dashboard page needs, and what the booking card and the ledger need.
READ_PERMISSIONS = ["view_processinstance", "view_booking", "view_servicefaults"]
OPERATOR_PERMISSIONS = [
    *READ_PERMISSIONS,
    "retry_step",
    "skip_step",
    "cancel_process",
    "compensate_process",
    "pause_process",
    "bulk_act",
    "change_servicefaults",
]


def user_with(username: str, *, staff: bool = True, permissions: list[str] | None = None) -> Client:
    user = get_user_model().objects.create_user(username=username, password="pw-123456789", is_staff=staff)
    if permissions:
        user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator(db: None) -> Client:
    return user_with("olga", permissions=OPERATOR_PERMISSIONS)


@pytest.fixture
def viewer(db: None) -> Client:
    """Staff who may read processes and bookings, but change nothing."""
    return user_with("victor", permissions=READ_PERMISSIONS)


@pytest.fixture
def fragile_workflow(db: None) -> str:
    """The trip, where a step fails for good at its first technical failure and waits for an operator."""
    steps = [
        replace(spec, retry=RetryPolicy(max_attempts=1), on_exhausted=OnExhausted.PAUSE)
        for spec in trip_steps(parallel=False)
    ]
    definition_save(name="fragile-trip", version=1, description="", steps=steps, activate=True)
    return "fragile-trip"


def book(workflow: str = "fragile-trip", **overrides: object) -> Booking:
    fields: dict[str, object] = {
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "itinerary": {
            "origin": "CDG",
            "destination": "JFK",
            "depart_on": "2027-01-10",
            "hotel": "Grand Hotel",
        },
        "amount": Decimal("420.00"),
        "currency": "EUR",
        **overrides,
    }
    return booking_create(workflow=workflow, **fields)  # type: ignore[arg-type]
