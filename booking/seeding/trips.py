"""Trips rehearsed through the engine's rules, with what the services did: what `seed_history`
stamps out.

A trip is driven like the real thing: the engine decides (orchestrator.rehearsals), each command
meets a fate drawn from a fault profile (answered, failed technically, refused, lost, answered
after its timeout), the tick fires due timers a moment after they are due, and an operator steps
in where a scenario says so. Everything that differs between two bookings (process id, reference,
customer, itinerary, service codes, reply ids) is a placeholder `@@NAME@@`, and every time is an
offset from `T0`: booking/seeding/templates.py turns both into format fields.
"""

from __future__ import annotations

import enum
import heapq
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from booking.models import Charge, Notification, Reservation
from booking.providers.notifications import booked_lines, message_text
from booking.trip import route_of, stay_of
from orchestrator.actions import ActionName, ActionNotAllowed
from orchestrator.engine.types import ACTION, COMPENSATION, Command, Definition, Event, EventType, State
from orchestrator.previews import operator_event
from orchestrator.rehearsals import Rehearsal
from orchestrator.status import ProcessStatus, StepStatus

T0 = datetime(2000, 1, 1, tzinfo=UTC)
PROCESS_ID = "5eed0000-0000-4000-8000-000000000000"


def placeholder(name: str) -> str:
    return f"@@{name}@@"


def itinerary_placeholder(field: str) -> str:
    """The placeholder of an itinerary field (stamped with booking.trip.itinerary_random's)."""
    return placeholder(f"ITINERARY_{field.upper()}")


ITINERARY = {field: itinerary_placeholder(field) for field in ("origin", "destination", "depart_on", "hotel")}
TRIP_INPUT: dict[str, Any] = {
    "booking_id": placeholder("BOOKING_ID"),
    "reference": placeholder("REFERENCE"),
    "customer_name": placeholder("NAME"),
    "customer_email": placeholder("EMAIL"),
    "amount": placeholder("AMOUNT"),
    "currency": placeholder("CURRENCY"),
    "itinerary": ITINERARY,
}
OPERATORS = ["olga", "victor", "amara", "jonas", "mei"]

# The trip's reserving services in a rehearsal: the fields of their output (code, what was
# booked) and what was booked, and how the code each issues is drawn when a copy is stamped out
# (prefix, length, alphabet) under the placeholder CODE_<SERVICE>.
RESERVING: dict[str, tuple[str, str, str]] = {
    "flights": ("pnr", "flight", route_of(ITINERARY)),
    "hotels": ("confirmation", "hotel", stay_of(ITINERARY)),
    "cars": ("confirmation", "car", f"Compact car at {ITINERARY['destination']}"),
}
CODES: dict[str, tuple[str, int, str]] = {
    "PAYMENT_ID": ("pay_", 12, string.ascii_uppercase + string.digits),
    "REFUND_ID": ("re_", 12, string.ascii_uppercase + string.digits),
    "CODE_FLIGHTS": ("", 6, string.ascii_uppercase + string.digits),
    "CODE_HOTELS": ("H", 7, string.digits),
    "CODE_CARS": ("C", 7, string.digits),
}


class Fate(enum.Enum):
    """What happens to one command at its service."""

    ANSWERED = "answered"  # done, answered in time
    TECHNICAL = "technical"  # failed before doing anything, answered at once
    REFUSED = "refused"  # a business failure: declined, sold out
    LOST = "lost"  # taken and never answered (a crashed worker): the step times out
    LATE = "late"  # done, answered after the step had timed out


@dataclass
class FaultProfile:
    """The fates of commands: fixed ones by (step, kind, attempt), the rest drawn."""

    technical: float = 0.17
    lost: float = 0.03
    late: float = 0.03
    compensation_technical: float = 0.1
    refusing_step: str | None = None  # the first attempt it handles is refused
    fixed: dict[tuple[str, str, int], Fate] = field(default_factory=dict)

    def fate(self, rng: random.Random, command: Command) -> Fate:
        if (command.step, command.kind, command.attempt) in self.fixed:
            return self.fixed[(command.step, command.kind, command.attempt)]
        draw = rng.random()
        if command.kind != ACTION:
            return Fate.TECHNICAL if draw < self.compensation_technical else Fate.ANSWERED
        if draw < self.technical:
            return Fate.TECHNICAL
        if draw < self.technical + self.lost:
            return Fate.LOST
        if command.step == self.refusing_step:
            return Fate.REFUSED
        if draw < self.technical + self.lost + self.late:
            return Fate.LATE
        return Fate.ANSWERED


@dataclass
class ServiceRecord:
    """What one service holds under one step's idempotency key (booking.models)."""

    service: str
    step: str
    status: str  # the model's Status value
    created: float  # seconds after T0
    updated: float
    undone: float | None = None  # refunded or cancelled then
    template: str = ""  # an e-mail's: confirmed or cancelled
    subject: str = ""  # an e-mail's, as sent
    body: str = ""
    details: str = ""  # a reservation's: what was booked

    @property
    def table(self) -> str:
        """Where the record is kept: charges, reservations or notifications (templates.TABLES)."""
        return {"payments": "charges", "notifications": "notifications"}.get(self.service, "reservations")


class ServiceWorld:
    """The services' records, changed as they handle commands (one record per step's key)."""

    def __init__(self) -> None:
        self.records: dict[str, ServiceRecord] = {}

    def handle(self, command: Command, fate: Fate, at: float) -> tuple[bool, dict[str, Any], str]:
        """(succeeded, output, error) of a command the service took, after acting on it."""
        service = command.name.split(".")[0]
        if fate == Fate.TECHNICAL:
            return False, {}, f"{service} failed technically (injected fault)"
        record = self.records.get(command.step)
        if command.kind != ACTION:
            return True, self._undo(service, command.step, record, at), ""
        if record is None:
            record = self.records[command.step] = self._first(service, command, fate, at)
        if record.status in (Charge.Status.DECLINED, Reservation.Status.REFUSED):
            return False, {}, {"payments": "card declined"}.get(service, f"{service[:-1]} sold out")
        return True, _output(service, command.step, record), ""

    def _first(self, service: str, command: Command, fate: Fate, at: float) -> ServiceRecord:
        refused = fate == Fate.REFUSED
        if service == "payments":
            status = Charge.Status.DECLINED if refused else Charge.Status.CHARGED
            return ServiceRecord(service, command.step, status, at, at)
        if service == "notifications":
            template = str(command.payload.get("params", {}).get("template", "confirmed"))
            subject, body = message_text(
                template,
                {
                    "reference": placeholder("REFERENCE"),
                    "name": placeholder("NAME"),
                    "booked": booked_lines(command.payload.get("context", {})),
                    "amount": placeholder("AMOUNT"),
                    "currency": placeholder("CURRENCY"),
                },
            )
            return ServiceRecord(
                service,
                command.step,
                Notification.Status.SENT,
                at,
                at,
                template=template,
                subject=subject,
                body=body,
            )
        booked = Reservation.Status.REFUSED if refused else Reservation.Status.BOOKED
        return ServiceRecord(service, command.step, booked, at, at, details=RESERVING[service][2])

    def _undo(self, service: str, step: str, record: ServiceRecord | None, at: float) -> dict[str, Any]:
        if record is None:  # nothing was done: void the key, so that a late copy is refused
            voided = Charge.Status.VOIDED if service == "payments" else Reservation.Status.VOIDED
            self.records[step] = ServiceRecord(service, step, voided, at, at)
            return _undo_output(service, step, done=False)
        if record.status in (Charge.Status.CHARGED, Reservation.Status.BOOKED) and record.undone is None:
            record.undone = record.updated = at
            if record.status == Reservation.Status.BOOKED:
                record.status = Reservation.Status.CANCELLED
        done = record.undone is not None
        return _undo_output(service, step, done=done)

    def as_of(self, until: float) -> list[ServiceRecord]:
        """The records as they stood at `until` (a trip cut short before its end)."""
        found = []
        for record in self.records.values():
            if record.created > until:
                continue
            if record.undone is not None and record.undone > until:
                status = Reservation.Status.BOOKED if record.service != "payments" else record.status
                record = replace(record, status=status, updated=record.created, undone=None)
            found.append(record)
        return found


def _output(service: str, step: str, record: ServiceRecord) -> dict[str, Any]:
    if service == "payments":
        return {
            "payment_id": placeholder("PAYMENT_ID"),
            "amount": placeholder("AMOUNT"),
            "currency": placeholder("CURRENCY"),
        }
    if service == "notifications":
        return {
            "notification_id": placeholder(f"NOTIFICATION_ID_{step.upper()}"),
            "to": placeholder("EMAIL"),
            "subject": record.subject,
        }
    code_field, detail_field, details = RESERVING[service]
    return {code_field: reservation_code(service), detail_field: details}


def reservation_code(service: str) -> str:
    return placeholder(f"CODE_{service.upper()}")


def _undo_output(service: str, step: str, *, done: bool) -> dict[str, Any]:
    if service == "payments":
        return {
            "refund_id": placeholder("REFUND_ID") if done else None,
            "amount": placeholder("AMOUNT") if done else "0.00",
            "currency": placeholder("CURRENCY"),
        }
    return {"cancelled": done, "reference": reservation_code(service) if done else None}


@dataclass
class OperatorMove:
    """An operator stepping in: `delay` seconds after `when` first holds, with a reason."""

    action: ActionName
    when: Callable[[State], bool]
    delay: float
    reason: str
    actor: str
    step: str | None = None
    due: float | None = None


@dataclass(frozen=True)
class RehearsedTrip:
    workflow: str
    rehearsal: Rehearsal
    records: list[ServiceRecord]
    messages: int  # reply and operator message ids, as placeholders MSG_1..MSG_n


def at(seconds: float) -> datetime:
    return T0 + timedelta(microseconds=round(seconds * 1_000_000))


class TripDriver:
    """Drives one trip to its end (or until `stop` holds), like services, tick and operators would."""

    def __init__(
        self,
        workflow: str,
        definition: Definition,
        rng: random.Random,
        profile: FaultProfile,
        moves: list[OperatorMove] | None = None,
    ) -> None:
        self.workflow = workflow
        self.definition = definition
        self.rng = rng
        self.profile = profile
        self.moves = moves or []
        self.world = ServiceWorld()
        self.replies: list[tuple[float, int, Event]] = []
        self.events: list[Event] = []
        self.messages = 0

    def run(self) -> tuple[list[Event], ServiceWorld]:
        rehearsal = Rehearsal(self.definition, PROCESS_ID)
        now = self.rng.uniform(0.001, 0.02)
        started = Event(
            type=EventType.PROCESS_STARTED,
            at=at(now),
            message_id=f"{PROCESS_ID}:started",
            payload={"input": TRIP_INPUT},
        )
        self._apply(rehearsal, started, now)
        tick: tuple[datetime, float] | None = None
        while True:
            wake = rehearsal.next_wake_up()
            if wake is not None and (tick is None or tick[0] != wake):
                tick = (wake, (wake - T0).total_seconds() + self.rng.uniform(0.05, 1.0))
            for move in self.moves:
                if move.due is None and move.when(rehearsal.state):
                    move.due = now + move.delay
            choices: list[tuple[float, str]] = []
            if self.replies:
                choices.append((self.replies[0][0], "reply"))
            if wake is not None and tick is not None:
                choices.append((tick[1], "timer"))
            choices += [(move.due, "operator") for move in self.moves if move.due is not None]
            if not choices:
                return self.events, self.world
            now, kind = min(choices)
            if kind == "reply":
                self._apply(rehearsal, heapq.heappop(self.replies)[2], now)
            elif kind == "timer":
                for event in rehearsal.due_timers(at(now)):
                    self._apply(rehearsal, event, now)
            else:
                move = next(m for m in self.moves if m.due == now)
                self.moves.remove(move)
                self._operator(rehearsal, move, now)

    def _apply(self, rehearsal: Rehearsal, event: Event, now: float) -> None:
        self.events.append(event)
        for command in rehearsal.apply(event):
            self._send(command, now)

    def _operator(self, rehearsal: Rehearsal, move: OperatorMove, now: float) -> None:
        try:
            event = operator_event(
                self.definition,
                rehearsal.state,
                move.action,
                move.step,
                actor=move.actor,
                at=at(now),
                reason=move.reason,
            )
        except ActionNotAllowed:
            return  # the process moved on before the operator acted
        self.messages += 1
        event = Event(
            type=event.type,
            at=event.at,
            message_id=f"operator:{placeholder(f'MSG_{self.messages}')}",
            step=event.step,
            payload=event.payload,
            actor=event.actor,
            reason=event.reason,
        )
        self._apply(rehearsal, event, now)

    def _send(self, command: Command, now: float) -> None:
        """The service takes the command a moment later, acts on it, and (maybe) answers."""
        fate = self.profile.fate(self.rng, command)
        if fate == Fate.LOST:
            return
        handled = now + self.rng.uniform(0.005, 0.05)
        succeeded, output, error = self.world.handle(command, fate, handled)
        if fate == Fate.LATE:
            answered = now + self.definition.step(command.step).timeout + self.rng.uniform(0.5, 4.0)
        else:
            answered = handled + self.rng.uniform(0.03, 0.5)
        business = fate == Fate.REFUSED or (not succeeded and fate != Fate.TECHNICAL)
        if command.kind == ACTION:
            type_ = EventType.STEP_SUCCEEDED if succeeded else EventType.STEP_FAILED
        else:
            type_ = EventType.COMPENSATION_SUCCEEDED if succeeded else EventType.COMPENSATION_FAILED
        payload: dict[str, Any] = {"output": output} if succeeded else {"error": error, "business": business}
        payload["sent_at"] = at(answered - self.rng.uniform(0.002, 0.02)).isoformat()
        self.messages += 1
        reply = Event(
            type=type_,
            at=at(answered),
            message_id=placeholder(f"MSG_{self.messages}"),
            step=command.step,
            attempt=command.attempt,
            payload=payload,
        )
        heapq.heappush(self.replies, (answered, self.messages, reply))


# --- scenarios -----------------------------------------------------------------------------------


def rehearse(
    workflow: str,
    definition: Definition,
    rng: random.Random,
    profile: FaultProfile,
    moves: list[OperatorMove] | None = None,
    *,
    cut: Callable[[State], bool] | None = None,
) -> RehearsedTrip | None:
    """Drive a trip to its end; with `cut`, keep only its history up to a random point where
    `cut` holds of the state (a process caught on its way). None when there is no such point."""
    driver = TripDriver(workflow, definition, rng, profile, moves)
    events, world = driver.run()
    if cut is None:
        rehearsal = Rehearsal(definition, PROCESS_ID)
        for event in events:
            rehearsal.apply(event)
        return RehearsedTrip(workflow, rehearsal, list(world.records.values()), driver.messages)
    prefix = Rehearsal(definition, PROCESS_ID)
    points = []
    for index, event in enumerate(events):
        prefix.apply(event)
        if cut(prefix.state):
            points.append(index + 1)
    if not points:
        return None
    length = rng.choice(points)
    rehearsal = Rehearsal(definition, PROCESS_ID)
    for event in events[:length]:
        rehearsal.apply(event)
    until = (events[length - 1].at - T0).total_seconds()
    return RehearsedTrip(workflow, rehearsal, world.as_of(until), driver.messages)


def _without_backoff(state: State) -> bool:
    """No step waits out a backoff: its retry time depends on the process id (the jitter), so a
    stamped copy with another id would not replay to the same snapshot."""
    return not any(
        st.status in (StepStatus.RETRYING, StepStatus.COMPENSATION_RETRYING) for st in state.steps.values()
    )


def _in_status(*statuses: ProcessStatus) -> Callable[[State], bool]:
    return lambda state: state.status in statuses and _without_backoff(state)


def _waits(state: State) -> bool:
    return state.status.waits_for_operator


def _exhausted(step: str, kind: str, attempts: int) -> dict[tuple[str, str, int], Fate]:
    return {(step, kind, attempt): Fate.TECHNICAL for attempt in range(1, attempts + 1)}


def scenario(
    status: ProcessStatus, workflow: str, definition: Definition, rng: random.Random
) -> RehearsedTrip | None:
    """One trip that ends in (or, for the statuses on the way, is caught in) `status`."""
    attempts = definition.step("notify").retry.max_attempts
    actor = rng.choice(OPERATORS)
    if status == ProcessStatus.COMPLETED:
        if rng.random() < 0.08:  # the mail server was down; an operator retried once it was back
            profile = FaultProfile(
                fixed={
                    **_exhausted("notify", ACTION, attempts),
                    ("notify", ACTION, attempts + 1): Fate.ANSWERED,
                }
            )
            retry = OperatorMove(
                ActionName.RETRY, _waits, rng.uniform(600, 8 * 3600), "mail server is back", actor, "notify"
            )
            return rehearse(workflow, definition, rng, profile, [retry])
        return rehearse(workflow, definition, rng, FaultProfile())
    if status == ProcessStatus.COMPENSATED:
        refusing = rng.choices(["payment", "flight", "hotel"], weights=[4, 3, 3])[0]
        return rehearse(workflow, definition, rng, FaultProfile(refusing_step=refusing))
    if status == ProcessStatus.CANCELLED:
        if rng.random() < 0.5:  # the confirmation could not be sent, and the customer gave up
            profile = FaultProfile(fixed=_exhausted("notify", ACTION, attempts))
            cancel = OperatorMove(
                ActionName.CANCEL,
                _waits,
                rng.uniform(600, 6 * 3600),
                "customer no longer wants the trip",
                actor,
            )
        else:  # the customer called while the trip was being booked
            profile = FaultProfile(technical=0.4)
            cancel = OperatorMove(
                ActionName.CANCEL,
                lambda state: state.seq >= 2,
                rng.uniform(0.1, 3.0),
                "customer called to cancel",
                actor,
            )
        return rehearse(workflow, definition, rng, profile, [cancel])
    if status == ProcessStatus.WAITING:
        if rng.random() < 0.6:  # the confirmation e-mail keeps failing
            return rehearse(
                workflow, definition, rng, FaultProfile(fixed=_exhausted("notify", ACTION, attempts))
            )
        # the hotel is sold out, and cancelling the flight keeps failing
        fixed = _exhausted("flight", COMPENSATION, definition.step("flight").retry.max_attempts)
        return rehearse(workflow, definition, rng, FaultProfile(refusing_step="hotel", fixed=fixed))
    if status == ProcessStatus.RUNNING:
        return rehearse(workflow, definition, rng, FaultProfile(), cut=_in_status(ProcessStatus.RUNNING))
    if status == ProcessStatus.COMPENSATING:
        refusing = rng.choice(["flight", "hotel"])
        profile = FaultProfile(refusing_step=refusing)
        return rehearse(workflow, definition, rng, profile, cut=_in_status(ProcessStatus.COMPENSATING))
    if status == ProcessStatus.PAUSED:
        pause = OperatorMove(
            ActionName.PAUSE,
            lambda state: state.seq >= 2,
            rng.uniform(0.05, 1.0),
            "customer asked us to hold the booking",
            actor,
        )
        return rehearse(
            workflow, definition, rng, FaultProfile(), [pause], cut=_in_status(ProcessStatus.PAUSED)
        )
    raise ValueError(f"no scenario for {status}")
