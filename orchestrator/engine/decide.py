"""The pure decision function of the engine.

`decide(definition, state, event)` returns the next state and the commands to send. It reads no
database, no clock and no network: the time comes in with the event, and jitter is derived from
the process id. So a history can be replayed at any time to the same state (`replay`), which is
both a test of the stored snapshot and the way the dashboard shows the state at a past event.

The rules, in short (docs/state-machines.md has the diagrams):

1. Steps of the success path run when all their dependencies succeeded (or were skipped), so
   independent steps run in parallel and a step with several dependencies joins them.
2. A technical failure or a timeout is retried with backoff until the retry budget is spent;
   then the step waits for an operator (`pause`) or the process compensates (`compensate`).
   A timed-out attempt is *in doubt*: the service may have done it. Every attempt of a step
   carries the same idempotency key, so a retry returns the earlier outcome instead of acting twice.
3. A business failure compensates the process. Compensation waits for the steps under way to
   answer or time out, then undoes, newest first and one at a time, every step the service was
   asked to do and did not refuse: a step that failed technically may still act later (a
   duplicate delivery), and undoing it leaves a tombstone at the service that refuses any later
   copy. Compensations retry like steps; when their budget is spent an operator decides.
   Then the after-compensation steps run (e.g. tell the customer), and the process ends
   compensated, or cancelled when an operator asked for it.
4. A reply that nobody waits for any more changes nothing, except that a late success or business
   failure (both are final for the idempotency key) settles a step that has no final answer yet.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from orchestrator.engine.types import (
    ACTION,
    COMPENSATION,
    Command,
    Decision,
    Definition,
    EarlySignal,
    Event,
    EventType,
    OnTimeout,
    RetryPolicy,
    State,
    StepSpec,
    StepState,
    WaitKind,
)
from orchestrator.status import OnExhausted, ProcessStatus, StepPhase, StepStatus

DONE = frozenset({StepStatus.SUCCEEDED, StepStatus.SKIPPED})
# Statuses of a step whose compensation has started and is not finished.
COMPENSATION_IN_PROGRESS = frozenset(
    {
        StepStatus.COMPENSATION_PENDING,
        StepStatus.COMPENSATING,
        StepStatus.COMPENSATION_RETRYING,
        StepStatus.COMPENSATION_FAILED,
    }
)


class ActionNotAllowed(Exception):
    """An operator action that does not apply to the process in its current state."""


def initial_state(process_id: str, definition: Definition) -> State:
    return State(
        process_id=process_id,
        status=ProcessStatus.RUNNING,
        input={},
        steps={spec.key: StepState() for spec in definition.steps},
    )


def replay(definition: Definition, process_id: str, events: Iterable[Event]) -> State:
    """Fold a history into the state it leads to."""
    state = initial_state(process_id, definition)
    for event in events:
        state = decide(definition, state, event).state
    return state


def decide(definition: Definition, state: State, event: Event) -> Decision:
    """Apply one event: the new state, the commands to send, and a note on what happened."""
    s = _copy(state)
    s.seq += 1
    s.updated_at = event.at
    if s.status in ProcessStatus.terminal():
        return Decision(s, (), f"process already {s.status.value}: recorded, nothing changes")
    note = _apply(definition, s, event)
    commands = _advance(definition, s, event.at)
    return Decision(s, tuple(commands), note)


def _copy(state: State) -> State:
    """A copy `decide` may change, leaving `state` as it was. Cheaper than a deep copy: the rules
    assign step fields and context keys, and never change a value in place (an output, the input)."""
    copied = copy.copy(state)
    copied.steps = {key: copy.copy(step) for key, step in state.steps.items()}
    copied.context = dict(state.context)
    copied.signals_kept = list(state.signals_kept)
    return copied


def check_operator_action(definition: Definition, state: State, event_type: str, step: str | None) -> None:
    """Raise ActionNotAllowed with the reason when an operator action does not apply now."""
    if state.status in ProcessStatus.terminal():
        raise ActionNotAllowed(f"the process is {state.status.value}; nothing can be done any more")
    if event_type in (EventType.OPERATOR_RETRIED, EventType.OPERATOR_SKIPPED):
        if step is None or not definition.has_step(step):
            raise ActionNotAllowed(f"unknown step {step!r}")
        if state.status == ProcessStatus.PAUSED:
            raise ActionNotAllowed("the process is paused; resume it first")
    st = state.steps[step] if step is not None and step in state.steps else None
    if event_type == EventType.OPERATOR_RETRIED:
        assert st is not None
        if not (
            (st.status == StepStatus.FAILED and st.awaiting_operator)
            or st.status
            in (StepStatus.RETRYING, StepStatus.COMPENSATION_RETRYING, StepStatus.COMPENSATION_FAILED)
        ):
            raise ActionNotAllowed(f"step {step} is {st.status.label.lower()}; there is nothing to retry")
    elif event_type == EventType.OPERATOR_SKIPPED:
        assert st is not None and step is not None
        spec = definition.step(step)
        skippable = st.status in (
            StepStatus.RETRYING,
            StepStatus.COMPENSATION_RETRYING,
            StepStatus.COMPENSATION_FAILED,
        ) or (st.status == StepStatus.FAILED and st.awaiting_operator)
        if st.status == StepStatus.PENDING:
            skippable = state.compensating == (spec.phase == StepPhase.AFTER_COMPENSATION)
        if not skippable:
            raise ActionNotAllowed(f"step {step} is {st.status.label.lower()}; it cannot be skipped now")
    elif event_type == EventType.OPERATOR_CANCELLED:
        if state.cancel_requested:
            raise ActionNotAllowed("the process is already being cancelled")
    elif event_type == EventType.OPERATOR_COMPENSATED:
        if state.compensating and not any(
            st.status == StepStatus.COMPENSATION_FAILED for st in state.steps.values()
        ):
            raise ActionNotAllowed("the process is already compensating")
    elif event_type == EventType.OPERATOR_PAUSED:
        if state.status not in (ProcessStatus.RUNNING, ProcessStatus.COMPENSATING):
            raise ActionNotAllowed(
                f"only a running or compensating process can be paused, not {state.status.label.lower()}"
            )
    elif event_type == EventType.OPERATOR_RESUMED:
        if state.status != ProcessStatus.PAUSED:
            raise ActionNotAllowed("the process is not paused")
    elif event_type not in EventType.OPERATOR:
        raise ActionNotAllowed(f"unknown action {event_type!r}")


def due_timer_events(state: State, now: datetime) -> list[Event]:
    """The timer events that are due at `now`, each with a message id that fires it only once."""
    events = []
    for key, st in state.steps.items():
        for status, when, kind, timer_type, attempt in (
            (StepStatus.RUNNING, st.deadline_at, ACTION, EventType.STEP_TIMED_OUT, st.attempt),
            (StepStatus.RETRYING, st.retry_at, ACTION, EventType.STEP_RETRY_DUE, st.attempt),
            (
                StepStatus.COMPENSATING,
                st.deadline_at,
                COMPENSATION,
                EventType.COMPENSATION_TIMED_OUT,
                st.comp_attempt,
            ),
            (
                StepStatus.COMPENSATION_RETRYING,
                st.retry_at,
                COMPENSATION,
                EventType.COMPENSATION_RETRY_DUE,
                st.comp_attempt,
            ),
        ):
            if st.status == status and when is not None and when <= now:
                message_id = f"{state.process_id}:{key}:{kind}:{attempt}:{timer_type}"
                events.append(
                    Event(type=timer_type, at=now, message_id=message_id, step=key, attempt=attempt)
                )
    return events


def retry_delay(policy: RetryPolicy, attempts_used: int, *, seed: str) -> float:
    """Seconds to wait after `attempts_used` failed attempts; jitter is a pure function of `seed`."""
    try:
        growth = policy.multiplier ** max(attempts_used - 1, 0)
    except OverflowError:  # thousands of attempts: long past the maximum delay
        growth = float("inf")
    delay = min(policy.initial_delay * growth, policy.max_delay) if policy.initial_delay else 0.0
    if policy.jitter:
        fraction = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        delay *= 1 + policy.jitter * (2 * fraction - 1)
    return max(delay, 0.0)


# --- applying one event -----------------------------------------------------------------------


def _apply(definition: Definition, s: State, event: Event) -> str:
    kind = event.type
    if kind == EventType.PROCESS_STARTED:
        if s.seq != 1:
            return "process already started: recorded, nothing changes"
        s.input = dict(event.payload.get("input", {}))
        s.started_at = event.at
        return ""
    if kind in EventType.OPERATOR:
        return _apply_operator(definition, s, event)
    if kind == EventType.SIGNAL_RECEIVED:
        return _apply_signal(definition, s, event)
    if event.step is None or not definition.has_step(event.step):
        return f"unknown step {event.step!r}: recorded, nothing changes"
    spec = definition.step(event.step)
    st = s.steps[event.step]
    attempt = event.attempt or 0
    if spec.wait is not None and kind in EventType.REPLIES:
        return f"{spec.key} is a wait step: no command was sent for it; recorded, nothing changes"
    if kind in (EventType.STEP_SUCCEEDED, EventType.STEP_FAILED):
        return _apply_action_reply(s, spec, st, event, attempt)
    if kind in (EventType.COMPENSATION_SUCCEEDED, EventType.COMPENSATION_FAILED):
        return _apply_compensation_reply(s, spec, st, event, attempt)
    if kind == EventType.STEP_TIMED_OUT:
        if st.status != StepStatus.RUNNING or attempt != st.attempt:
            return f"timer of attempt {attempt} no longer applies"
        if spec.wait is not None:
            return _wait_over(s, spec, st, event.at)
        st.in_doubt = True
        st.last_error = f"attempt {attempt} got no answer within {spec.timeout:g} s"
        _after_failed_attempt(s, spec, st, event.at)
        return "in doubt: the service may have acted; a retry reuses the idempotency key"
    if kind == EventType.STEP_RETRY_DUE:
        if st.status != StepStatus.RETRYING or attempt != st.attempt:
            return f"timer of attempt {attempt} no longer applies"
        st.status = StepStatus.PENDING
        st.retry_at = None
        return ""
    if kind == EventType.COMPENSATION_TIMED_OUT:
        if st.status != StepStatus.COMPENSATING or attempt != st.comp_attempt:
            return f"timer of compensation attempt {attempt} no longer applies"
        st.last_error = f"compensation attempt {attempt} got no answer within {spec.timeout:g} s"
        _after_failed_compensation(spec, st, event.at, s.process_id)
        return ""
    if kind == EventType.COMPENSATION_RETRY_DUE:
        if st.status != StepStatus.COMPENSATION_RETRYING or attempt != st.comp_attempt:
            return f"timer of compensation attempt {attempt} no longer applies"
        st.status = StepStatus.COMPENSATION_PENDING
        st.retry_at = None
        return ""
    return f"unknown event type {kind!r}: recorded, nothing changes"


def _apply_signal(definition: Definition, s: State, event: Event) -> str:
    name = str(event.payload.get("name", ""))
    data = dict(event.payload.get("data") or {})
    fate, spec = _signal_fate(definition, s, name)
    if fate == _RESOLVES:
        assert spec is not None
        return _wait_resolved(s, spec, s.steps[spec.key], name, data)
    if fate == _KEPT:
        assert spec is not None
        s.signals_kept.append({"name": name, "data": data, "message_id": event.message_id})
        return f"signal {name} kept until {spec.key} waits for it"
    if fate == _UNDECLARED:
        return f"signal {name!r} is not declared by this workflow: recorded, nothing changes"
    if fate == _KEPT_ALREADY:
        return f"signal {name} was kept already: recorded, nothing changes"
    return f"nothing waits for signal {name} now: recorded, nothing changes"


# What becomes of a signal (`_signal_fate`): the same answer for the door and for `decide`.
_UNDECLARED, _RESOLVES, _KEPT_ALREADY, _KEPT, _UNWAITED = (
    "undeclared",
    "resolves",
    "kept already",
    "kept",
    "unwaited",
)


def _signal_fate(definition: Definition, s: State, name: str) -> tuple[str, StepSpec | None]:
    """What signal `name` does to a running process now, with the wait step it concerns: it ends
    a wait that listens to it, or is kept for one to come (if its workflow keeps early signals and
    none is kept already), or changes nothing."""
    signal = definition.signal(name)
    if signal is None:
        return _UNDECLARED, None
    if waiting := _waiting_for(definition, s, name):
        return _RESOLVES, waiting[0]
    if any(entry["name"] == name for entry in s.signals_kept):
        return _KEPT_ALREADY, None
    if signal.early == EarlySignal.KEEP and (later := _will_wait_for(definition, s, name)):
        return _KEPT, later[0]
    return _UNWAITED, None


def _waiting_for(definition: Definition, s: State, name: str) -> list[StepSpec]:
    """The wait steps running now that listen to signal `name`."""
    return [
        spec
        for spec in definition.steps
        if spec.wait is not None
        and name in spec.wait.listens_to
        and s.steps[spec.key].status == StepStatus.RUNNING
    ]


def _will_wait_for(definition: Definition, s: State, name: str) -> list[StepSpec]:
    """The wait steps not started yet, on the path the process is on, that will listen to `name`."""
    phase = StepPhase.AFTER_COMPENSATION if s.compensating else StepPhase.MAIN
    return [
        spec
        for spec in definition.phase_steps(phase)
        if spec.wait is not None
        and name in spec.wait.listens_to
        and s.steps[spec.key].status == StepStatus.PENDING
    ]


class SignalNotDeclared(ActionNotAllowed):
    """A signal the process's workflow does not declare."""


def check_signal(definition: Definition, state: State, name: str) -> None:
    """Raise ActionNotAllowed with the reason when signal `name` cannot be taken now: the workflow
    does not declare it (SignalNotDeclared), the process has ended, or nothing waits for it now
    and it may not be kept for a wait to come (then it would be recorded and change nothing)."""
    fate, _ = _signal_fate(definition, state, name)
    if fate == _UNDECLARED:
        declared = ", ".join(spec.name for spec in definition.signals) or "none"
        raise SignalNotDeclared(f"the workflow declares no signal {name!r} (it declares: {declared})")
    if state.status in ProcessStatus.terminal():
        raise ActionNotAllowed(f"the process is {state.status.value}; it takes no more signals")
    if fate == _KEPT_ALREADY:
        raise ActionNotAllowed(f"signal {name} was received already and waits for its step")
    if fate == _UNWAITED:
        raise ActionNotAllowed(f"nothing waits for signal {name} now")


def _start_wait(s: State, spec: StepSpec, st: StepState, at: datetime) -> None:
    """A wait step begins: its timer is set, and a signal kept for it is taken at once."""
    wait = spec.wait
    assert wait is not None
    st.attempt += 1
    st.status = StepStatus.RUNNING
    st.done_order = _next_order(s)
    st.retry_at = None
    if wait.kind == WaitKind.SIGNAL:
        st.deadline_at = at + timedelta(seconds=spec.timeout)
        for index, kept in enumerate(s.signals_kept):
            if kept["name"] in wait.listens_to:
                del s.signals_kept[index]
                _wait_resolved(s, spec, st, kept["name"], dict(kept.get("data") or {}))
                return
    elif wait.kind == WaitKind.SLEEP:
        st.deadline_at = at + timedelta(seconds=wait.seconds)
    else:
        when = time_in_data(s, wait.until)
        if when is None:
            st.status = StepStatus.FAILED
            st.awaiting_operator = True
            st.deadline_at = None
            st.last_error = f"no time at {wait.until} in the process's data"
            return
        st.deadline_at = max(when + timedelta(seconds=wait.offset), at)


def _wait_resolved(s: State, spec: StepSpec, st: StepState, name: str, data: dict[str, object]) -> str:
    """Signal `name` ends the wait: a success with the signal's data, or a failure for good."""
    wait = spec.wait
    assert wait is not None
    _clear_timers(st)
    if name in wait.signals:
        _wait_succeeded(s, spec, st, {"signal": name, "data": data})
        return f"signal {name}: {spec.key} done"
    compensating = _wait_failed(s, spec, st, f"signal {name}")
    return f"signal {name}: {spec.key} failed" + (", compensating" if compensating else "")


def _wait_succeeded(s: State, spec: StepSpec, st: StepState, output: dict[str, object]) -> None:
    st.status = StepStatus.SUCCEEDED
    st.output = output
    s.context[spec.key] = output
    st.done_order = _next_order(s)


def _wait_failed(s: State, spec: StepSpec, st: StepState, error: str) -> bool:
    """The wait fails for good (nothing was sent: nothing to undo); on the success path the process
    compensates. Returns whether it does."""
    st.status = StepStatus.FAILED
    st.refused = True
    st.awaiting_operator = False
    st.last_error = error
    if spec.phase != StepPhase.MAIN:
        return False
    _enter_compensation(s)
    return True


def _wait_over(s: State, spec: StepSpec, st: StepState, at: datetime) -> str:
    """A wait step's timer fired: a sleep is done; a wait for a signal ran out of time."""
    wait = spec.wait
    assert wait is not None
    _clear_timers(st)
    if wait.kind != WaitKind.SIGNAL:
        _wait_succeeded(s, spec, st, {})
        return ""
    if wait.on_timeout == OnTimeout.CONTINUE:
        _wait_succeeded(s, spec, st, {"timed_out": True})
        return f"no {' or '.join(wait.listens_to)} within {spec.timeout:g} s: going on"
    error = f"no {' or '.join(wait.listens_to)} within {spec.timeout:g} s"
    return f"{error}: compensating" if _wait_failed(s, spec, st, error) else error


def time_in_data(state: State, path: str) -> datetime | None:
    """The time at `path` ("input.<keys>" or "context.<step>.<keys>") in the process's data, read
    from ISO 8601 text (a date alone is its midnight, UTC); None when it is not there."""
    root, _, rest = path.partition(".")
    value: object = {"input": state.input, "context": state.context}.get(root)
    for key in rest.split(".") if rest else ():
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _apply_action_reply(s: State, spec: StepSpec, st: StepState, event: Event, attempt: int) -> str:
    succeeded = event.type == EventType.STEP_SUCCEEDED
    business = bool(event.payload.get("business")) and not succeeded
    current = attempt == st.attempt and st.status == StepStatus.RUNNING
    if not current:
        if attempt < 1 or attempt > st.attempt:
            return f"reply for attempt {attempt}, which was never sent: recorded, nothing changes"
        # Only a final answer for the idempotency key (success or business failure) settles a
        # step late, and only a step that has no definite outcome yet.
        unsettled = st.status in (StepStatus.RUNNING, StepStatus.RETRYING, StepStatus.PENDING) or (
            st.status == StepStatus.FAILED and not st.refused
        )
        if not (succeeded or business) or not unsettled:
            return f"late reply for attempt {attempt} (step is {st.status.value}): recorded, nothing changes"
    _clear_timers(st)
    if succeeded:
        st.status = StepStatus.SUCCEEDED
        st.output = dict(event.payload.get("output") or {})
        s.context[spec.key] = st.output
        st.in_doubt = False
        st.awaiting_operator = False
        st.done_order = _next_order(s)
        return "" if current else f"late success of attempt {attempt} settles the step"
    st.last_error = str(event.payload.get("error", ""))
    if business:
        st.status = StepStatus.FAILED
        st.in_doubt = False
        st.refused = True
        st.awaiting_operator = False
        if spec.phase == StepPhase.MAIN:
            _enter_compensation(s)
            return "business failure: compensating"
        # After compensation nothing is left to undo: the refusal (say, a bounced e-mail) is
        # recorded and the process ends without waking an operator.
        return "business failure after compensation: recorded, the process goes on"
    _after_failed_attempt(s, spec, st, event.at)
    return ""


def _after_failed_attempt(s: State, spec: StepSpec, st: StepState, at: datetime) -> None:
    """A technical failure or timeout of the current attempt: retry, or the budget is spent."""
    st.deadline_at = None
    if s.compensating and spec.phase == StepPhase.MAIN:
        # Compensation has begun: nothing more is attempted on the success path.
        st.status = StepStatus.FAILED
        return
    used = st.attempt - st.budget_from
    if used < spec.retry.max_attempts:
        st.status = StepStatus.RETRYING
        seed = f"{s.process_id}:{spec.key}:{ACTION}:{st.attempt}"
        st.retry_at = at + timedelta(seconds=retry_delay(spec.retry, used, seed=seed))
        return
    st.status = StepStatus.FAILED
    if spec.phase == StepPhase.MAIN and spec.on_exhausted == OnExhausted.COMPENSATE:
        _enter_compensation(s)
    else:
        st.awaiting_operator = True


def _apply_compensation_reply(s: State, spec: StepSpec, st: StepState, event: Event, attempt: int) -> str:
    succeeded = event.type == EventType.COMPENSATION_SUCCEEDED
    business = bool(event.payload.get("business")) and not succeeded
    current = attempt == st.comp_attempt and st.status == StepStatus.COMPENSATING
    if not current:
        if attempt < 1 or attempt > st.comp_attempt:
            return (
                f"reply for compensation attempt {attempt}, which was never sent: recorded, nothing changes"
            )
        if not succeeded or st.status not in COMPENSATION_IN_PROGRESS:
            return f"late reply for compensation attempt {attempt}: recorded, nothing changes"
    _clear_timers(st)
    if succeeded:
        st.comp_output = dict(event.payload.get("output") or {})
        st.awaiting_operator = False
        if st.skip_output is not None and not s.compensating:
            st.voided = True
            _finish_skip(s, spec, st)
            return "undone under its key: the step is skipped with the operator's output"
        st.status = StepStatus.COMPENSATED
        st.skip_output = None
        return "" if current else f"late success of compensation attempt {attempt} settles it"
    st.last_error = str(event.payload.get("error", ""))
    if business:
        st.status = StepStatus.COMPENSATION_FAILED
        return "compensation refused: waiting for an operator"
    _after_failed_compensation(spec, st, event.at, s.process_id)
    return ""


def _after_failed_compensation(spec: StepSpec, st: StepState, at: datetime, process_id: str) -> None:
    st.deadline_at = None
    used = st.comp_attempt - st.comp_budget_from
    if used < spec.retry.max_attempts:
        st.status = StepStatus.COMPENSATION_RETRYING
        seed = f"{process_id}:{spec.key}:{COMPENSATION}:{st.comp_attempt}"
        st.retry_at = at + timedelta(seconds=retry_delay(spec.retry, used, seed=seed))
    else:
        # A compensation is never given up silently: an operator decides.
        st.status = StepStatus.COMPENSATION_FAILED


def _apply_operator(definition: Definition, s: State, event: Event) -> str:
    try:
        check_operator_action(definition, s, event.type, event.step)
    except ActionNotAllowed as refused:
        return f"not applied: {refused}"
    kind = event.type
    if kind == EventType.OPERATOR_PAUSED:
        s.paused = True
    elif kind == EventType.OPERATOR_RESUMED:
        s.paused = False
    elif kind == EventType.OPERATOR_CANCELLED:
        s.cancel_requested = True
        _enter_compensation(s)
    elif kind == EventType.OPERATOR_TERMINATED:
        _end(s, ProcessStatus.TERMINATED, event.at)
        left = stays_on_terminate(definition, s)
        return "terminated; left in place: " + (", ".join(f"{k} ({why})" for k, why in left) or "nothing")
    elif kind == EventType.OPERATOR_COMPENSATED:
        if s.compensating:
            for st in s.steps.values():
                if st.status == StepStatus.COMPENSATION_FAILED:
                    _fresh_compensation_budget(st)
        _enter_compensation(s)
    elif kind == EventType.OPERATOR_RETRIED:
        assert event.step is not None
        st = s.steps[event.step]
        if st.status == StepStatus.FAILED:
            st.budget_from = st.attempt
            st.awaiting_operator = False
            st.status = StepStatus.PENDING
        elif st.status == StepStatus.RETRYING:
            st.status = StepStatus.PENDING
        else:  # a compensation
            if st.status == StepStatus.COMPENSATION_FAILED:
                _fresh_compensation_budget(st)
            st.status = StepStatus.COMPENSATION_PENDING
        st.retry_at = None
    elif kind == EventType.OPERATOR_SKIPPED:
        assert event.step is not None
        st = s.steps[event.step]
        _clear_timers(st)
        st.awaiting_operator = False
        output = dict(event.payload.get("output") or {})
        spec = definition.step(event.step)
        if st.status in COMPENSATION_IN_PROGRESS:
            if st.skip_output is not None and not s.compensating:
                # The undo before a skip: the operator vouches nothing is left to undo.
                _finish_skip(s, spec, st)
            else:  # the operator undid it by hand
                st.status = StepStatus.COMPENSATED
                st.comp_output = output
                st.skip_output = None
        elif st.attempt > 0 and spec.compensation and not st.refused and not s.compensating:
            # The service was asked and may still act under this step's key (a late or duplicated
            # command): undo that first, so nothing it did is left beside the operator's work.
            st.skip_output = output
            st.comp_budget_from = st.comp_attempt
            st.status = StepStatus.COMPENSATION_PENDING
            return f"skip: first undoing whatever {spec.command} did under the step's key"
        else:
            st.skip_output = output
            _finish_skip(s, spec, st)
    return ""


def stays_on_terminate(definition: Definition, state: State) -> list[tuple[str, str]]:
    """What a terminate leaves in place, as (step, why): each step whose service did, or may still
    do, something a cancel would undo, and that nothing will undo now."""
    left = []
    for spec in definition.steps:
        st = state.steps[spec.key]
        if spec.compensation is None or st.refused or st.attempt == 0:
            continue
        if st.status in (StepStatus.COMPENSATED, StepStatus.SKIPPED) or st.voided:
            continue  # undone, or settled by an operator's skip
        if st.status == StepStatus.SUCCEEDED:
            why = "done"
        elif st.status in COMPENSATION_IN_PROGRESS:
            why = "its undo is not finished"
        elif st.status == StepStatus.RUNNING or st.in_doubt:
            why = "may still act"
        else:
            why = "may have acted"
        left.append((spec.key, why))
    return left


def _finish_skip(s: State, spec: StepSpec, st: StepState) -> None:
    st.status = StepStatus.SKIPPED
    st.output = st.skip_output or {}
    st.skip_output = None
    st.in_doubt = False
    s.context[spec.key] = st.output


def _fresh_compensation_budget(st: StepState) -> None:
    st.comp_budget_from = st.comp_attempt
    st.awaiting_operator = False
    st.status = StepStatus.COMPENSATION_PENDING


def _enter_compensation(s: State) -> None:
    if s.compensating:
        return
    s.compensating = True
    for st in s.steps.values():
        st.awaiting_operator = False
        if st.status in (StepStatus.RETRYING, StepStatus.PENDING) and st.attempt > 0:
            # Abandon the success path; an attempt that may have acted is compensated below.
            st.status = StepStatus.FAILED
            st.retry_at = None


def _clear_timers(st: StepState) -> None:
    st.deadline_at = None
    st.retry_at = None


# --- deciding what to do next -----------------------------------------------------------------


def _advance(definition: Definition, s: State, at: datetime) -> list[Command]:
    commands: list[Command] = []
    if s.status in ProcessStatus.terminal():  # ended by the event itself (a terminate)
        return commands
    if not s.paused:
        if not s.compensating:
            # On the success path, the only compensations are the undos before an operator's skip.
            for spec in definition.phase_steps(StepPhase.MAIN):
                st = s.steps[spec.key]
                if st.status == StepStatus.COMPENSATION_PENDING:
                    commands.append(_send_compensation(s, spec, st, at))
            commands += _start_ready_steps(definition, s, StepPhase.MAIN, at)
            if all(s.steps[spec.key].status in DONE for spec in definition.phase_steps(StepPhase.MAIN)):
                _end(s, ProcessStatus.COMPLETED, at)
                return commands
        # Also when a wait that began just now failed at once (a signal kept for it).
        if s.compensating:
            commands += _advance_compensation(definition, s, at)
    if s.status not in ProcessStatus.terminal():
        s.status = _derived_status(s)
    return commands


def _advance_compensation(definition: Definition, s: State, at: datetime) -> list[Command]:
    main = definition.phase_steps(StepPhase.MAIN)
    for spec in main:  # a wait on the success path has nothing to wait for any more
        st = s.steps[spec.key]
        if spec.wait is not None and st.status == StepStatus.RUNNING:
            _clear_timers(st)
            st.status = StepStatus.FAILED
            st.last_error = "no longer waited for: the process is compensating"
    # Wait for every attempt under way on the success path to answer or time out.
    if any(s.steps[spec.key].status == StepStatus.RUNNING for spec in main):
        return []
    in_progress = [spec for spec in main if s.steps[spec.key].status in COMPENSATION_IN_PROGRESS]
    if in_progress:
        spec = in_progress[0]
        st = s.steps[spec.key]
        return [_send_compensation(s, spec, st, at)] if st.status == StepStatus.COMPENSATION_PENDING else []
    to_undo = [spec for spec in main if needs_compensation(spec, s.steps[spec.key])]
    if to_undo:
        # Newest first, one at a time: a step is undone before the steps it depended on.
        spec = max(to_undo, key=lambda sp: s.steps[sp.key].done_order or 0)
        st = s.steps[spec.key]
        st.status = StepStatus.COMPENSATION_PENDING
        return [_send_compensation(s, spec, st, at)]
    commands = _start_ready_steps(definition, s, StepPhase.AFTER_COMPENSATION, at)
    if _phase_settled(definition, s, StepPhase.AFTER_COMPENSATION):
        _end(s, ProcessStatus.CANCELLED if s.cancel_requested else ProcessStatus.COMPENSATED, at)
    return commands


def _phase_settled(definition: Definition, s: State, phase: StepPhase) -> bool:
    """Every step of `phase` is done, refused, or can never run because a dependency was refused."""
    settled: dict[str, bool] = {}

    def is_settled(key: str) -> bool:
        if key not in settled:
            st = s.steps[key]
            refused = st.status == StepStatus.FAILED and st.refused
            blocked = st.status == StepStatus.PENDING and any(
                s.steps[dep].status not in DONE and is_settled(dep) for dep in definition.step(key).depends_on
            )
            settled[key] = st.status in DONE or refused or blocked
        return settled[key]

    return all(is_settled(spec.key) for spec in definition.phase_steps(phase))


def needs_compensation(spec: StepSpec, st: StepState) -> bool:
    """Whether the service may have acted for this step: asked at least once and never refused.

    A technical failure or a timeout does not prove that nothing happened (another copy of the
    command may still be delivered), and undoing by the idempotency key is harmless when nothing
    did. What an operator did by hand after skipping a step, the operator undoes by hand.
    """
    if not spec.compensation or st.attempt == 0 or st.voided:
        return False
    return st.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED) or (
        st.status == StepStatus.FAILED and not st.refused
    )


def _start_ready_steps(definition: Definition, s: State, phase: StepPhase, at: datetime) -> list[Command]:
    """Start every step of `phase` whose dependencies are done. A wait step sends nothing and
    may be over at once (a signal kept for it): then the steps after it are looked at again."""
    commands: list[Command] = []
    again = True
    while again:
        again = False
        for spec in definition.phase_steps(phase):
            if s.compensating and phase == StepPhase.MAIN:
                return commands  # a kept signal failed a wait: the success path stops here
            st = s.steps[spec.key]
            if st.status != StepStatus.PENDING or any(
                s.steps[dep].status not in DONE for dep in spec.depends_on
            ):
                continue
            if spec.wait is None:
                commands.append(_send_action(s, spec, st, at))
            else:
                _start_wait(s, spec, st, at)
                again = again or st.status in DONE
    return commands


def _send_action(s: State, spec: StepSpec, st: StepState, at: datetime) -> Command:
    st.attempt += 1
    st.status = StepStatus.RUNNING
    st.done_order = _next_order(s)
    return _command(s, spec, st, at, kind=ACTION, name=spec.command, attempt=st.attempt)


def _send_compensation(s: State, spec: StepSpec, st: StepState, at: datetime) -> Command:
    assert spec.compensation is not None
    st.comp_attempt += 1
    st.status = StepStatus.COMPENSATING
    return _command(s, spec, st, at, kind=COMPENSATION, name=spec.compensation, attempt=st.comp_attempt)


def _command(
    s: State, spec: StepSpec, st: StepState, at: datetime, *, kind: str, name: str, attempt: int
) -> Command:
    st.deadline_at = at + timedelta(seconds=spec.timeout)
    st.retry_at = None
    return Command(
        message_id=f"{s.process_id}:{spec.key}:{kind}:{attempt}",
        name=name,
        step=spec.key,
        kind=kind,
        attempt=attempt,
        # One key per step, for every attempt and for its compensation: the service acts at most
        # once for it, and the compensation undoes exactly what that key did.
        idempotency_key=f"{s.process_id}:{spec.key}",
        payload={"input": s.input, "context": s.context, "params": spec.params},
    )


def _next_order(s: State) -> int:
    s.order_counter += 1
    return s.order_counter


def _derived_status(s: State) -> ProcessStatus:
    if s.paused:
        return ProcessStatus.PAUSED
    if any(st.awaiting_operator or st.status == StepStatus.COMPENSATION_FAILED for st in s.steps.values()):
        return ProcessStatus.WAITING
    return ProcessStatus.COMPENSATING if s.compensating else ProcessStatus.RUNNING


def _end(s: State, status: ProcessStatus, at: datetime) -> None:
    s.status = status
    s.ended_at = at
    for st in s.steps.values():
        _clear_timers(st)
