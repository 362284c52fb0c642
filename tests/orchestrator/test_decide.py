"""The decision function, path by path, without a database."""

from __future__ import annotations

import pytest

from orchestrator.engine.decide import (
    ActionNotAllowed,
    check_operator_action,
    retry_delay,
    stays_on_terminate,
)
from orchestrator.engine.types import COMPENSATION, EventType, RetryPolicy
from orchestrator.status import OnExhausted
from tests.orchestrator.harness import Harness, trip_definition


def run_to_hotel(h: Harness) -> None:
    h.start()
    h.succeed("payment", payment_id="pay_1")
    h.succeed("flight", pnr="XY12Z")


def test_happy_path_runs_the_steps_in_order_and_completes() -> None:
    h = Harness(trip_definition())
    assert [c.name for c in h.start()] == ["payments.charge"]
    assert [c.name for c in h.succeed("payment", payment_id="pay_1")] == ["flights.book"]
    assert [c.name for c in h.succeed("flight", pnr="XY12Z")] == ["hotels.book"]
    assert [c.name for c in h.succeed("hotel", confirmation="H-1")] == ["notifications.send"]
    assert h.succeed("notify") == []
    assert h.status() == "completed"
    assert h.state.context == {
        "payment": {"payment_id": "pay_1"},
        "flight": {"pnr": "XY12Z"},
        "hotel": {"confirmation": "H-1"},
        "notify": {},
    }
    assert h.state.ended_at == h.now
    assert h.state.next_wake_up() is None
    assert h.replayed() == h.state


def test_commands_carry_input_context_and_a_stable_idempotency_key() -> None:
    h = Harness(trip_definition())
    (charge,) = h.start(amount="420.00", currency="EUR")
    assert charge.payload == {"input": {"amount": "420.00", "currency": "EUR"}, "context": {}, "params": {}}
    assert charge.idempotency_key == "p1:payment"
    assert charge.message_id == "p1:payment:action:1"
    (book,) = h.succeed("payment", payment_id="pay_1")
    assert book.payload["context"] == {"payment": {"payment_id": "pay_1"}}


def test_technical_failure_is_retried_after_backoff_with_the_same_key() -> None:
    h = Harness(trip_definition())
    h.start()
    assert h.fail("payment") == []
    assert h.status("payment") == "retrying"
    assert h.state.steps["payment"].retry_at is not None
    assert h.advance(0.5) == []  # backoff of 1 s not yet over
    (retry,) = h.advance(0.6)
    assert (retry.attempt, retry.idempotency_key) == (2, "p1:payment")
    assert [c.name for c in h.succeed("payment")] == ["flights.book"]
    assert h.replayed() == h.state


def test_backoff_grows_by_the_multiplier_up_to_the_maximum() -> None:
    policy = RetryPolicy(max_attempts=10, initial_delay=1, multiplier=3, max_delay=20)
    assert [retry_delay(policy, n, seed="x") for n in (1, 2, 3, 4)] == [1, 3, 9, 20]


def test_backoff_stays_at_the_maximum_after_thousands_of_attempts() -> None:
    assert retry_delay(RetryPolicy(initial_delay=1, multiplier=2, max_delay=60), 5000, seed="x") == 60
    assert retry_delay(RetryPolicy(initial_delay=0, multiplier=2, max_delay=60), 5000, seed="x") == 0


def test_jitter_is_deterministic_and_bounded() -> None:
    policy = RetryPolicy(initial_delay=10, jitter=0.2)
    delays = {retry_delay(policy, 1, seed=f"p{i}") for i in range(50)}
    assert all(8 <= d <= 12 for d in delays)
    assert len(delays) > 40
    assert retry_delay(policy, 1, seed="p1") == retry_delay(policy, 1, seed="p1")


def test_retries_exhausted_with_pause_waits_for_an_operator() -> None:
    h = Harness(trip_definition(max_attempts=2))
    h.start()
    h.fail("payment")
    h.advance(1)
    h.fail("payment")
    assert h.status("payment") == "failed"
    assert h.status() == "waiting"
    assert h.state.steps["payment"].awaiting_operator
    assert h.advance(3600) == []


def test_operator_retry_after_exhaustion_gives_a_fresh_budget() -> None:
    h = Harness(trip_definition(max_attempts=2))
    h.start()
    h.fail("payment")
    h.advance(1)
    h.fail("payment")
    (retry,) = h.operator(EventType.OPERATOR_RETRIED, "payment").commands
    assert retry.attempt == 3
    assert h.status() == "running"
    h.fail("payment")
    assert h.status("payment") == "retrying"  # a fresh budget of two attempts
    h.advance(1)
    h.succeed("payment")
    assert h.status("flight") == "running"
    assert h.replayed() == h.state


def test_retries_exhausted_with_compensate_undoes_what_was_done() -> None:
    h = Harness(trip_definition(max_attempts=1, on_exhausted=OnExhausted.COMPENSATE))
    h.start()
    h.succeed("payment")
    # The flight failed technically, which does not prove it was not booked: undo it first.
    (cancel,) = h.fail("flight")
    assert h.status() == "compensating"
    assert (cancel.name, cancel.kind, cancel.idempotency_key) == ("flights.cancel", COMPENSATION, "p1:flight")
    (refund,) = h.compensated("flight")
    assert (refund.name, refund.idempotency_key) == ("payments.refund", "p1:payment")
    (notify,) = h.compensated("payment")
    assert notify.step == "notify_cancelled"
    h.succeed("notify_cancelled")
    assert h.status() == "compensated"
    assert h.replayed() == h.state


@pytest.mark.parametrize(
    ("failing", "expected_compensations"),
    [
        ("payment", []),
        ("flight", ["payments.refund"]),
        ("hotel", ["flights.cancel", "payments.refund"]),
        ("notify", ["hotels.cancel", "flights.cancel", "payments.refund"]),
    ],
)
def test_business_failure_compensates_done_steps_newest_first(
    failing: str, expected_compensations: list[str]
) -> None:
    h = Harness(trip_definition())
    h.start()
    for step in ("payment", "flight", "hotel", "notify"):
        if step == failing:
            h.fail(step, business=True)
            break
        h.succeed(step)
    done = []
    while h.status() == "compensating":
        pending = [c for c in h.sent if c.kind == COMPENSATION and c.step not in done]
        if not pending:
            break
        done.append(pending[0].step)
        h.compensated(pending[0].step)
    assert [c.name for c in h.sent if c.kind == COMPENSATION] == expected_compensations
    assert h.sent[-1].step == "notify_cancelled"
    h.succeed("notify_cancelled")
    assert h.status() == "compensated"
    for step in ("payment", "flight", "hotel"):
        expected = "compensated" if any(c.step == step for c in h.sent if c.kind == COMPENSATION) else None
        if expected:
            assert h.status(step) == expected
    assert h.replayed() == h.state


def test_compensation_retries_then_waits_for_an_operator_never_giving_up() -> None:
    h = Harness(trip_definition(max_attempts=2))
    h.start()
    h.succeed("payment")
    h.fail("flight", business=True)
    h.compensation_fails("payment")
    assert h.status("payment") == "compensation_retrying"
    (again,) = h.advance(1)
    assert again.attempt == 2 and again.kind == COMPENSATION
    h.compensation_fails("payment")
    assert h.status("payment") == "compensation_failed"
    assert h.status() == "waiting"
    assert h.advance(3600) == []
    (third,) = h.operator(EventType.OPERATOR_RETRIED, "payment").commands
    assert third.attempt == 3
    h.compensated("payment")
    h.succeed("notify_cancelled")
    assert h.status() == "compensated"
    assert h.replayed() == h.state


def test_parallel_steps_start_together_and_join() -> None:
    h = Harness(trip_definition(parallel=True))
    h.start()
    assert sorted(c.name for c in h.succeed("payment")) == ["flights.book", "hotels.book"]
    assert h.succeed("hotel") == []  # notify waits for the flight too
    assert [c.name for c in h.succeed("flight")] == ["notifications.send"]


def test_parallel_branch_failing_waits_for_the_other_then_compensates_it() -> None:
    h = Harness(trip_definition(parallel=True))
    h.start()
    h.succeed("payment")
    assert h.fail("hotel", business=True) == []  # the flight is still in flight
    assert h.status() == "compensating"
    (cancel,) = h.succeed("flight", pnr="XY12Z")
    assert cancel.name == "flights.cancel"
    (refund,) = h.compensated("flight")
    assert refund.name == "payments.refund"
    h.compensated("payment")
    h.succeed("notify_cancelled")
    assert h.status() == "compensated"
    assert h.status("hotel") == "failed"
    assert h.replayed() == h.state


def test_parallel_branch_failing_technically_during_compensation_is_not_retried_but_undone() -> None:
    h = Harness(trip_definition(parallel=True))
    h.start()
    h.succeed("payment")
    h.fail("hotel", business=True)  # refused: nothing to undo
    (cancel,) = h.fail("flight")  # technical: no retry, but a late copy might still book it
    assert cancel.name == "flights.cancel"
    assert h.status("flight") == "compensating"
    (refund,) = h.compensated("flight")
    assert refund.name == "payments.refund"
    assert not any(c.name == "hotels.cancel" for c in h.sent)


def test_timeout_puts_the_step_in_doubt_and_retries_with_the_same_key() -> None:
    h = Harness(trip_definition(timeout=10))
    h.start()
    assert h.advance(10) == []
    st = h.state.steps["payment"]
    assert st.in_doubt and st.status.value == "retrying"
    (retry,) = h.advance(1)
    assert (retry.attempt, retry.idempotency_key) == (2, "p1:payment")
    h.succeed("payment")
    assert not h.state.steps["payment"].in_doubt
    assert h.replayed() == h.state


def test_late_success_of_a_timed_out_attempt_settles_the_step() -> None:
    h = Harness(trip_definition(timeout=10))
    h.start()
    h.advance(11)  # attempt 1 timed out, attempt 2 sent
    assert h.state.steps["payment"].attempt == 2
    assert [c.name for c in h.succeed("payment", attempt=1, payment_id="pay_1")] == ["flights.book"]
    assert "late success" in h.notes[-1]
    # The answer to attempt 2 is now a late duplicate and changes nothing.
    assert h.succeed("payment", attempt=2) == []
    assert "late reply" in h.notes[-1]
    assert h.state.context["payment"] == {"payment_id": "pay_1"}


def test_late_technical_failure_of_a_superseded_attempt_changes_nothing() -> None:
    h = Harness(trip_definition(timeout=10))
    h.start()
    h.advance(11)
    before = h.state
    assert h.fail("payment", attempt=1) == []
    assert h.state.steps == before.steps
    assert h.status("payment") == "running"


def test_late_success_after_exhaustion_resumes_the_process() -> None:
    h = Harness(trip_definition(max_attempts=1, timeout=10))
    h.start()
    h.advance(10)
    assert h.status() == "waiting"
    assert [c.name for c in h.succeed("payment", attempt=1)] == ["flights.book"]
    assert h.status() == "running"


def test_in_doubt_step_is_compensated_when_the_process_compensates() -> None:
    h = Harness(trip_definition(max_attempts=1, timeout=10, on_exhausted=OnExhausted.COMPENSATE))
    h.start()
    h.succeed("payment")
    (refund_flight,) = h.advance(10)  # flight timed out: in doubt, budget spent, compensate
    assert refund_flight.name == "flights.cancel"  # the flight may have been booked: undo it first
    (refund,) = h.compensated("flight")
    assert refund.name == "payments.refund"


def test_duplicate_reply_changes_nothing() -> None:
    h = Harness(trip_definition())
    h.start()
    h.succeed("payment")
    before = h.state
    assert h.succeed("payment", attempt=1) == []
    assert h.state.steps == before.steps
    assert h.state.seq == before.seq + 1


def test_reply_for_an_attempt_never_sent_changes_nothing() -> None:
    h = Harness(trip_definition())
    h.start()
    assert h.succeed("payment", attempt=7) == []
    assert "never sent" in h.notes[-1]
    assert h.status("payment") == "running"


def test_cancellation_mid_flight_waits_then_compensates_and_ends_cancelled() -> None:
    h = Harness(trip_definition())
    run_to_hotel(h)
    assert h.operator(EventType.OPERATOR_CANCELLED).commands == ()
    assert h.status() == "compensating"
    (cancel_hotel,) = h.succeed("hotel")  # the hotel answered after the cancel: undo it
    assert cancel_hotel.name == "hotels.cancel"
    h.compensated("hotel")
    h.compensated("flight")
    h.compensated("payment")
    h.succeed("notify_cancelled")
    assert h.status() == "cancelled"
    assert h.state.steps["notify"].status.value == "pending"  # never ran
    # A late reply after the end is recorded and changes nothing.
    assert h.succeed("hotel", attempt=1) == []
    assert h.status() == "cancelled"
    assert h.replayed() == h.state


def test_pause_holds_new_commands_until_resume() -> None:
    h = Harness(trip_definition())
    h.start()
    h.operator(EventType.OPERATOR_PAUSED)
    assert h.status() == "paused"
    assert h.succeed("payment") == []  # recorded, but the flight waits
    assert h.status("flight") == "pending"
    (book,) = h.operator(EventType.OPERATOR_RESUMED).commands
    assert book.name == "flights.book"
    assert h.status() == "running"


def test_skip_first_undoes_what_the_service_may_have_done_then_marks_the_step_done() -> None:
    h = Harness(trip_definition(max_attempts=1))
    h.start()
    h.succeed("payment")
    h.fail("flight")
    assert h.status() == "waiting"
    # The flights service was asked: a late copy of the command could still book a second flight.
    (void,) = h.operator(EventType.OPERATOR_SKIPPED, "flight", output={"pnr": "PHONE1"}).commands
    assert (void.name, void.idempotency_key) == ("flights.cancel", "p1:flight")
    assert h.status("flight") == "compensating"
    assert h.status() == "running"
    (book_hotel,) = h.compensated("flight")
    assert book_hotel.name == "hotels.book"
    assert h.state.context["flight"] == {"pnr": "PHONE1"}
    assert h.status("flight") == "skipped"
    assert h.state.steps["flight"].voided
    # Undone once under its key already: a later compensation of the trip leaves it alone.
    h.fail("hotel", business=True)
    assert [c.name for c in h.sent if c.kind == "compensation"] == ["flights.cancel", "payments.refund"]
    assert h.replayed() == h.state


def test_skip_of_a_step_never_attempted_needs_no_undo() -> None:
    h = Harness(trip_definition())
    h.start()
    h.succeed("payment")
    decision = h.operator(EventType.OPERATOR_SKIPPED, "hotel", output={"confirmation": "H-PHONE"})
    assert [c.name for c in decision.commands] == ["notifications.send"]  # notify waited for the hotel only
    assert h.status("hotel") == "skipped"


def test_operator_actions_that_do_not_apply_are_refused_with_a_reason() -> None:
    h = Harness(trip_definition())
    h.start()
    with pytest.raises(ActionNotAllowed, match="nothing to retry"):
        check_operator_action(h.definition, h.state, EventType.OPERATOR_RETRIED, "payment")
    with pytest.raises(ActionNotAllowed, match="cannot be skipped"):
        check_operator_action(h.definition, h.state, EventType.OPERATOR_SKIPPED, "payment")
    with pytest.raises(ActionNotAllowed, match="not paused"):
        check_operator_action(h.definition, h.state, EventType.OPERATOR_RESUMED, None)
    with pytest.raises(ActionNotAllowed, match="unknown step"):
        check_operator_action(h.definition, h.state, EventType.OPERATOR_RETRIED, "nope")
    h.operator(EventType.OPERATOR_CANCELLED)
    with pytest.raises(ActionNotAllowed, match="already being cancelled"):
        check_operator_action(h.definition, h.state, EventType.OPERATOR_CANCELLED, None)


def test_operator_event_that_no_longer_applies_is_recorded_as_such() -> None:
    h = Harness(trip_definition())
    h.start()
    decision = h.operator(EventType.OPERATOR_RESUMED)
    assert decision.note.startswith("not applied")
    assert h.status() == "running"


def test_events_after_the_end_change_nothing() -> None:
    h = Harness(trip_definition())
    h.start()
    for step in ("payment", "flight", "hotel", "notify"):
        h.succeed(step)
    before = h.state
    h.fail("hotel", business=True)
    assert h.state.status == before.status
    assert h.state.steps == before.steps


def test_a_refused_after_compensation_step_is_recorded_and_the_process_still_ends() -> None:
    h = Harness(trip_definition())
    h.start()
    h.fail("payment", business=True)
    assert [c.step for c in h.sent][-1] == "notify_cancelled"
    h.fail("notify_cancelled", business=True)  # the e-mail bounced
    assert h.status() == "compensated"
    assert h.state.steps["notify_cancelled"].refused
    assert "the process goes on" in h.notes[-1]


def test_after_compensation_step_whose_retries_are_spent_waits_for_an_operator() -> None:
    h = Harness(trip_definition(max_attempts=1))
    h.start()
    h.fail("payment", business=True)
    h.fail("notify_cancelled")
    assert h.status() == "waiting"
    (again,) = h.operator(EventType.OPERATOR_RETRIED, "notify_cancelled").commands
    h.succeed("notify_cancelled", attempt=again.attempt)
    assert h.status() == "compensated"


def test_a_step_blocked_behind_a_refused_after_compensation_step_does_not_hold_the_end() -> None:
    from dataclasses import replace

    base = trip_definition()
    extra = replace(base.step("notify_cancelled"), key="survey", depends_on=("notify_cancelled",))
    h = Harness(replace(base, steps=(*base.steps, extra)))
    h.start()
    h.fail("payment", business=True)
    h.fail("notify_cancelled", business=True)
    assert h.status() == "compensated"
    assert h.status("survey") == "pending"


# --- terminate: end at once, undo nothing -----------------------------------------------------


def test_terminate_ends_at_once_and_undoes_nothing() -> None:
    h = Harness(trip_definition())
    run_to_hotel(h)  # payment and flight done, the hotel under way
    decision = h.operator(EventType.OPERATOR_TERMINATED)
    assert decision.commands == ()
    assert h.status() == "terminated"
    assert h.state.ended_at == h.now
    assert h.state.next_wake_up() is None  # the hotel's timeout will not fire
    assert decision.note == "terminated; left in place: payment (done), flight (done), hotel (may still act)"
    assert stays_on_terminate(h.definition, h.state) == [
        ("payment", "done"),
        ("flight", "done"),
        ("hotel", "may still act"),
    ]
    # The hotel answers late: recorded, nothing sent, still terminated.
    assert h.succeed("hotel", confirmation="H-1") == []
    assert h.status() == "terminated"
    assert h.status("flight") == "succeeded"  # nothing was undone
    assert h.replayed() == h.state


def test_terminate_applies_to_a_waiting_or_paused_process_but_not_an_ended_one() -> None:
    h = Harness(trip_definition(max_attempts=1))
    h.start()
    h.fail("payment")  # out of attempts: waits for an operator
    assert h.status() == "waiting"
    h.operator(EventType.OPERATOR_TERMINATED)
    assert h.status() == "terminated"
    assert stays_on_terminate(h.definition, h.state) == [("payment", "may have acted")]
    with pytest.raises(ActionNotAllowed, match="terminated; nothing can be done any more"):
        check_operator_action(h.definition, h.state, EventType.OPERATOR_TERMINATED, None)

    paused = Harness(trip_definition())
    paused.start()
    paused.operator(EventType.OPERATOR_PAUSED)
    assert paused.status() == "paused"
    assert paused.operator(EventType.OPERATOR_TERMINATED).commands == ()
    assert paused.status() == "terminated"
    assert paused.replayed() == paused.state


def test_terminate_leaves_nothing_when_nothing_was_done_or_all_was_undone() -> None:
    h = Harness(trip_definition())
    h.start()
    h.fail("payment", business=True)  # card declined: refused, nothing to undo
    h.operator(EventType.OPERATOR_TERMINATED)
    assert stays_on_terminate(h.definition, h.state) == []
