"""Wait steps and signals in the decision function, without a database: a trip whose payment needs
the bank's confirmation, a sleep, and a wait until a time in the booking's data."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.engine.decide import ActionNotAllowed, check_signal, stays_on_terminate, time_in_data
from orchestrator.engine.types import (
    Definition,
    EarlySignal,
    Event,
    EventType,
    OnTimeout,
    SignalSpec,
    StepSpec,
    WaitKind,
    WaitSpec,
)
from orchestrator.engine.validate import definition_problems
from orchestrator.status import ProcessStatus, StepStatus
from tests.orchestrator.harness import T0, Harness, trip_definition

BANK = WaitSpec(WaitKind.SIGNAL, signals=("payment_confirmed",), fail_on=("payment_declined",))
SIGNALS = (SignalSpec("payment_confirmed"), SignalSpec("payment_declined"), SignalSpec("late_news"))


def bank_trip(*, early: EarlySignal = EarlySignal.KEEP, on_timeout: OnTimeout = OnTimeout.FAIL) -> Definition:
    """payment -> bank (waits for the bank's word, 600 s) -> flight -> hotel -> notify."""
    trip = trip_definition()
    payment, flight, *rest = trip.steps
    bank = StepSpec(
        key="bank",
        command="",
        depends_on=("payment",),
        timeout=600,
        wait=replace(BANK, on_timeout=on_timeout),
    )
    signals = tuple(replace(signal, early=early) for signal in SIGNALS)
    return replace(trip, steps=(payment, bank, replace(flight, depends_on=("bank",)), *rest), signals=signals)


def signal(h: Harness, name: str, **data: Any) -> list[Any]:
    h._ids += 1
    event = Event(
        type=EventType.SIGNAL_RECEIVED,
        at=h.now,
        message_id=f"s{h._ids}",
        payload={"name": name, "data": data},
    )
    return list(h.feed(event).commands)


def test_the_definition_is_valid_and_its_wait_sends_nothing() -> None:
    h = Harness(bank_trip())
    assert definition_problems(h.definition, {"payments.charge": "payments.refund"} | _commands()) == []
    h.start()
    assert h.succeed("payment", payment_id="pay_1") == []  # the bank's wait begins: no command
    assert h.status("bank") == "running"
    assert h.state.next_wake_up() == h.now + timedelta(seconds=600)


def test_a_confirmation_ends_the_wait_with_its_data_and_the_trip_goes_on() -> None:
    h = Harness(bank_trip())
    h.start()
    h.succeed("payment", payment_id="pay_1")
    (book,) = signal(h, "payment_confirmed", authorisation="A-1")
    assert book.name == "flights.book"
    assert h.state.context["bank"] == {"signal": "payment_confirmed", "data": {"authorisation": "A-1"}}
    assert book.payload["context"]["bank"]["data"] == {"authorisation": "A-1"}
    assert signal(h, "payment_confirmed") == []  # a second one: recorded, nothing changes
    assert h.notes[-1] == "nothing waits for signal payment_confirmed now: recorded, nothing changes"
    assert h.replayed() == h.state


def test_a_decline_fails_the_wait_for_good_and_the_payment_is_refunded() -> None:
    h = Harness(bank_trip())
    h.start()
    h.succeed("payment", payment_id="pay_1")
    (refund,) = signal(h, "payment_declined", reason="3-D Secure failed")
    assert (refund.name, refund.step) == ("payments.refund", "payment")
    assert h.status("bank") == "failed"
    assert h.status() == "compensating"
    h.compensated("payment")
    assert [c.step for c in h.sent][-1] == "notify_cancelled"
    assert h.replayed() == h.state


def test_no_word_from_the_bank_within_the_timeout_compensates() -> None:
    h = Harness(bank_trip())
    h.start()
    h.succeed("payment", payment_id="pay_1")
    (refund,) = h.advance(601)
    assert refund.name == "payments.refund"
    assert h.state.steps["bank"].last_error == "no payment_confirmed or payment_declined within 600 s"
    assert h.replayed() == h.state


def test_a_timeout_that_goes_on_succeeds_with_timed_out() -> None:
    h = Harness(bank_trip(on_timeout=OnTimeout.CONTINUE))
    h.start()
    h.succeed("payment", payment_id="pay_1")
    (book,) = h.advance(601)
    assert book.name == "flights.book"
    assert h.state.context["bank"] == {"timed_out": True}


def test_a_signal_before_its_wait_is_kept_and_taken_when_the_wait_begins() -> None:
    h = Harness(bank_trip())
    h.start()
    check_signal(h.definition, h.state, "payment_confirmed")  # it may come early: kept
    assert signal(h, "payment_confirmed", authorisation="A-0") == []
    assert h.notes[-1] == "signal payment_confirmed kept until bank waits for it"
    with pytest.raises(ActionNotAllowed, match="received already"):
        check_signal(h.definition, h.state, "payment_confirmed")
    assert signal(h, "payment_confirmed", authorisation="A-2") == []  # a second copy is not kept
    assert len(h.state.signals_kept) == 1
    (book,) = h.succeed("payment", payment_id="pay_1")  # the wait begins, takes it, and is over
    assert book.name == "flights.book"
    assert h.state.signals_kept == []
    assert h.state.context["bank"]["data"] == {"authorisation": "A-0"}
    assert h.replayed() == h.state


def test_a_kept_decline_fails_the_wait_at_once_and_compensates() -> None:
    h = Harness(bank_trip())
    h.start()
    signal(h, "payment_declined")
    (refund,) = h.succeed("payment", payment_id="pay_1")
    assert refund.name == "payments.refund"
    assert h.status() == "compensating"
    assert h.replayed() == h.state


def test_an_early_signal_is_refused_when_the_workflow_says_so() -> None:
    h = Harness(bank_trip(early=EarlySignal.REFUSE))
    h.start()
    with pytest.raises(ActionNotAllowed, match="nothing waits for signal payment_confirmed now"):
        check_signal(h.definition, h.state, "payment_confirmed")
    assert signal(h, "payment_confirmed") == []  # if it comes anyway: recorded, not kept
    assert h.state.signals_kept == []
    h.succeed("payment", payment_id="pay_1")
    check_signal(h.definition, h.state, "payment_confirmed")  # now it is waited for


def test_unknown_signals_and_ended_processes_are_refused() -> None:
    h = Harness(bank_trip())
    h.start()
    with pytest.raises(ActionNotAllowed, match="declares no signal 'refund_please'"):
        check_signal(h.definition, h.state, "refund_please")
    assert signal(h, "refund_please") == []
    with pytest.raises(ActionNotAllowed, match="nothing waits for signal late_news now"):
        check_signal(h.definition, h.state, "late_news")
    h.operator(EventType.OPERATOR_TERMINATED)
    with pytest.raises(ActionNotAllowed, match="terminated; it takes no more signals"):
        check_signal(h.definition, h.state, "payment_confirmed")


def test_a_cancel_while_waiting_drops_the_wait_and_undoes_the_payment() -> None:
    h = Harness(bank_trip())
    h.start()
    h.succeed("payment", payment_id="pay_1")
    (refund,) = h.operator(EventType.OPERATOR_CANCELLED).commands
    assert refund.name == "payments.refund"
    assert h.status("bank") == "failed"
    assert h.state.steps["bank"].deadline_at is None
    assert stays_on_terminate(h.definition, h.state) == [("payment", "its undo is not finished")]
    assert signal(h, "payment_confirmed") == []  # too late: changes nothing
    assert h.replayed() == h.state


def test_a_reply_for_a_wait_step_changes_nothing() -> None:
    h = Harness(bank_trip())
    h.start()
    h.succeed("payment", payment_id="pay_1")
    assert h.succeed("bank", attempt=1) == []
    assert h.status("bank") == "running"
    assert "wait step" in h.notes[-1]


def sleeper(wait: WaitSpec) -> Definition:
    trip = trip_definition()
    payment, flight, *rest = trip.steps
    pause = StepSpec(key="pause", command="", depends_on=("payment",), wait=wait)
    return replace(trip, steps=(payment, pause, replace(flight, depends_on=("pause",)), *rest))


def test_a_sleep_goes_on_after_its_time() -> None:
    h = Harness(sleeper(WaitSpec(WaitKind.SLEEP, seconds=3600)))
    h.start()
    assert h.succeed("payment", payment_id="pay_1") == []
    assert h.advance(3599) == []
    (book,) = h.advance(2)
    assert book.name == "flights.book"
    assert h.replayed() == h.state


def test_a_wait_until_a_day_before_departure() -> None:
    h = Harness(sleeper(WaitSpec(WaitKind.UNTIL, until="input.itinerary.depart_on", offset=-86400)))
    h.start(amount="420.00", itinerary={"depart_on": "2026-01-03"})
    h.succeed("payment", payment_id="pay_1")
    assert h.state.steps["pause"].deadline_at == T0.replace(day=2, hour=0)
    assert h.advance(11 * 3600) == []  # T0 is 12:00 on the 1st: midnight of the 2nd is 12 h on
    (book,) = h.advance(3601)
    assert book.name == "flights.book"


def test_a_wait_until_a_past_time_goes_on_at_the_next_tick_and_a_missing_one_waits_for_an_operator() -> None:
    h = Harness(sleeper(WaitSpec(WaitKind.UNTIL, until="input.itinerary.depart_on", offset=-86400)))
    h.start(itinerary={"depart_on": "2025-06-01T10:00:00+02:00"})
    h.succeed("payment", payment_id="pay_1")
    assert h.state.steps["pause"].deadline_at == h.now
    (book,) = h.advance(0.001)
    assert book.name == "flights.book"

    missing = Harness(sleeper(WaitSpec(WaitKind.UNTIL, until="input.itinerary.depart_on")))
    missing.start()
    missing.succeed("payment", payment_id="pay_1")
    assert missing.status() == "waiting"
    assert (
        missing.state.steps["pause"].last_error
        == "no time at input.itinerary.depart_on in the process's data"
    )


def test_time_in_data_reads_dates_and_times_and_nothing_else() -> None:
    h = Harness(trip_definition())
    h.start(when="2026-05-01T08:30:00+00:00", day="2026-05-02", bad="soon", n=3)
    assert time_in_data(h.state, "input.when") == T0.replace(month=5, day=1, hour=8, minute=30)
    assert time_in_data(h.state, "input.day") == T0.replace(month=5, day=2, hour=0)
    assert time_in_data(h.state, "input.bad") is None
    assert time_in_data(h.state, "input.n") is None
    assert time_in_data(h.state, "input.none.deeper") is None
    assert time_in_data(h.state, "elsewhere.when") is None


def test_wait_steps_are_checked() -> None:
    trip = bank_trip()
    bad_wait = StepSpec(
        key="bank", command="payments.charge", depends_on=("payment",), wait=WaitSpec(WaitKind.SIGNAL)
    )
    problems = [
        str(p) for p in definition_problems(replace(trip, steps=(trip.steps[0], bad_wait)), _commands())
    ]
    assert "step 'bank', command: a wait step sends no command and has nothing to undo" in problems
    assert "step 'bank', wait: name the signals it waits for" in problems
    unknown = replace(BANK, signals=("who_knows",))
    problems = [
        str(p)
        for p in definition_problems(
            replace(trip, steps=(trip.steps[0], replace(trip.steps[1], wait=unknown))), _commands()
        )
    ]
    assert "step 'bank', wait: the workflow declares no signal 'who_knows'" in problems
    sleepless = replace(trip.steps[1], wait=WaitSpec(WaitKind.SLEEP, seconds=0))
    until_where = replace(trip.steps[1], wait=WaitSpec(WaitKind.UNTIL, until="tomorrow"))
    for step, message in (
        (sleepless, "sleeps more than 0 s and at most 30 days"),
        (until_where, "waits until a time at input.<path> or context.<step>.<path>"),
    ):
        found = [str(p) for p in definition_problems(replace(trip, steps=(trip.steps[0], step)), _commands())]
        assert f"step 'bank', wait: {message}" in found
    twice = replace(trip, signals=(SignalSpec("payment_confirmed"), SignalSpec("payment_confirmed")))
    assert "signals: the signal 'payment_confirmed' is declared more than once" in [
        str(p) for p in definition_problems(twice, _commands())
    ]


def _commands() -> dict[str, str | None]:
    return {
        "payments.charge": "payments.refund",
        "flights.book": "flights.cancel",
        "hotels.book": "hotels.cancel",
        "notifications.send": None,
    }


def test_signals_kept_survive_the_snapshot() -> None:
    from orchestrator.engine.codec import state_from_json, state_to_json

    h = Harness(bank_trip())
    h.start()
    signal(h, "payment_confirmed", authorisation="A-0")
    assert state_from_json(state_to_json(h.state)) == h.state
    plain = Harness(trip_definition())
    plain.start()
    assert "signals_kept" not in state_to_json(plain.state)  # snapshots without signals unchanged


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_whatever_order_signals_replies_and_timers_come_in(data: st.DataObject) -> None:
    """Signals early, late, twice, unknown, among replies, timeouts and operators: the history
    replays to the state, no command is ever sent for the wait, a kept signal is taken once, and
    once the world calms down the process ends (or waits for an operator)."""
    definition = bank_trip(
        early=data.draw(st.sampled_from(list(EarlySignal))),
        on_timeout=data.draw(st.sampled_from(list(OnTimeout))),
    )
    h = Harness(definition)
    h.start()
    moves = data.draw(
        st.lists(st.sampled_from(["reply", "signal", "wait", "cancel", "terminate"]), max_size=25)
    )
    for move in [*moves, *["calm"] * 40]:
        if h.state.status in ProcessStatus.terminal():
            break
        out = [(key, st_.attempt) for key, st_ in h.state.steps.items() if st_.status == StepStatus.RUNNING]
        out = [(key, attempt) for key, attempt in out if definition.step(key).wait is None]
        compensating = [key for key, st_ in h.state.steps.items() if st_.status == StepStatus.COMPENSATING]
        if move == "reply" and out:
            key, _ = data.draw(st.sampled_from(out))
            if data.draw(st.booleans()):
                h.succeed(key, ref=key)
            else:
                h.fail(key, business=data.draw(st.booleans()))
        elif move == "signal":
            signal(
                h, data.draw(st.sampled_from(["payment_confirmed", "payment_declined", "late_news", "nope"]))
            )
        elif move == "wait":
            h.advance(data.draw(st.sampled_from([1, 30, 601])))
        elif move == "cancel":
            h.operator(EventType.OPERATOR_CANCELLED)
        elif move == "terminate" and data.draw(st.integers(0, 4)) == 0:
            h.operator(EventType.OPERATOR_TERMINATED)
        elif move == "calm":  # every command answered with a success, the bank confirms, time passes
            for key, _ in out:
                h.succeed(key, ref=key)
            for key in compensating:
                h.compensated(key)
            if h.state.steps["bank"].status == StepStatus.RUNNING:
                signal(h, "payment_confirmed")
            if not out and not compensating:
                h.advance(60)
        names = [kept["name"] for kept in h.state.signals_kept]
        assert len(names) == len(set(names)), names
    assert not [c for c in h.sent if c.step == "bank"]
    assert h.state.status in ProcessStatus.terminal() or h.state.status == ProcessStatus.WAITING, (
        h.state.status
    )
    assert h.replayed() == h.state
    if h.state.status == ProcessStatus.COMPLETED:
        bank = h.state.context["bank"]
        assert bank.get("signal") == "payment_confirmed" or bank == {"timed_out": True}
