"""Processes: start one, take a service's reply, act as an operator, fire due timers.

The imperative shell around the pure `decide`, and the one place a transition touches the
database.

Every change to a process goes through `_transition` inside one transaction that holds the
process row's lock: append the events, fold them with `decide`, save the snapshot, write the
outbox. After commit the outbox is published and listeners (the dashboard) are told. The cost of
a message does not depend on the length of the history: the snapshot is read and replaced, the
history only appended to.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from config.logging import process_context
from orchestrator import counters, signals, transition_sql
from orchestrator.actions import Operator, action_get
from orchestrator.commands import input_problems
from orchestrator.dead_letters import dead_letter_keep
from orchestrator.definitions import (
    definition_active,
    definition_check,
    definition_compile,
    definition_compiled,
    definition_for_run,
    definition_freeze,
    signal_data_problem,
)
from orchestrator.engine.codec import state_from_json
from orchestrator.engine.decide import (
    ActionNotAllowed,
    SignalNotDeclared,
    check_signal,
    decide,
    due_timer_events,
    initial_state,
)
from orchestrator.engine.types import Command, Definition, Event, EventType, State
from orchestrator.keys import KeyValue, keys_changed, keys_rows, keys_write
from orchestrator.messages import MalformedMessage, Reply, reply_parse
from orchestrator.models import DeadLetter, HistoryEntry, Outbox, ProcessInstance, WorkflowDefinition
from orchestrator.outbox import (
    outbox_discard,
    outbox_marks_for_write,
    outbox_publish_after_commit,
    outbox_rows,
    outbox_transaction,
)
from orchestrator.previews import operator_event
from orchestrator.snapshots import SNAPSHOT_COLUMNS, snapshot_columns

logger = logging.getLogger(__name__)


# Errors worth trying the same message again for: the connection, not the message, failed.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


class ProcessNotFound(LookupError):
    pass


class WorkflowNotFound(LookupError):
    pass


class InvalidInput(ValueError):
    """A process's input that its workflow's commands cannot read."""


@dataclass(frozen=True)
class Outcome:
    """What handling one message did."""

    status: str  # "applied", "duplicate" or "dead-letter"
    process_id: str | None = None
    detail: str = ""


# --- starting --------------------------------------------------------------------------------


def process_start(
    *, workflow: str, business_key: str, input: dict[str, Any], actor: str = ""
) -> tuple[ProcessInstance, bool]:
    """Start a process on the active version of `workflow`, once per business key.

    Returns the instance and whether it was created; a known business key returns the
    existing instance, also when two callers race (the unique constraint decides). Raises
    InvalidInput when `input` is not what the workflow's commands declare they read.
    """
    existing = ProcessInstance.objects.filter(workflow_name=workflow, business_key=business_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            starts = [NewProcess(business_key, input)]
            (instance,) = processes_start(workflow=workflow, starts=starts, actor=actor)
    except IntegrityError:
        instance = ProcessInstance.objects.get(workflow_name=workflow, business_key=business_key)
        return instance, False
    return instance, True


@dataclass(frozen=True)
class NewProcess:
    business_key: str
    input: dict[str, Any]


def processes_start(*, workflow: str, starts: Sequence[NewProcess], actor: str = "") -> list[ProcessInstance]:
    """Start processes on the active version of `workflow`, in the caller's transaction, in three
    statements whatever their number: read the version, insert the processes with their first
    snapshot, write their histories and first commands (published after commit).

    Every business key must be new: one already taken raises IntegrityError (the caller's
    transaction is then unusable up to its savepoint). Raises InvalidInput, naming the key, for an
    input the workflow's commands cannot read, before anything is written.
    """
    definition = definition_active(workflow)
    if definition is None:
        raise WorkflowNotFound(f"no active version of workflow {workflow!r}")
    compiled = definition_for_run(definition)
    commands = [c for spec in compiled.steps for c in (spec.command, spec.compensation) if c]
    for start in starts:
        if problems := input_problems(commands, start.input):
            raise InvalidInput(f"{start.business_key}: " + "; ".join(problems))
    if definition.frozen_at is None:
        # Its first process: check the version once more (the admin may have edited it), and
        # freeze it under its row lock. Once frozen it stays so: later starts need neither the
        # check nor the lock, which would queue every start behind one row.
        definition_check(definition_compile(definition))
        definition_freeze(definition)
        compiled = definition_for_run(definition)
    now = timezone.now()
    changes = []
    for start in starts:
        instance = ProcessInstance(
            definition=definition,
            workflow_name=workflow,
            business_key=start.business_key,
            input=start.input,
            created_at=now,
        )
        started = Event(
            type=EventType.PROCESS_STARTED,
            at=now,
            message_id=f"{instance.pk}:started",
            payload={"input": start.input},
            actor=actor,
        )
        changes.append(_decided(instance, compiled, initial_state(str(instance.pk), compiled), [started]))
    # Inserted with their first snapshot already decided: no update of the rows just written.
    instances = ProcessInstance.objects.bulk_create([change.instance for change in changes])
    _write(changes, inserted=True)
    return instances


# --- replies from services -------------------------------------------------------------------


def messages_handle(bodies: Sequence[Any], *, task_name: str = "orchestrator.event") -> list[Outcome]:
    """Take replies in one transaction (`_messages_handle`), timed for the metrics."""
    started = time.perf_counter()
    outcomes = _messages_handle(bodies, task_name)
    counters.replies_handled(len(bodies), time.perf_counter() - started)
    return outcomes


def _messages_handle(bodies: Sequence[Any], task_name: str) -> list[Outcome]:
    """Take replies in one transaction: each process locked once, in id order (two workers
    never deadlock), its events applied in the order they came, one commit for all.

    Malformed, unknown and duplicate messages are dead letters or dropped, one at a time. A reply
    that breaks its transition will break it again: alone, it is kept as a dead letter with the
    reason; in a batch, the batch is rolled back and each reply handled alone, so that only the
    one at fault is kept and the rest are applied. A database that is away raises, for the task
    to try again.
    """
    outcomes: list[Outcome | None] = [None] * len(bodies)
    replies: list[tuple[int, Reply]] = []
    for index, body in enumerate(bodies):
        try:
            replies.append((index, reply_parse(body)))
        except MalformedMessage as exc:
            outcomes[index] = _kept(task_name, body, f"malformed message: {exc}")
    if replies:
        try:
            with outbox_transaction(marks_by_caller=True):  # marked in the transitions' statement
                applied = _batch_apply(replies, bodies, task_name)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            if len(replies) > 1:
                logger.exception(
                    "a batch of %d replies could not be applied together: one at a time", len(replies)
                )
                return [
                    outcome or _messages_handle([body], task_name)[0]
                    for outcome, body in zip(outcomes, bodies, strict=True)
                ]
            index, reply = replies[0]
            logger.exception("message %s could not be applied", reply.message_id)
            reason = f"could not be applied: {type(exc).__name__}: {exc}"
            applied = {index: _kept(task_name, bodies[index], reason, process_id=str(reply.process_id))}
        for index, outcome in applied.items():
            outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def _batch_apply(
    replies: Sequence[tuple[int, Reply]], bodies: Sequence[Any], task_name: str
) -> dict[int, Outcome]:
    ids = sorted({str(reply.process_id) for _, reply in replies})
    locked, seen = _locked_all(ids, [reply.message_id for _, reply in replies])
    outcomes: dict[int, Outcome] = {}
    events: dict[str, list[Event]] = {}
    for index, reply in replies:
        process_id = str(reply.process_id)
        if process_id not in locked:
            outcomes[index] = _kept(task_name, bodies[index], "unknown process", process_id=process_id)
        elif reply.message_id in seen:
            with process_context(process_id, step=reply.step, attempt=reply.attempt):
                logger.info("duplicate message %s dropped", reply.message_id)
            outcomes[index] = Outcome("duplicate", process_id)
        else:
            seen.add(reply.message_id)
            events.setdefault(process_id, []).append(_event_of(reply))
            outcomes[index] = Outcome("applied", process_id)
    changes = []
    for process_id, process_events in events.items():
        entry = locked[process_id]
        last = process_events[-1]
        with process_context(process_id, step=last.step, attempt=last.attempt):
            state = state_from_json(entry.instance.state)
            changes.append(_decided(entry.instance, entry.definition, state, process_events))
    if changes:
        _write(changes, last=True)  # the transaction ends with it (orchestrator.outbox marks in it)
    return outcomes


@dataclass(frozen=True)
class _Locked:
    instance: ProcessInstance
    definition: Definition  # compiled


def _locked_all(
    process_ids: Sequence[str], message_ids: Sequence[str]
) -> tuple[dict[str, _Locked], set[str]]:
    """Lock and read the processes, in id order (two workers never deadlock), by id; and which of
    the message ids the history holds already (read after the lock: a reply the lock waited for
    is seen). Raw SQL on PostgreSQL (orchestrator.transition_sql), the ORM elsewhere."""
    if connection.vendor == "postgresql":
        rows, seen = transition_sql.processes_lock(process_ids, message_ids)
        locked = {
            pk: _Locked(entry.instance, definition_compiled(entry.definition_id, entry.definition_frozen_at))
            for pk, entry in rows.items()
        }
        return locked, seen
    instances = (
        ProcessInstance.objects.select_for_update(of=("self",))
        .select_related("definition")
        .filter(pk__in=process_ids)
        .order_by("pk")
    )
    locked = {str(i.pk): _Locked(i, definition_for_run(i.definition)) for i in instances}
    seen = set(HistoryEntry.objects.filter(message_id__in=message_ids).values_list("message_id", flat=True))
    return locked, seen


def _event_of(reply: Reply) -> Event:
    payload = dict(reply.payload)
    if reply.sent_at is not None:
        payload["sent_at"] = reply.sent_at.isoformat()
    return Event(
        type=reply.type,
        at=timezone.now(),
        message_id=reply.message_id,
        step=reply.step,
        attempt=reply.attempt,
        payload=payload,
    )


def _kept(task_name: str, body: Any, reason: str, *, process_id: str = "") -> Outcome:
    dead_letter_keep(task_name, body, reason, process_id=process_id)
    return Outcome("dead-letter", process_id or None, reason)


# --- operators -------------------------------------------------------------------------------


def operator_act(
    *,
    process_id: str,
    action: str,
    user: Operator,
    reason: str = "",
    step: str | None = None,
    output: dict[str, Any] | None = None,
) -> ProcessInstance:
    """Apply an operator's action now, as an event in the history carrying who and why.

    1. Refuse a user without the action's permission (PermissionDenied): every entry point
       (dashboard, admin, API, bulk rollouts) goes through here, so none can forget it.
    2. Under the process's lock, a retry without a step picks the one that waits (for an
       operator, or in backoff).
    3. Refuse an action that does not apply now (ActionNotAllowed, with the reason), and a
       skip whose output does not match the command's declared output (InvalidOutput).
    4. Record the event and apply it like any other.
    """
    kind = action_get(action)
    if not user.has_perm(kind.permission):
        raise PermissionDenied(f"You need the permission {kind.permission!r} for this.")
    with process_context(process_id, step=step), transaction.atomic():
        instance = _locked(process_id)
        if instance is None:
            raise ProcessNotFound(f"no process {process_id}")
        state = state_from_json(instance.state)
        event = operator_event(
            definition_for_run(instance.definition),
            state,
            action,
            step,
            actor=user.get_username(),
            at=timezone.now(),
            reason=reason,
            output=output,
        )
        _transition(instance, instance.definition, state, [event])
    return instance


# --- signals from outside ----------------------------------------------------------------------


class SignalRefused(ActionNotAllowed):
    """A signal the process cannot take now (the reason says why); nothing was recorded."""


class SignalUndeclared(SignalRefused):
    """A signal its process's workflow does not declare."""


class SignalInvalid(ValueError):
    """A signal's data that does not match the schema its workflow declares (naming the field)."""


@dataclass(frozen=True)
class SignalTaken:
    process: ProcessInstance
    seq: int  # where it stands in the process's history
    note: str  # what it did there
    repeated: bool  # the key was used before: this is the first answer again


def signal_take(
    *, process_id: str, name: str, data: dict[str, Any], key: str, actor: str = ""
) -> SignalTaken:
    """Take a signal from outside into a process's history, once per key: the one path of the API,
    the provider webhooks and the dashboard.

    Raises ProcessNotFound; SignalRefused when the workflow does not declare it, the process has
    ended, or nothing waits for it and it may not be kept (engine.decide.check_signal), or when
    the key was used for another signal; SignalInvalid when its data does not match its schema.
    """
    # The key as sent may be long or odd: its digest makes the message id, the key is kept beside.
    message_id = f"signal:{process_id}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"
    with process_context(process_id), transaction.atomic():
        instance = _locked(process_id)
        if instance is None:
            raise ProcessNotFound(f"no process {process_id}")
        earlier = HistoryEntry.objects.filter(process=instance, message_id=message_id).first()
        if earlier is not None:
            if (earlier.payload.get("name"), earlier.payload.get("data")) != (name, data):
                raise SignalRefused("this key was used for another signal or other data")
            return SignalTaken(instance, earlier.seq, earlier.note, repeated=True)
        definition = definition_for_run(instance.definition)
        state = state_from_json(instance.state)
        try:
            check_signal(definition, state, name)
        except SignalNotDeclared as undeclared:
            raise SignalUndeclared(str(undeclared)) from None
        except ActionNotAllowed as refused:
            raise SignalRefused(str(refused)) from None
        signal = definition.signal(name)
        assert signal is not None  # check_signal refuses an undeclared one
        if problem := signal_data_problem(signal, data):
            raise SignalInvalid(problem)
        event = Event(
            type=EventType.SIGNAL_RECEIVED,
            at=timezone.now(),
            message_id=message_id,
            payload={"name": name, "data": data, "key": key},
            actor=actor,
        )
        change = _decided(instance, definition, state, [event])
        _write([change])
    (row,) = change.rows
    return SignalTaken(instance, row.seq, row.note, repeated=False)


# --- timers ----------------------------------------------------------------------------------


def timers_fire(*, now: datetime | None = None, batch: int = 100) -> int:
    """Fire the due timers of up to `batch` processes; returns how many processes were handled.

    Rows are claimed with SKIP LOCKED, so several ticks (or a tick and a reply) never wait on
    each other. A process that fails is logged and postponed, and the sweep goes on.
    """
    now = now or timezone.now()
    handled = 0
    with transaction.atomic():
        due = list(
            ProcessInstance.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("definition")
            .filter(wake_at__lte=now)
            .order_by("wake_at")[:batch]
        )
        for instance in due:
            with process_context(instance.pk):
                try:
                    with transaction.atomic():
                        state = state_from_json(instance.state)
                        events = due_timer_events(state, now)
                        if events:
                            _transition(instance, instance.definition, state, events)
                        else:  # nothing due after all (a stale wake-up): just move it on
                            ProcessInstance.objects.filter(pk=instance.pk).update(
                                wake_at=state.next_wake_up()
                            )
                    handled += 1
                except TRANSIENT_ERRORS:
                    raise
                except Exception as exc:
                    _timers_failed(instance, now, exc)
    return handled


TIMER_RETRY_AFTER = timedelta(minutes=5)


def _timers_failed(instance: ProcessInstance, now: datetime, exc: Exception) -> None:
    """A process whose timers cannot be applied: say so where operators look, and try later."""
    logger.exception("timers of process %s could not be fired; trying again in 5 minutes", instance.pk)
    reason = f"timers could not be fired: {type(exc).__name__}: {exc}"
    recent = DeadLetter.objects.filter(
        process_id=str(instance.pk), reason=reason, received_at__gte=now - timedelta(hours=1)
    )
    if not recent.exists():
        dead_letter_keep(
            "orchestrator.tick",
            {"process_id": str(instance.pk), "wake_at": str(instance.wake_at)},
            reason,
            process_id=str(instance.pk),
        )
    ProcessInstance.objects.filter(pk=instance.pk).update(wake_at=now + TIMER_RETRY_AFTER)


# --- the transition --------------------------------------------------------------------------


def _locked(process_id: str) -> ProcessInstance | None:
    try:
        uuid.UUID(str(process_id))
    except ValueError:
        return None
    try:
        return (
            ProcessInstance.objects.select_for_update(of=("self",))
            .select_related("definition")
            .get(pk=process_id)
        )
    except ProcessInstance.DoesNotExist:
        return None


@dataclass
class _Change:
    """One process's transition, decided and not yet written."""

    instance: ProcessInstance
    state: State
    previous_status: str
    rows: list[HistoryEntry]
    commands: list[Command]
    keys: list[KeyValue]  # business keys its steps' outputs brought (orchestrator.keys)
    at: datetime
    tally: counters.Tally

    @property
    def ended(self) -> bool:
        return self.state.status != self.previous_status and self.state.status.is_terminal


# The columns a transition changes (the list and filters read them without the snapshot).
_CHANGED_FIELDS = [*SNAPSHOT_COLUMNS, "updated_at"]


def _transition(
    instance: ProcessInstance, definition: WorkflowDefinition, state: State, events: Sequence[Event]
) -> State:
    """Fold `events` into the locked instance: history, snapshot and outbox, in this transaction."""
    change = _decided(instance, definition_for_run(definition), state, events)
    _write([change])
    return change.state


def _decided(instance: ProcessInstance, spec: Definition, state: State, events: Sequence[Event]) -> _Change:
    """Fold `events` with `decide`: the history rows, the new snapshot on the instance (in memory),
    and the commands to send."""
    rows: list[HistoryEntry] = []
    commands: list[Command] = []
    tally = counters.Tally(instance.workflow_name)
    for event in events:
        decision = decide(spec, state, event)
        tally.event(spec, state, event, decision.commands)
        state = decision.state
        commands.extend(decision.commands)
        rows.append(
            HistoryEntry(
                process=instance,
                seq=state.seq,
                message_id=event.message_id,
                type=event.type,
                step=event.step or "",
                attempt=event.attempt,
                payload=event.payload,
                actor=event.actor,
                reason=event.reason,
                note=decision.note,
                created_at=event.at,
            )
        )
        if decision.note:
            logger.info(
                "%s %s: %s",
                event.type,
                event.step or "",
                decision.note,
                extra={"step": event.step, "attempt": event.attempt},
            )
    previous_status, previous_context = instance.status, instance.context
    for column, value in snapshot_columns(state).items():
        setattr(instance, column, value)
    instance.updated_at = timezone.now()
    keys = keys_changed(spec, previous_context, state.context)
    return _Change(instance, state, previous_status, rows, commands, keys, events[-1].at, tally)


def _write(changes: Sequence[_Change], *, inserted: bool = False, last: bool = False) -> None:
    """Write decided transitions in few statements whatever their number (on PostgreSQL one: see
    orchestrator.transition_sql): the history rows, the snapshots, the commands (published after
    commit) and the business keys. Commands decided by a transition that also ended the process
    never go out (say, an "order has shipped" e-mail after the order was cancelled), nor do those
    of its that did not leave yet. `inserted`: the processes were inserted with their snapshot.
    `last`: nothing is written after this in the transaction, so that on PostgreSQL, in an atomic
    block of its own (not a savepoint), the commit goes with the write, one round trip for both."""
    now = timezone.now()
    history = [row for change in changes for row in change.rows]
    commands = outbox_rows(
        [(change.instance, change.commands, change.at, change.ended) for change in changes]
    )
    keys = keys_rows([(change.instance, key) for change in changes for key in change.keys])
    ended = [change.instance for change in changes if change.ended]
    if connection.vendor == "postgresql":
        transition_sql.transitions_write(
            history=history,
            snapshots=[] if inserted else [change.instance for change in changes],
            outbox=commands,
            keys=keys,
            ended=[str(instance.pk) for instance in ended],
            marks=outbox_marks_for_write(),
            now=now,
            commit=last and len(connection.atomic_blocks) == 1,
        )
    else:
        HistoryEntry.objects.bulk_create(history)
        if not inserted:
            for change in changes:
                change.instance.save(update_fields=_CHANGED_FIELDS)
        for instance in ended:
            outbox_discard(instance, now)
        Outbox.objects.bulk_create(commands)
        keys_write(keys)
    outbox_publish_after_commit(commands)
    for change in changes:
        if change.state.status != change.previous_status:
            cause = change.rows[-1]  # the event that changed the status
            with process_context(str(change.instance.pk), step=cause.step or None, attempt=cause.attempt):
                logger.info("process %s -> %s", change.previous_status, change.state.status)
        if change.ended:
            change.tally.end(change.state)
        transaction.on_commit(
            partial(
                signals.process_changed.send,
                sender=ProcessInstance,
                process_id=str(change.instance.pk),
                status=change.state.status,
            )
        )
    # robust: a metric that cannot be recorded is logged, never a failure of the committed work.
    transaction.on_commit(partial(counters.tallies_record, [change.tally for change in changes]), robust=True)
