"""Nothing a queue can hold ends a worker: each unreadable item is kept as a dead letter, with its
queue and the reason, and the bookings in flight complete."""

from __future__ import annotations

import base64
import json
import pickle

import pytest
import redis
from django.conf import settings

from booking.ledger import money_problems
from booking.models import Booking
from orchestrator.models import DeadLetter
from tests.e2e.conftest import Cluster, book, statuses, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def envelope(queue: str, body: str, **changes: object) -> bytes:
    """A kombu envelope as the Redis transport stores it, with some of its fields changed."""
    message = {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"task": "payments.charge", "id": "poison", "lang": "py"},
        "properties": {
            "body_encoding": "base64",
            "delivery_tag": f"poison-{queue}",
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
        },
        **changes,
    }
    return json.dumps(message).encode()


def poison(queue: str) -> dict[str, bytes]:
    """Every kind of item that used to end the worker popping it (and a few Celery dropped)."""
    pickled = base64.b64encode(pickle.dumps({"args": [1]})).decode()
    return {
        "raw bytes": b"\xff\xfe not json \x00",
        "a JSON array": b"[1, 2, 3]",
        "deeply nested JSON": b"[" * 100_000 + b"]" * 100_000,
        "a body that is not base64": envelope(queue, "%%% not base64 %%%"),
        "five megabytes": b"x" * 5_000_000,
        "pickle": pickle.dumps({"task": "payments.charge", "args": [1]}),
        "a pickled body": envelope(queue, pickled, **{"content-type": "application/x-python-serialize"}),
        "an unknown task": envelope(
            queue,
            base64.b64encode(b"[[], {}, {}]").decode(),
            headers={"task": "payments.teleport", "id": "t"},
        ),
    }


def test_poison_on_every_queue_is_kept_and_the_worker_goes_on(cluster: Cluster) -> None:
    for service in settings.SERVICE_QUEUES:
        cluster.start(service)
    bookings = book(5)
    broker = redis.Redis.from_url(cluster.env["REDIS_URL"])
    expected = 0
    for queue in settings.ALL_QUEUES:
        for item in poison(queue).values():
            broker.lpush(queue, item)
            expected += 1
    bookings += book(5)

    wait_until(lambda: DeadLetter.objects.count() == expected, 60, f"{expected} dead letters")
    wait_until(lambda: statuses(bookings) == {"completed"}, 60, "every booking to complete")
    for name, process in cluster.processes.items():
        assert process.process is not None and process.process.poll() is None, f"{name} worker exited"
    by_queue = {q: DeadLetter.objects.filter(queue=q).count() for q in settings.ALL_QUEUES}
    assert by_queue == {q: len(poison(q)) for q in settings.ALL_QUEUES}
    reasons = " ".join(DeadLetter.objects.values_list("reason", flat=True))
    for what in ("JSONDecodeError", "RecursionError", "Refusing to deserialize untrusted", "unknown task"):
        assert what in reasons
    for big in DeadLetter.objects.filter(reason__contains="5,000,000 bytes"):  # one per queue
        assert big.body.endswith("(5,000,000 bytes in all; the first 1,048,576 are kept)")
    assert money_problems(Booking.objects.filter(pk__in=[b.pk for b in bookings])) == []
