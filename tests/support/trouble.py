"""A trip whose steps retry, and helpers to make a booking fail: for the tests of trouble on lists."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from booking.demo import trip_steps
from orchestrator.definitions import definition_save
from orchestrator.engine.types import RetryPolicy
from orchestrator.models import ProcessInstance
from orchestrator.processes import timers_fire
from orchestrator.status import OnExhausted
from tests.support.bookings import book
from tests.support.engine import answer, last_command

PATIENT = "patient-trip"


@pytest.fixture
def patient_workflow(db: None) -> str:
    """The trip, where a step gets four attempts 5 s apart (within the others' 30 s timeout),
    then waits for an operator."""
    steps = [
        replace(
            spec,
            retry=RetryPolicy(max_attempts=4, initial_delay=5, multiplier=1, max_delay=5),
            on_exhausted=OnExhausted.PAUSE,
        )
        for spec in trip_steps(parallel=False)
    ]
    definition_save(name=PATIENT, version=1, description="", steps=steps, activate=True)
    return PATIENT


def started() -> ProcessInstance:
    process = book(PATIENT).process
    assert process is not None
    return process


def fail_payment(process: ProcessInstance, times: int) -> ProcessInstance:
    """Fail the payment `times` times, firing each retry when it is due (which fires the other
    processes' due timers too)."""
    for n in range(times):
        if n:
            process.refresh_from_db()
            assert process.wake_at is not None
            timers_fire(now=process.wake_at + timedelta(milliseconds=1))
        answer(last_command(process, "payment"), succeeded=False)
    process.refresh_from_db()
    return process
