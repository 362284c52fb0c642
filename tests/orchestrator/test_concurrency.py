"""Races on PostgreSQL, where row locks are real: the engine serialises what must be serialised."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from booking.demo import demo_workflows_load
from orchestrator import transition_sql
from orchestrator.messages import reply_envelope, reply_parse
from orchestrator.models import HistoryEntry, Outbox, ProcessInstance
from orchestrator.processes import process_start, timers_fire
from tests.support.engine import SentTasks, answer, last_command, reply_take, service_run
from tests.support.threads import run_together

pytestmark = [pytest.mark.postgres]

TRIP = {
    "reference": "TRP-RACE01",
    "customer_name": "Ada",
    "customer_email": "ada@example.com",
    "amount": "420.00",
    "currency": "EUR",
    "itinerary": {},
}


@pytest.fixture
def workflows(postgres_url: str) -> None:
    demo_workflows_load()


def test_parallel_replies_are_serialised_and_the_join_fires_once(workflows: None) -> None:
    process, _ = process_start(workflow="trip-booking-parallel", business_key="TRP-RACE01", input=TRIP)
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    flight = reply_envelope(last_command(process, "flight"), succeeded=True, output={"pnr": "XY12ZQ"})
    hotel = reply_envelope(
        last_command(process, "hotel"), succeeded=True, output={"confirmation": "H1234567"}
    )
    results = run_together([lambda: reply_take(flight), lambda: reply_take(hotel)])
    assert [getattr(r, "status", r) for r in results] == ["applied", "applied"]
    process.refresh_from_db()
    assert list(
        HistoryEntry.objects.filter(process=process).order_by("seq").values_list("seq", flat=True)
    ) == [
        1,
        2,
        3,
        4,
    ]
    assert Outbox.objects.filter(process=process, task_name="notifications.send").count() == 1
    assert process.state["steps"]["notify"]["status"] == "running"


def test_the_same_reply_delivered_twice_at_once_is_recorded_once(workflows: None) -> None:
    process, _ = process_start(workflow="trip-booking", business_key="TRP-RACE01", input=TRIP)
    body = reply_envelope(last_command(process, "payment"), succeeded=True, output={"payment_id": "p"})
    results = run_together([lambda: reply_take(body) for _ in range(4)])
    assert sorted(getattr(r, "status", str(r)) for r in results) == [
        "applied",
        "duplicate",
        "duplicate",
        "duplicate",
    ]
    assert Outbox.objects.filter(process=process, task_name="flights.book").count() == 1


def test_a_reply_applied_while_the_lock_waited_is_seen_as_a_duplicate(postgres_url: str) -> None:
    """The lock statement reads the history as it stood when it began: when it waited for another
    worker that applied the same reply meanwhile, the duplicate must still be recognised."""
    import psycopg

    demo_workflows_load()
    process, _ = process_start(workflow="trip-booking", business_key="TRP-RACE01", input=TRIP)
    message_id = str(uuid.uuid4())
    other = psycopg.connect(postgres_url)  # another worker, half-way through the same reply
    other.execute("SELECT 1 FROM orchestrator_processinstance WHERE id = %s FOR UPDATE", [process.pk])
    locker: dict[str, object] = {}

    def lock_and_read() -> None:
        from django.db import connection, transaction

        try:
            with transaction.atomic():
                locker["pid"] = connection.connection.info.backend_pid
                locker["seen"] = transition_sql.processes_lock([str(process.pk)], [message_id])[1]
        finally:
            connection.close()

    waiting = threading.Thread(target=lock_and_read)
    waiting.start()
    watcher = psycopg.connect(postgres_url, autocommit=True)
    deadline = time.monotonic() + 10
    while not watcher.execute(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'", [locker.get("pid", 0)]
    ).fetchone():
        assert time.monotonic() < deadline, "the lock statement never waited for the other worker"
        time.sleep(0.01)
    other.execute(
        "INSERT INTO orchestrator_historyentry (process_id, seq, message_id, type, step, attempt, payload,"
        " actor, reason, note, created_at) VALUES (%s, 2, %s, 'step_succeeded', 'payment', 1, '{}', '',"
        " '', '', now())",
        [process.pk, message_id],
    )
    other.execute("UPDATE orchestrator_processinstance SET seq = 2 WHERE id = %s", [process.pk])
    other.commit()
    waiting.join(10)
    other.close()
    watcher.close()
    assert locker["seen"] == {message_id}


def test_a_replys_commit_goes_with_its_write_and_its_command_leaves_after_it(
    postgres_url: str, sent_tasks: SentTasks, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    demo_workflows_load()
    process, _ = process_start(workflow="trip-booking", business_key="TRP-RACE01", input=TRIP)
    body = reply_envelope(last_command(process, "payment"), succeeded=True, output={"payment_id": "p"})
    committed_when_sent: list[int] = []
    watcher = psycopg.connect(postgres_url, autocommit=True)

    from orchestrator import publishing

    sent_before = publishing.tasks_publish

    def publish(messages: Any) -> None:
        (count,) = watcher.execute(  # read by another connection: only what was committed
            "SELECT count(*) FROM orchestrator_historyentry WHERE message_id = %s", [body["message_id"]]
        ).fetchone() or (0,)
        committed_when_sent.append(count)
        sent_before(messages)

    monkeypatch.setattr(publishing, "tasks_publish", publish)
    try:
        with CaptureQueriesContext(connection) as captured:
            assert reply_take(body).status == "applied"
    finally:
        watcher.close()
    writes = [
        q["sql"] for q in captured.captured_queries if "INSERT INTO orchestrator_historyentry" in q["sql"]
    ]
    assert len(writes) == 1 and writes[0].rstrip().endswith("COMMIT"), (
        "one round trip for the write and the commit"
    )
    assert committed_when_sent == [1], "the flight's command left once the reply was committed"
    assert sent_tasks.names() == ["payments.charge", "flights.book"]


def test_starting_the_same_business_key_ten_times_at_once_starts_one_process(workflows: None) -> None:
    results = run_together(
        [
            lambda: process_start(workflow="trip-booking", business_key="TRP-RACE01", input=TRIP)
            for _ in range(10)
        ]
    )
    ids = {r[0].pk for r in results if isinstance(r, tuple)}
    assert len(ids) == 1, results
    assert sum(1 for r in results if isinstance(r, tuple) and r[1]) == 1
    assert ProcessInstance.objects.count() == 1
    assert Outbox.objects.count() == 1


def test_concurrent_ticks_fire_each_timer_once(workflows: None) -> None:
    for n in range(20):
        process_start(workflow="trip-booking", business_key=f"TRP-T{n:04d}", input=TRIP)
    later = timezone.now() + timedelta(minutes=1)
    results = run_together([lambda: timers_fire(now=later, batch=7) for _ in range(4)])
    assert all(isinstance(r, int) for r in results), results
    # Whatever a round missed (rows locked by another tick), the next rounds take.
    while timers_fire(now=later):
        pass
    timed_out = HistoryEntry.objects.filter(type="step.timed_out")
    assert timed_out.count() == 20
    assert timed_out.values("process").distinct().count() == 20


def test_the_same_command_delivered_four_times_at_once_charges_once(
    workflows: None, sent_tasks: SentTasks
) -> None:
    """Two deliveries of one charge meet at the record's unique key: one charge, one outcome."""
    from booking.models import Charge

    process, _ = process_start(workflow="trip-booking", business_key="TRP-RACE01", input=TRIP)
    body = last_command(process, "payment").model_dump(mode="json")
    results = run_together([lambda: service_run("payments.charge", body) for _ in range(4)])
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert Charge.objects.filter(status="charged").count() == 1
    answers = [reply_parse(c["args"][0]) for c in sent_tasks.calls if c["name"] == "orchestrator.event"]
    assert len(answers) == 4  # every delivery answers, and the same
    assert len({answer.payload["output"]["payment_id"] for answer in answers}) == 1
