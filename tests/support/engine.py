"""Helpers to drive the engine through its real entry points in database tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from booking.demo import demo_workflows_load
from orchestrator.engine.handle import message_handle
from orchestrator.messages import CommandMessage, command_parse, reply_envelope
from orchestrator.models import Outbox, ProcessInstance


@dataclass
class SentTasks:
    """Every task the code under test published, instead of a broker."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [call["name"] for call in self.calls]


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> Iterator[SentTasks]:
    from config.celery import app

    sent = SentTasks()

    def record(name: str, args: tuple[Any, ...] = (), **options: Any) -> None:
        sent.calls.append({"name": name, "args": args, **options})

    monkeypatch.setattr(app, "send_task", record)
    yield sent


@pytest.fixture
def trip_workflows(db: None) -> None:
    demo_workflows_load()


def last_command(process: ProcessInstance, step: str | None = None) -> CommandMessage:
    rows = Outbox.objects.filter(process=process).order_by("-id")
    for row in rows:
        command = command_parse(row.body)
        if step is None or command.step == step:
            return command
    raise AssertionError(f"no command for {step or 'any step'} of {process.pk}")


def answer(
    command: CommandMessage, *, succeeded: bool = True, business: bool = False, **output: Any
) -> dict[str, Any]:
    """Reply to `command` as its service would, through the engine's real entry point."""
    body = reply_envelope(
        command, succeeded=succeeded, output=output, error="" if succeeded else "boom", business=business
    )
    outcome = message_handle(body)
    assert outcome.status == "applied", outcome
    return body


def an_operator(username: str = "ops", *, permissions: list[str] | None = None) -> Any:
    """A user with every operator action's permission (or just `permissions`, as codenames)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from orchestrator.actions import ACTIONS

    model = get_user_model()
    user, _ = model.objects.get_or_create(username=username)
    codenames = (
        [action.permission.split(".")[1] for action in ACTIONS.values()]
        if permissions is None
        else permissions
    )
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return model.objects.get(pk=user.pk)  # fresh: Django caches a user's permissions
