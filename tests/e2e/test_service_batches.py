"""A service worker runs a backlog of commands in batches, and is killed in the middle of one:
every booking still completes, and each is charged exactly once."""

from __future__ import annotations

import json
from functools import partial

import pytest
import redis
from django.db.models import QuerySet

from booking.ledger import money_problems
from booking.models import Booking, Charge
from tests.support.bookings import FAST_TRIP, book_many, statuses
from tests.support.services import broker_is_amqp, broker_url, broker_waiting
from tests.support.waiting import wait_until
from tests.support.workers import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.workers]

BACKLOG = 300
QUEUE = "payments"


def test_a_service_worker_killed_in_the_middle_of_a_batch_charges_each_booking_once(cluster: Cluster) -> None:
    for name in ("flights", "hotels", "notifications"):  # the orchestrator and beat run already
        cluster.start(name)
    bookings = book_many(BACKLOG, FAST_TRIP)  # the payments queue fills while no worker takes it
    wait_until(lambda: broker_waiting(QUEUE) >= BACKLOG, 60, "every charge to wait in its queue")
    charged = Charge.objects.filter(status="charged")
    for _ in range(3):
        held_before = _unacknowledged_from(QUEUE)
        done_before = charged.count()
        cluster.start(QUEUE)
        wait_until(partial(_more_than, charged, done_before), 30, "a batch of charges to commit")
        cluster.kill(QUEUE)  # SIGKILL, while it takes batch after batch
        assert charged.count() < BACKLOG, "the backlog was gone before the kill: nothing was tested"
        # More than the one message Celery prefetches held unacknowledged: the kill caught a batch
        # (a kill between two batches is tried again).
        if broker_is_amqp() or _unacknowledged_from(QUEUE) - held_before > 1:
            break
    else:
        pytest.fail("three kills never caught the worker in the middle of a batch")
    cluster.start(QUEUE)
    wait_until(lambda: statuses(bookings) == {"completed"}, 240, "every booking to complete")
    assert charged.count() == BACKLOG
    assert money_problems(Booking.objects.filter(pk__in=[b.pk for b in bookings])) == []


def _more_than(rows: QuerySet[Charge], count: int) -> bool:
    return rows.count() > count


def _unacknowledged_from(queue: str) -> int:
    """Messages of `queue` taken from Redis and not acknowledged (kombu's "unacked" hash holds each
    as [message, exchange, routing key]); 0 on RabbitMQ."""
    if broker_is_amqp():
        return 0
    held = redis.Redis.from_url(broker_url()).hvals("unacked")
    return sum(1 for entry in held if json.loads(entry)[2] == queue)
