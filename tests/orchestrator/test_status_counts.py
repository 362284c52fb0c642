"""The counters the dashboard and /metrics show equal a plain GROUP BY, whatever moved the processes.

On PostgreSQL they are kept by triggers (orchestrator/migrations/0007_process_counts.py), in
shards that let concurrent transactions count without waiting for each other; elsewhere they are
counted. Processes are moved here through the engine's public functions, as services, the tick
and operators move them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.models import Count
from django.utils import timezone

from orchestrator.messages import reply_envelope
from orchestrator.models import HistoryEntry, Outbox, ProcessCount, ProcessInstance
from orchestrator.processes import messages_handle, operator_act, process_start, timers_fire
from orchestrator.selectors import process_counts, status_counts
from orchestrator.status import ProcessStatus
from tests.support.engine import answer, last_command, trip_input
from tests.support.people import an_operator
from tests.support.services import service_missing

pytestmark = pytest.mark.usefixtures("trip_workflows", "sent_tasks")


def counted() -> dict[tuple[str, str], int]:
    """The plain GROUP BY the counters must equal."""
    rows = ProcessInstance.objects.values_list("workflow_name", "status").annotate(n=Count("id")).order_by()
    return {(workflow, status): n for workflow, status, n in rows}


def start(key: str, workflow: str = "trip-booking") -> ProcessInstance:
    process, created = process_start(workflow=workflow, business_key=key, input=trip_input(key))
    assert created
    return process


def assert_counts_agree() -> None:
    assert process_counts() == counted()
    totals: Counter[str] = Counter()
    for (_, status), n in counted().items():
        totals[status] += n
    assert status_counts() == {status.value: totals[status.value] for status in ProcessStatus}


@pytest.fixture
def postgres() -> None:
    if connection.vendor != "postgresql":
        service_missing("PostgreSQL", "the counts kept by triggers are PostgreSQL's (set DATABASE_URL)")


def test_counts_follow_the_engine_through_replies_timers_and_operators() -> None:
    completed, refused, cancelled, timed_out = (start(f"TRP-CNT00{i}") for i in range(4))
    parallel = start("TRP-CNT005", workflow="trip-booking-parallel")
    assert_counts_agree()

    # A batch of replies, applied in one transaction (the snapshots in one UPDATE ... FROM VALUES).
    bodies = [
        reply_envelope(last_command(p, "payment"), succeeded=True, output={"payment_id": f"pay_{i}"})
        for i, p in enumerate([completed, refused, cancelled, parallel])
    ]
    assert {outcome.status for outcome in messages_handle(bodies)} == {"applied"}
    assert_counts_agree()

    answer(last_command(completed, "flight"), pnr="PNR001")
    answer(last_command(completed, "hotel"), confirmation="H0000001")
    answer(last_command(completed, "notify"), notification_id="1", to="ada@example.com")
    answer(last_command(refused, "flight"), succeeded=False, business=True)  # sold out: compensating
    assert_counts_agree()
    answer(last_command(refused, "payment"), refund_id="re_1", amount="420.00", currency="EUR")
    answer(last_command(refused, "notify_cancelled"), notification_id="2", to="ada@example.com")
    operator_act(process_id=str(cancelled.pk), action="pause", user=an_operator(), reason="hold it")
    assert_counts_agree()
    operator_act(process_id=str(cancelled.pk), action="cancel", user=an_operator(), reason="customer called")
    timers_fire(now=timezone.now() + timedelta(minutes=5))  # every attempt out has timed out by then
    assert_counts_agree()

    statuses = set(ProcessInstance.objects.values_list("status", flat=True))
    assert {ProcessStatus.COMPLETED, ProcessStatus.COMPENSATED, ProcessStatus.PAUSED} <= statuses
    assert timed_out.pk  # still at work, retrying its payment after the timeout


def test_counts_follow_deletes_and_truncates(postgres: None) -> None:
    kept, gone = start("TRP-CNT101"), start("TRP-CNT102")
    answer(last_command(kept, "payment"), succeeded=False, business=True)
    with connection.cursor() as cursor:  # the engine never deletes; a database administrator may
        for model in (HistoryEntry, Outbox):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE process_id = %s", [gone.pk])
        cursor.execute(f"DELETE FROM {ProcessInstance._meta.db_table} WHERE id = %s", [gone.pk])
    assert_counts_agree()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no foreign key check pending: TRUNCATE refuses
        cursor.execute(f"TRUNCATE {ProcessInstance._meta.db_table} CASCADE")
    assert process_counts() == {} and not ProcessCount.objects.exists()


def test_the_counters_are_a_few_rows_not_the_table(postgres: None) -> None:
    for i in range(30):
        start(f"TRP-CNT2{i:02d}")
    # One transaction (this test's) counted every start in one shard.
    assert ProcessCount.objects.count() == 1
    assert process_counts() == {("trip-booking", ProcessStatus.RUNNING.value): 30}


@pytest.fixture
def other_connection_closed() -> Iterator[None]:
    yield
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_concurrent_transactions_never_wait_on_a_counter(
    postgres: None, other_connection_closed: None
) -> None:
    """A transaction that started a process and has not committed holds its counter rows; another
    one, starting and moving processes meanwhile, must not wait for them (a hot row would make
    every transition queue behind the slowest)."""
    start("TRP-CNT300")  # the first start freezes the workflow's version, under its row's lock
    holding, release = threading.Event(), threading.Event()
    failure: list[Exception] = []

    def hold_open() -> None:
        try:
            with transaction.atomic():
                start("TRP-CNT301")
                holding.set()
                release.wait(timeout=30)
        except Exception as exc:  # reported to the main thread
            failure.append(exc)
            holding.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold_open)
    thread.start()
    try:
        assert holding.wait(timeout=30) and not failure
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")  # waiting on the other's row fails
            other = start("TRP-CNT302")
            answer(last_command(other, "payment"), succeeded=False, business=True)
    finally:
        release.set()
        thread.join(timeout=30)
    assert not failure
    assert_counts_agree()
    assert ProcessCount.objects.values("shard").distinct().count() >= 2
