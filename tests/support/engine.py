"""Helpers to drive the engine through its real entry points in database tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from booking.demo import demo_workflows_load
from orchestrator.messages import CommandMessage, command_parse, reply_envelope
from orchestrator.models import Outbox, ProcessInstance
from orchestrator.processes import Outcome, messages_handle


@dataclass
class SentTasks:
    """Every task the code under test published, instead of a broker."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [call["name"] for call in self.calls]


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> Iterator[SentTasks]:
    """Every task message the code under test publishes (commands, replies, probes) is recorded
    here instead of going to a broker, as {"name", "args", "queue", "task_id", ...}."""
    from config.celery import app
    from orchestrator import publishing

    sent = SentTasks()

    def record(name: str, args: tuple[Any, ...] = (), **options: Any) -> None:
        sent.calls.append({"name": name, "args": args, **options})

    def record_all(messages: Any, **options: Any) -> None:
        for message in messages:
            record(message.task, (message.arg,), queue=message.queue, task_id=message.task_id)

    monkeypatch.setattr(app, "send_task", record)
    monkeypatch.setattr(publishing, "tasks_publish", record_all)
    yield sent


@pytest.fixture
def trip_workflows(db: None) -> None:
    demo_workflows_load()


def service_command(
    process_id: Any,
    name: str,
    step: str,
    *,
    kind: str = "action",
    attempt: int = 1,
    input: dict[str, Any] | None = None,
    **payload: Any,
) -> dict[str, Any]:
    """A command as the engine sends it to a service (`input`: the process's, a trip by default)."""
    return CommandMessage(
        message_id=f"{process_id}:{step}:{kind}:{attempt}",
        process_id=process_id,
        step=step,
        attempt=attempt,
        command=name,
        kind=kind,  # type: ignore[arg-type]
        idempotency_key=f"{process_id}:{step}",
        payload={"input": trip_input() if input is None else input, "context": {}, "params": {}, **payload},
    ).model_dump(mode="json")


def service_run(command: str, body: Any) -> None:
    """Run a service's command in this thread, as its worker would: the task the registry made."""
    from config.celery import app

    app.tasks[command](body)


def last_command(
    process: ProcessInstance, step: str | None = None, *, kind: str | None = None, attempt: int | None = None
) -> CommandMessage:
    """The latest command the process sent (for `step`, of `kind`, of `attempt`, when given)."""
    for row in Outbox.objects.filter(process=process).order_by("-id"):
        command = command_parse(row.body)
        if (
            step in (None, command.step)
            and kind in (None, command.kind)
            and attempt in (None, command.attempt)
        ):
            return command
    raise AssertionError(
        f"no {kind or ''} command for {step or 'any step'} (attempt {attempt}) of {process.pk}"
    )


def reply_take(body: Any) -> Outcome:
    """Hand one reply to the engine, as the orchestrator's worker does (a batch of one)."""
    return messages_handle([body])[0]


def answer(
    command: CommandMessage, *, succeeded: bool = True, business: bool = False, **output: Any
) -> dict[str, Any]:
    """Reply to `command` as its service would, through the engine's real entry point."""
    body = reply_envelope(
        command, succeeded=succeeded, output=output, error="" if succeeded else "boom", business=business
    )
    outcome = reply_take(body)
    assert outcome.status == "applied", outcome
    return body


def trip_input(reference: str = "TRP-TEST01", **overrides: Any) -> dict[str, Any]:
    """A process input every trip command can read."""
    return {
        "reference": reference,
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "amount": "420.00",
        "currency": "EUR",
        "itinerary": {
            "origin": "CDG",
            "destination": "JFK",
            "depart_on": "2027-01-10",
            "hotel": "Grand Hotel",
        },
        **overrides,
    }


def deliver_all(
    process: ProcessInstance, sent: SentTasks, *, refuse: tuple[str, ...] = ()
) -> ProcessInstance:
    """Run the real services in this thread: each command the process sends goes to its task,
    each reply back to the engine, until the process sends nothing more. The services named in
    `refuse` refuse every action (declined, sold out, bounced). Returns the process, refreshed."""
    from booking.faults import faults_set
    from booking.services.registry import service_names

    for service in service_names():
        faults_set(service, technical_rate=0.0, business_rate=1.0 if service in refuse else 0.0, latency_ms=0)
    delivered: set[str] = set()
    while rows := [
        r for r in Outbox.objects.filter(process=process).order_by("id") if r.message_id not in delivered
    ]:
        for row in rows:
            delivered.add(row.message_id)
            sent.calls.clear()
            service_run(row.task_name, row.body)
            for call in list(sent.calls):
                if call["name"] == "orchestrator.event":
                    reply_take(call["args"][0])
    process.refresh_from_db()
    return process
