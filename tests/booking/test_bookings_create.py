"""Bookings started together: one short transaction whatever their number."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from booking import bookings
from booking.bookings import Trip, bookings_create
from booking.models import Booking
from booking.trip import trip_random
from orchestrator.models import HistoryEntry, Outbox, ProcessInstance
from orchestrator.processes import InvalidInput
from tests.support.engine import SentTasks

pytestmark = [pytest.mark.usefixtures("trip_workflows"), pytest.mark.django_db]


def trips(count: int) -> list[Trip]:
    rng = random.Random(7)
    return [Trip(**trip_random(rng)) for _ in range(count)]


def statements(queries: CaptureQueriesContext) -> list[str]:
    """What the database was asked, savepoints and transaction bounds aside."""
    skipped = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT")
    return [q["sql"] for q in queries.captured_queries if not q["sql"].upper().startswith(skipped)]


def test_twenty_bookings_start_in_as_many_statements_as_one(
    sent_tasks: SentTasks, django_capture_on_commit_callbacks: Any
) -> None:
    # The workflow's version is frozen by its first process: start one before counting.
    bookings_create(trips(1))
    with CaptureQueriesContext(connection) as one:
        bookings_create(trips(1))
    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as twenty:
        made = bookings_create(trips(20))
    assert len(statements(twenty)) == len(statements(one)), statements(twenty)

    assert len(made) == 20 and len({booking.reference for booking in made}) == 20
    for booking in made:
        booking.refresh_from_db()
        process = ProcessInstance.objects.get(booking=booking)
        assert process.business_key == booking.reference
        assert process.input["booking_id"] == str(booking.pk)
        assert process.seq == 1 and process.state["seq"] == 1
        assert HistoryEntry.objects.filter(process=process, type="process.started").count() == 1
        assert Outbox.objects.filter(process=process).count() == 1  # the payment's command
    # Published after the commit, one command per booking.
    assert len(sent_tasks.calls) == 20
    assert {call["args"][0]["process_id"] for call in sent_tasks.calls} == {str(b.process_id) for b in made}


def test_on_postgresql_bookings_start_in_four_statements(on_postgres: None) -> None:
    bookings_create(trips(1))  # the version frozen
    with CaptureQueriesContext(connection) as queries:
        bookings_create(trips(20))
    # The version read, the processes inserted, their histories and commands, the bookings.
    assert len(statements(queries)) == 4, statements(queries)


def test_a_reference_taken_draws_the_whole_batch_again(monkeypatch: pytest.MonkeyPatch) -> None:
    (first,) = bookings_create(trips(1))
    drawn = iter([first.reference, "TRP-BBBBBB", "TRP-CCCCCC", "TRP-DDDDDD"])
    monkeypatch.setattr(bookings, "booking_reference_new", lambda: next(drawn))
    made = bookings_create(trips(2))
    assert [booking.reference for booking in made] == ["TRP-CCCCCC", "TRP-DDDDDD"]
    assert Booking.objects.count() == 3 and ProcessInstance.objects.count() == 3
    first.refresh_from_db()
    assert ProcessInstance.objects.get(booking=first).business_key == first.reference


def test_an_input_the_workflow_cannot_read_starts_none_of_them() -> None:
    bad = Trip("Ada", "not an address", {}, Decimal("10.00"), "EUR")
    with pytest.raises(InvalidInput):
        bookings_create([*trips(2), bad])
    assert Booking.objects.count() == 0 and ProcessInstance.objects.count() == 0
