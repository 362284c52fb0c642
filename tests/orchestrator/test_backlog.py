"""A worker looks for messages behind the one it was given only when some may wait there."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from orchestrator.batches import FRESH_SECONDS, backlog_likely
from orchestrator.publishing import Outgoing, _headers


def request(published_ago: float | None, together: int = 1, **delivery: Any) -> SimpleNamespace:
    headers = _headers(Outgoing("orchestrator.event", "id-1", {}, "orchestrator"), together)
    if published_ago is None:
        del headers["published_at"]
    else:
        headers["published_at"] = time.time() - published_ago
    return SimpleNamespace(**headers, delivery_info={"routing_key": "orchestrator", **delivery})


def test_a_message_taken_as_soon_as_published_had_nothing_behind_it() -> None:
    assert not backlog_likely(request(0.0))


def test_a_message_that_waited_in_its_queue_may_have_company() -> None:
    assert backlog_likely(request(FRESH_SECONDS * 2))


def test_a_message_published_with_others_may_have_them_behind_it() -> None:
    assert backlog_likely(request(0.0, together=50))


def test_a_message_delivered_again_or_sent_without_the_stamp_may_have_company() -> None:
    assert backlog_likely(request(0.0, redelivered=True))
    assert backlog_likely(request(None))  # sent by app.send_task: the relay, an operator's task
