"""Record real process histories as fixtures for the replay guard (test_replay_guard.py).

Each scenario drives one process through the database shell, exactly as services and operators
do: `process_start`, replies through `reply_take`, `operator_act`, and `timers_fire` with an
explicit `now`. The fixture keeps what a later version of `decide` must reproduce from the
history alone: the final snapshot and every command the outbox holds.

Re-record after a deliberate change of the rules (and a raised RULES_VERSION) with

    python -m tests.orchestrator.record_histories

It works in a throwaway database of its own (`replay_record`, created beside the configured
one and dropped afterwards), so the configured database's data is never read or changed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import django
from django.apps import apps

if not apps.ready:  # run as a script: nothing has set Django up yet (pytest has, for the guard)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()

from django.db import connection
from django.utils import timezone

from booking.demo import demo_workflows_load, trip_steps
from orchestrator import signals
from orchestrator.definitions import definition_for_run, definition_save
from orchestrator.engine.codec import state_from_json, state_to_json
from orchestrator.engine.types import ACTION, COMPENSATION, Definition, Event, StepSpec
from orchestrator.messages import CommandMessage, command_parse, reply_envelope
from orchestrator.models import HistoryEntry, Outbox, ProcessInstance
from orchestrator.processes import operator_act, process_start, timers_fire
from orchestrator.selectors import event_of
from orchestrator.status import OnExhausted, ProcessStatus
from orchestrator.workflow_io import WorkflowsFile, _spec, workflows_export
from tests.support.engine import last_command, reply_take, trip_input
from tests.support.people import an_operator

FOLDER = Path(__file__).with_name("histories")
DATABASE_NAME = "replay_record"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# Outputs a real service would return, so that the commands' payloads carry a realistic context.
OUTPUTS: dict[str, dict[str, Any]] = {
    "payments.charge": {"payment_id": "pay_4711", "amount": "420.00", "currency": "EUR"},
    "payments.refund": {"refund_id": "ref_4711", "amount": "420.00", "currency": "EUR"},
    "flights.book": {"pnr": "QX7K2P", "flight": "AF006 CDG-JFK"},
    "flights.cancel": {"cancelled": True, "reference": "QX7K2P"},
    "hotels.book": {"confirmation": "HTL-58213", "hotel": "Grand Hotel"},
    "hotels.cancel": {"cancelled": True, "reference": "HTL-58213"},
    "cars.book": {"confirmation": "CAR-90412", "car": "Compact car at JFK"},
    "cars.cancel": {"cancelled": True, "reference": "CAR-90412"},
    "notifications.send": {"notification_id": "ntf_1", "to": "ada@example.com", "subject": "Your trip"},
}


# --- reading a fixture (shared with the guard) --------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One recorded history, as the replay guard reads it back."""

    name: str
    definition: Definition
    process_id: str
    events: list[Event]
    snapshot: dict[str, Any]
    # The stored snapshot after each step of the scenario: the final one alone hides rules whose
    # effects end with the process (deadlines, backoff delays).
    snapshots: list[dict[str, Any]]
    commands: list[dict[str, Any]]


def fixture_paths() -> list[Path]:
    return sorted(FOLDER.glob("*.json"))


def definition_from_export(document: dict[str, Any]) -> Definition:
    """The Definition of a one-workflow export, read the way `workflows_import` reads a file."""
    (workflow,) = WorkflowsFile.model_validate(document).workflows
    return Definition(workflow.name, workflow.version, tuple(_spec(step) for step in workflow.steps))


def event_from_json(data: dict[str, Any]) -> Event:
    return Event(
        type=data["type"],
        at=datetime.fromisoformat(data["at"]),
        message_id=data["message_id"],
        step=data["step"],
        attempt=data["attempt"],
        payload=data["payload"],
        actor=data["actor"],
        reason=data["reason"],
    )


def as_read_now(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A stored snapshot as today's codec reads it: a status's former name ("failed" for
    "waiting") is the same fact, spelled as it was."""
    return state_to_json(state_from_json(snapshot))


def fixture_read(path: Path) -> Recorded:
    data = json.loads(path.read_text())
    return Recorded(
        name=path.stem,
        definition=definition_from_export(data["workflow"]),
        process_id=data["process_id"],
        events=[event_from_json(event) for event in data["events"]],
        snapshot=as_read_now(data["snapshot"]),
        snapshots=[as_read_now(snapshot) for snapshot in data["snapshots"]],
        commands=data["commands"],
    )


# --- writing a fixture ---------------------------------------------------------------------------


def event_to_json(event: Event, note: str) -> dict[str, Any]:
    return {
        "type": event.type,
        "at": event.at.isoformat(),
        "message_id": event.message_id,
        "step": event.step,
        "attempt": event.attempt,
        "payload": event.payload,
        "actor": event.actor,
        "reason": event.reason,
        # What the engine made of the event when it happened: for readers, the guard ignores it.
        "note": note,
    }


def command_to_json(command: CommandMessage) -> dict[str, Any]:
    return {
        "message_id": command.message_id,
        "name": command.command,
        "step": command.step,
        "kind": command.kind,
        "attempt": command.attempt,
        "idempotency_key": command.idempotency_key,
        "payload": command.payload,
    }


def fixture_write(name: str, summary: str, run: Run) -> Path:
    process = run.process
    process.refresh_from_db()
    workflow = json.loads(workflows_export([process.definition]))
    # The export must carry everything the engine runs on, or the guard would replay another workflow.
    if definition_from_export(workflow) != definition_for_run(process.definition):
        raise AssertionError(f"{name}: the exported workflow does not rebuild the definition it ran on")
    rows = HistoryEntry.objects.filter(process=process).order_by("seq")
    outbox = Outbox.objects.filter(process=process).order_by("id")
    data = {
        "scenario": summary,
        "workflow": workflow,
        "process_id": str(process.pk),
        "events": [event_to_json(event_of(row), row.note) for row in rows],
        "snapshot": process.state,
        "snapshots": run.snapshots,
        "commands": [command_to_json(command_parse(row.body)) for row in outbox],
    }
    path = FOLDER / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


# --- driving a process -----------------------------------------------------------------------------


class Clock:
    """What `timezone.now()` returns while recording: it moves only when a scenario says so, so
    that the recorded times read like a story and timers fire at the `now` passed to them."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Run:
    """One process under way, driven through the shell's entry points."""

    clock: Clock
    process: ProcessInstance
    snapshots: list[dict[str, Any]] = field(default_factory=list)

    def keep(self) -> None:
        """Keep the snapshot stored now, once per state of the history."""
        self.process.refresh_from_db()
        if not self.snapshots or self.snapshots[-1]["seq"] != self.process.state["seq"]:
            self.snapshots.append(self.process.state)

    def command(self, step: str, *, kind: str = ACTION, attempt: int | None = None) -> CommandMessage:
        """The latest command sent for `step` (of `kind`, and `attempt` when given)."""
        return last_command(self.process, step, kind=kind, attempt=attempt)

    def reply(
        self,
        step: str,
        *,
        kind: str = ACTION,
        attempt: int | None = None,
        succeeded: bool = True,
        business: bool = False,
        error: str = "",
    ) -> None:
        """Answer the step's command as its service would, a second after the previous event."""
        command = self.command(step, kind=kind, attempt=attempt)
        self.clock.advance(1)
        body = reply_envelope(
            command,
            succeeded=succeeded,
            output=OUTPUTS[command.command] if succeeded else None,
            error=error or ("" if succeeded else "service unavailable"),
            business=business,
        )
        outcome = reply_take(body)
        if outcome.status != "applied":
            raise AssertionError(f"reply to {command.message_id} was not applied: {outcome}")
        self.keep()

    def tick(self, seconds: float) -> None:
        """Let `seconds` pass and fire the timers due by then, as the periodic tick would."""
        timers_fire(now=self.clock.advance(seconds))
        self.keep()

    def act(
        self, action: str, reason: str, *, step: str | None = None, output: dict[str, Any] | None = None
    ) -> None:
        self.clock.advance(1)
        operator_act(
            process_id=str(self.process.pk),
            action=action,
            user=an_operator("ops"),
            reason=reason,
            step=step,
            output=output,
        )
        self.keep()

    def expect(self, status: ProcessStatus) -> None:
        self.process.refresh_from_db()
        if self.process.status != status:
            raise AssertionError(f"{self.process.business_key}: {self.process.status}, expected {status}")


def started(clock: Clock, workflow: str, reference: str) -> Run:
    process, created = process_start(
        workflow=workflow, business_key=reference, input=trip_input(reference), actor="shop"
    )
    if not created:
        raise AssertionError(f"{reference} already exists: the recording database is not fresh")
    run = Run(clock, process)
    run.keep()
    return run


# --- workflows beside the demo ones ------------------------------------------------------------------

PATIENT = "trip-booking-patient"
WITH_CAR = "trip-booking-car"


def patient_steps() -> list[StepSpec]:
    """The demo trip, but every step waits for an operator after two attempts: operators get work."""
    return [
        replace(spec, retry=replace(spec.retry, max_attempts=2), on_exhausted=OnExhausted.PAUSE)
        for spec in trip_steps(parallel=False)
    ]


def car_steps() -> list[StepSpec]:
    """The parallel demo trip with a car rented beside flight and hotel, joined before the e-mail."""
    steps = trip_steps(parallel=True)
    hotel = next(spec for spec in steps if spec.key == "hotel")
    car = replace(hotel, key="car", command="cars.book", compensation="cars.cancel")
    joined = [
        replace(spec, depends_on=(*spec.depends_on, "car")) if spec.key == "notify" else spec
        for spec in steps
    ]
    return [*joined[:3], car, *joined[3:]]


def workflows_load() -> None:
    demo_workflows_load()
    definition_save(
        name=PATIENT,
        version=1,
        description="Operators decide after two attempts.",
        steps=patient_steps(),
        activate=True,
    )
    definition_save(
        name=WITH_CAR,
        version=1,
        description="Payment, then flight, hotel and car at once, then the e-mail.",
        steps=car_steps(),
        activate=True,
    )


# --- the scenarios ---------------------------------------------------------------------------------


def trip_completes(clock: Clock) -> Run:
    run = started(clock, "trip-booking", "TRP-REPLAY-OK")
    for step in ("payment", "flight", "hotel", "notify"):
        run.reply(step)
    run.expect(ProcessStatus.COMPLETED)
    return run


def hotel_refuses(clock: Clock) -> Run:
    run = started(clock, "trip-booking", "TRP-REPLAY-SOLDOUT")
    run.reply("payment")
    run.reply("flight")
    run.reply("hotel", succeeded=False, business=True, error="sold out")
    # Newest first: the flight, then the payment; then the customer hears of it.
    run.reply("flight", kind=COMPENSATION)
    run.reply("payment", kind=COMPENSATION)
    run.reply("notify_cancelled")
    run.expect(ProcessStatus.COMPENSATED)
    return run


def timeouts_and_retries(clock: Clock) -> Run:
    run = started(clock, "trip-booking", "TRP-REPLAY-SLOW")
    # The payment service never answers the first attempt: timeout, backoff, second attempt.
    run.tick(11)
    run.tick(1)
    run.reply("payment", attempt=2)
    # A technical failure of the flight, retried after its backoff.
    run.reply("flight", succeeded=False, error="gateway timeout")
    run.tick(1)
    run.reply("flight", attempt=2)
    # The hotel times out, is retried, and then the first attempt's success arrives late: it
    # settles the step, and the second attempt's answer changes nothing.
    run.tick(11)
    run.tick(1)
    run.reply("hotel", attempt=1)
    run.reply("hotel", attempt=2)
    run.reply("notify")
    run.expect(ProcessStatus.COMPLETED)
    return run


def compensation_retries(clock: Clock) -> Run:
    run = started(clock, "trip-booking", "TRP-REPLAY-REFUND")
    run.reply("payment")
    run.reply("flight", succeeded=False, business=True, error="no seats left")
    # The refund times out, is retried, is refused; an operator has it tried once more.
    run.tick(11)
    run.tick(1)
    run.reply("payment", kind=COMPENSATION, succeeded=False, business=True, error="refund limit reached")
    run.expect(ProcessStatus.WAITING)
    run.act("compensate", "limit raised by the bank")
    run.reply("payment", kind=COMPENSATION)
    run.reply("notify_cancelled")
    run.expect(ProcessStatus.COMPENSATED)
    return run


def operator_retries_skips_pauses(clock: Clock) -> Run:
    run = started(clock, PATIENT, "TRP-REPLAY-OPS")
    run.reply("payment")
    # Retried by hand while in backoff, then again once its budget is spent.
    run.reply("flight", succeeded=False)
    run.act("retry", "airline is back", step="flight")
    run.reply("flight", succeeded=False)
    run.expect(ProcessStatus.WAITING)
    run.act("retry", "airline is back for real")
    run.reply("flight")
    # The hotel fails twice; the operator books it by phone and skips the step with that booking,
    # which first undoes whatever the service did under the step's key.
    run.reply("hotel", succeeded=False)
    run.tick(1)
    run.reply("hotel", succeeded=False)
    run.expect(ProcessStatus.WAITING)
    run.act(
        "skip",
        "booked by phone",
        step="hotel",
        output={"confirmation": "PHONE-2231", "hotel": "Grand Hotel"},
    )
    run.reply("hotel", kind=COMPENSATION)
    # A pause holds the end of the process back until the resume.
    run.act("pause", "customer on the phone")
    run.reply("notify")
    run.expect(ProcessStatus.PAUSED)
    run.act("resume", "call over")
    run.expect(ProcessStatus.COMPLETED)
    return run


def operator_cancels(clock: Clock) -> Run:
    run = started(clock, PATIENT, "TRP-REPLAY-CANCEL")
    run.reply("payment")
    run.reply("flight")
    run.reply("hotel", succeeded=False)
    # Cancelled while the hotel waits to retry: it may have acted, so it is undone first.
    run.act("cancel", "customer changed plans")
    run.reply("hotel", kind=COMPENSATION)
    run.reply("flight", kind=COMPENSATION)
    run.reply("payment", kind=COMPENSATION)
    run.reply("notify_cancelled")
    run.expect(ProcessStatus.CANCELLED)
    return run


def car_refused(clock: Clock) -> Run:
    run = started(clock, WITH_CAR, "TRP-REPLAY-CAR")
    run.reply("payment")
    run.reply("flight")
    run.reply("car", succeeded=False, business=True, error="no cars left")
    # Compensation waits for the hotel still in flight, then undoes newest first.
    run.reply("hotel")
    run.reply("hotel", kind=COMPENSATION)
    run.reply("flight", kind=COMPENSATION)
    run.reply("payment", kind=COMPENSATION)
    run.reply("notify_cancelled")
    run.expect(ProcessStatus.COMPENSATED)
    return run


SCENARIOS: dict[str, tuple[str, Callable[[Clock], Run]]] = {
    "trip_completes": ("Every service answers yes: the trip completes.", trip_completes),
    "hotel_refuses": (
        "The hotel is sold out: flight and payment are undone, the customer told.",
        hotel_refuses,
    ),
    "timeouts_and_retries": (
        "Timeouts, backoff and a technical failure, retried; a late success settles the hotel.",
        timeouts_and_retries,
    ),
    "compensation_retries": (
        "The flight is refused; the refund times out, is retried, refused, and forced by an operator.",
        compensation_retries,
    ),
    "operator_retries_skips_pauses": (
        "An operator retries the flight twice, skips the hotel with a phone booking, pauses, resumes.",
        operator_retries_skips_pauses,
    ),
    "operator_cancels": (
        "An operator cancels while the hotel waits to retry: everything is undone.",
        operator_cancels,
    ),
    "car_refused": (
        "The car rental refuses while the hotel is in flight: the trip is undone once it answers.",
        car_refused,
    ),
}


# --- the recording session -------------------------------------------------------------------------


@contextmanager
def throwaway_database() -> Iterator[None]:
    """A fresh, migrated database used only by this recording, dropped at the end."""
    original = connection.settings_dict["NAME"]
    # Its own name, never the test suite's: a test run at the same time keeps its database.
    throwaway = DATABASE_NAME
    if connection.vendor == "sqlite":
        throwaway = str(Path(original).with_name(f"{DATABASE_NAME}.sqlite3"))
    connection.settings_dict.setdefault("TEST", {})["NAME"] = throwaway
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)


@contextmanager
def quiet_shell(clock: Clock) -> Iterator[None]:
    """The shell on the recording clock, with nothing leaving the process: commands stay in the
    outbox (no broker) and the dashboard gets no live hints."""
    from config.celery import app
    from orchestrator import publishing

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(timezone, "now", clock))
        stack.enter_context(mock.patch.object(app, "send_task", lambda *args, **kwargs: None))
        stack.enter_context(mock.patch.object(publishing, "tasks_publish", lambda *args, **kwargs: None))
        stack.enter_context(mock.patch.object(signals.process_changed, "send", lambda **kwargs: []))
        yield


def record_all() -> list[Path]:
    """Run every scenario in a throwaway database and write its fixture; returns the files."""
    FOLDER.mkdir(exist_ok=True)
    written = []
    clock = Clock(START)
    with throwaway_database(), quiet_shell(clock):
        workflows_load()
        for index, (name, (summary, scenario)) in enumerate(SCENARIOS.items()):
            clock.now = START + timedelta(hours=index)  # each story starts on the hour
            run = scenario(clock)
            written.append(fixture_write(name, summary, run))
    for stale in set(fixture_paths()) - set(written):  # a renamed or removed scenario
        stale.unlink()
    return written


def main() -> int:
    logging.getLogger("orchestrator").setLevel(logging.WARNING)
    for path in record_all():
        print(f"recorded {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
