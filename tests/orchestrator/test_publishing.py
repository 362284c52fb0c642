"""The hot path's publisher keeps one producer per process, lends it to one thread at a time, and
survives a connection gone stale."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator import publishing
from orchestrator.publishing import Outgoing
from tests.support.services import broker_is_amqp, broker_url

pytestmark = pytest.mark.redis


@pytest.fixture
def queue(redis_url: str) -> Iterator[str]:
    if broker_is_amqp():
        pytest.skip("reads the queue as a Redis list")
    import redis

    from config.celery import app

    name = f"publishing-test-{uuid.uuid4().hex[:8]}"
    app.amqp.queues.select_add(name)  # type: ignore[arg-type]  # a name is taken (the stubs say Queue)
    client = redis.Redis.from_url(broker_url())
    yield name
    client.delete(name)


def _ids_waiting(queue: str) -> list[str]:
    import redis

    raw = redis.Redis.from_url(broker_url()).lrange(queue, 0, -1)
    return sorted(json.loads(message)["headers"]["id"] for message in raw)


def _message(queue: str, n: int) -> Outgoing:
    return Outgoing("orchestrator.event", f"m-{n}", {"n": n}, queue)


def test_publishes_reuse_the_kept_producer_and_a_busy_one_is_not_waited_for(queue: str) -> None:
    publishing.tasks_publish([_message(queue, 1)])
    kept = publishing._kept.producer
    publishing.tasks_publish([_message(queue, 2), _message(queue, 3)])
    assert publishing._kept.producer is kept
    with publishing._kept.lock:  # another thread is publishing on it
        publishing.tasks_publish([_message(queue, 4)])  # through Celery's pool instead
    assert publishing._kept.producer is kept
    assert _ids_waiting(queue) == ["m-1", "m-2", "m-3", "m-4"]


def test_a_stale_connection_is_replaced_and_the_batch_sent_once(
    queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    publishing.tasks_publish([_message(queue, 1)])
    stale = publishing._kept.producer
    execute = redis.client.Pipeline.execute
    failed: list[bool] = []

    def broken_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not failed:
            failed.append(True)
            raise redis.ConnectionError("Connection closed by server.")  # as after a restart
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", broken_once)
    publishing.tasks_publish([_message(queue, 2)])
    assert failed and publishing._kept.producer is not stale
    assert _ids_waiting(queue) == ["m-1", "m-2"]


def test_a_bug_is_not_retried_and_the_producer_is_dropped(
    queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    publishing.tasks_publish([_message(queue, 1)])
    calls: list[Outgoing] = []

    def broken(producer: Any, message: Outgoing, *args: Any, **kwargs: Any) -> None:
        calls.append(message)
        raise ValueError("a bug, not the broker")

    monkeypatch.setattr(publishing, "_publish_one", broken)
    with pytest.raises(ValueError):
        publishing.tasks_publish([_message(queue, 2)])
    assert len(calls) == 1 and publishing._kept.producer is None


def test_a_broker_away_raises_for_the_caller_to_recover(queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from config.celery import app

    publishing.tasks_publish([_message(queue, 1)])
    publishing._kept_drop()
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")  # nothing listens there
    with pytest.raises(Exception):  # noqa: B017  # whatever the transport raises, it is not swallowed
        publishing.tasks_publish([_message(queue, 2)])
    assert publishing._kept.producer is None
    monkeypatch.undo()
    publishing.tasks_publish([_message(queue, 3)])
    assert _ids_waiting(queue) == ["m-1", "m-3"]


def test_a_batch_takes_the_replies_around_a_tick_and_gives_back_only_the_tick(queue: str) -> None:
    from orchestrator.batches import acknowledge, more_messages

    replies = [Outgoing("orchestrator.event", f"r-{n}", {"n": n}, queue) for n in range(4)]
    tick = Outgoing("orchestrator.tick", "t-1", {}, queue)
    publishing.tasks_publish([replies[0], tick, *replies[1:]])
    taken = more_messages(queue, tasks={"orchestrator.event"}, limit=10)
    assert [item.message_id for item in taken] == ["r-0", "r-1", "r-2", "r-3"]
    assert not any(item.redelivered for item in taken)
    assert _ids_waiting(queue) == ["t-1"]
    acknowledge(taken)


def test_taken_one_by_one_a_batch_ends_at_a_tick(queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a take of many at once (RabbitMQ, the in-memory broker), the next take would return
    the tick just given back: the batch ends there."""
    from orchestrator import batches

    monkeypatch.setattr(batches._local, "one_by_one", True, raising=False)
    replies = [Outgoing("orchestrator.event", f"r-{n}", {"n": n}, queue) for n in range(2)]
    publishing.tasks_publish([replies[0], Outgoing("orchestrator.tick", "t-1", {}, queue), replies[1]])
    taken = batches.more_messages(queue, tasks={"orchestrator.event"}, limit=10)
    assert [item.message_id for item in taken] == ["r-0"]
    assert _ids_waiting(queue) == ["r-1", "t-1"]
    batches.acknowledge(taken)
