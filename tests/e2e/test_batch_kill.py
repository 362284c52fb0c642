"""The orchestrator worker killed while it works through a backlog in batches: nothing is lost."""

from __future__ import annotations

from functools import partial

import pytest
import redis
from django.conf import settings
from django.db.models import QuerySet

from booking.ledger import money_problems
from booking.models import Booking, Charge
from booking.services.registry import service_names
from orchestrator.models import HistoryEntry
from tests.support.bookings import FAST_TRIP, book_many, statuses
from tests.support.services import broker_is_amqp, broker_url, broker_waiting
from tests.support.waiting import wait_until
from tests.support.workers import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.workers]

BACKLOG = 300


def test_a_worker_killed_in_the_middle_of_a_batch_loses_nothing(cluster: Cluster) -> None:
    queue = settings.ORCHESTRATOR_QUEUE
    cluster.kill(queue)  # the replies pile up while it is away
    for service in service_names():
        cluster.start(service)
    bookings = book_many(BACKLOG, FAST_TRIP)
    wait_until(lambda: broker_waiting(queue) >= BACKLOG, 60, "every payment's reply to wait")
    paid = HistoryEntry.objects.filter(type="step.succeeded", step="payment")
    for _ in range(3):
        held_before = _unacknowledged()
        done_before = paid.count()
        cluster.start(queue)
        wait_until(partial(_more_than, paid, done_before), 30, "a batch to commit")
        cluster.kill(queue)  # SIGKILL, as the OOM killer does, while it takes batch after batch
        assert paid.count() < BACKLOG, "the backlog was gone before the kill: nothing was tested"
        # Redis keeps what a consumer took and did not acknowledge: more than Celery's one
        # message means the kill caught a batch (a kill between two batches is tried again).
        if broker_is_amqp() or _unacknowledged() - held_before > 1:
            break
    else:
        pytest.fail("three kills never caught the worker in the middle of a batch")
    cluster.start(queue)
    wait_until(lambda: statuses(bookings) == {"completed"}, 240, "every booking to complete")
    assert Charge.objects.filter(status="charged").count() == BACKLOG
    assert money_problems(Booking.objects.filter(pk__in=[b.pk for b in bookings])) == []


def _more_than(rows: QuerySet[HistoryEntry], count: int) -> bool:
    return rows.count() > count


def _unacknowledged() -> int:
    """Messages taken from Redis and not acknowledged (kombu's "unacked" hash); 0 on RabbitMQ."""
    return 0 if broker_is_amqp() else int(redis.Redis.from_url(broker_url()).hlen("unacked"))
