"""A trip whose payment waits for the bank's word: the signals and the wait step tests share."""

from __future__ import annotations

from dataclasses import replace

from booking.demo import trip_steps
from orchestrator.definitions import definition_save
from orchestrator.engine.types import EarlySignal, SignalSpec, StepSpec, WaitKind, WaitSpec

CONFIRMED = SignalSpec(
    "payment_confirmed",
    schema={
        "type": "object",
        "properties": {"authorisation": {"type": "string", "minLength": 1}},
        "required": ["authorisation"],
    },
)
DECLINED = SignalSpec("payment_declined", early=EarlySignal.REFUSE)
BANK = StepSpec(
    key="bank",
    command="",
    depends_on=("payment",),
    timeout=600,
    wait=WaitSpec(WaitKind.SIGNAL, signals=("payment_confirmed",), fail_on=("payment_declined",)),
)


def bank_trip_save() -> None:
    """Save and activate "bank-trip": payment, then the bank's word, then the rest of the trip."""
    payment, flight, *rest = trip_steps(parallel=False)
    steps = [payment, BANK, replace(flight, depends_on=("bank",)), *rest]
    definition_save(
        name="bank-trip", version=1, description="", steps=steps, signals=(CONFIRMED, DECLINED), activate=True
    )
