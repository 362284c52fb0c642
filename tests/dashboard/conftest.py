"""Users and processes for the dashboard's tests."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.test import Client

from booking.demo import trip_steps
from orchestrator.definitions import definition_save
from orchestrator.engine.types import RetryPolicy
from orchestrator.status import OnExhausted
from tests.support.bookings import FRAGILE_TRIP
from tests.support.people import OPERATOR_PERMISSIONS, READ_PERMISSIONS, user_with


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
    definition_save(name=FRAGILE_TRIP, version=1, description="", steps=steps, activate=True)
    return FRAGILE_TRIP
