"""The chaos harness's duplicates sit on the publish path only when chaos is on (CHAOS_MODE=1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.apps import apps

from config import chaos
from orchestrator import messages


@pytest.fixture
def hooks() -> Iterator[list[Callable[[Callable[[], object]], None]]]:
    saved = list(messages._after_publish)
    messages._after_publish.clear()
    yield messages._after_publish
    messages._after_publish[:] = saved


def test_off_nothing_is_installed_and_a_publish_calls_nothing(hooks: list[Any]) -> None:
    assert not chaos.ENABLED  # the test run is not a chaos run
    apps.get_app_config("orchestrator").ready()
    assert hooks == []
    messages.message_published(lambda: pytest.fail("nothing may send a message again"))


def test_on_every_publish_may_be_sent_again(hooks: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chaos, "ENABLED", True)
    apps.get_app_config("orchestrator").ready()
    apps.get_app_config("orchestrator").ready()  # installed once, however often the app is readied
    assert hooks == [chaos.maybe_duplicate]
    monkeypatch.setattr(chaos, "duplicating", lambda: True)
    monkeypatch.setattr(chaos.random, "random", lambda: 0.0)  # the copy goes at once, not later
    sent: list[str] = []
    messages.message_published(lambda: sent.append("again"))
    assert sent == ["again"]
