"""The orchestrator worker killed while it works through a backlog in batches: nothing is lost."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from booking.ledger import money_problems
from booking.models import Booking, Charge
from orchestrator.models import HistoryEntry
from tests.e2e.conftest import Cluster, book, statuses, wait_until
from tests.support.services import broker_is_amqp, broker_url, broker_waiting

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.workers]

BACKLOG = 300


def test_a_worker_killed_in_the_middle_of_a_batch_loses_nothing(cluster: Cluster) -> None:
    queue = settings.ORCHESTRATOR_QUEUE
    cluster.kill(queue)  # the replies pile up while it is away
    for service in settings.SERVICE_QUEUES:
        cluster.start(service)
    bookings = book(BACKLOG)
    wait_until(lambda: broker_waiting(queue) >= BACKLOG, 60, "every payment's reply to wait")
    cluster.start(queue)
    paid = HistoryEntry.objects.filter(type="step.succeeded", step="payment")
    wait_until(lambda: paid.exists(), 30, "the first batch to commit")
    cluster.kill(queue)  # SIGKILL, as the OOM killer does, while it takes batch after batch
    assert paid.count() < BACKLOG, "the backlog was gone before the kill: nothing was tested"
    if not broker_is_amqp():
        # Redis keeps what a consumer took and did not acknowledge: a whole batch, not one message.
        assert redis.Redis.from_url(broker_url()).hlen("unacked") > 1
    cluster.start(queue)
    wait_until(lambda: statuses(bookings) == {"completed"}, 240, "every booking to complete")
    assert Charge.objects.filter(status="charged").count() == BACKLOG
    assert money_problems(Booking.objects.filter(pk__in=[b.pk for b in bookings])) == []
