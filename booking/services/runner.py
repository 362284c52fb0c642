"""What every service does with a command: parse it, suffer its faults, act once, reply.

Commands run in batches (booking.services.batches), and each step below is taken for the whole
batch at once where it can be: one read of where the commands stand, the fault settings read
once per service.

1. Parse the envelope; a malformed command becomes a dead letter.
2. Refuse a command that came too late: its process has ended, or its step is being undone or
   was settled by hand (orchestrator.standing); an attempt the engine already replaced by a
   later one (it timed out in a backlog) is left to that one.
3. Draw this delivery's faults: added latency, an outage (no answer at all), a technical failure
   (nothing done, so the orchestrator retries).
4. Act through the service's handler, which records its effect under the idempotency key in one
   transaction: a repeated command finds the record and returns the same outcome.
5. Reply to the orchestrator after that transaction committed. A reply lost in a crash is
   recovered by the step's timeout and a retry, which finds the record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from booking.faults import fault_draw, faults_for
from booking.models import ServiceFaults
from booking.services.declaration import Handler, Result
from config.logging import process_context
from orchestrator import publishing
from orchestrator.dead_letters import dead_letter_keep
from orchestrator.messages import (
    ORCHESTRATOR_EVENT_TASK,
    CommandMessage,
    MalformedMessage,
    command_parse,
    reply_envelope,
)
from orchestrator.publishing import Outgoing
from orchestrator.standing import CommandAsked, CommandStanding, commands_standing

logger = logging.getLogger(__name__)


Reply = Callable[[CommandMessage, Result], None]


@dataclass(frozen=True)
class Delivered:
    """A command as its task received it, with the service and handler of that task."""

    task_name: str
    body: Any
    service: str
    handler: Handler


def commands_run(delivered: Sequence[Delivered], *, reply: Reply, until: float | None = None) -> int:
    """Run commands in their order (inside the caller's transaction, if any); each reply goes to
    `reply`. Past `until` (time.monotonic()) no more is started, but the first always is. Returns
    how many were taken, from the first: the caller gives the rest back to the queue."""
    parsed: list[CommandMessage | MalformedMessage] = []
    for item in delivered:
        try:
            parsed.append(command_parse(item.body))
        except MalformedMessage as exc:
            parsed.append(exc)
    commands = [command for command in parsed if isinstance(command, CommandMessage)]
    asked = [CommandAsked(c.process_id, c.step, c.kind, c.attempt) for c in commands]
    standing_of = dict(zip((id(c) for c in commands), commands_standing(asked), strict=True))
    faults: dict[str, ServiceFaults | None] = {}
    for taken, (item, command) in enumerate(zip(delivered, parsed, strict=True)):
        if taken and until is not None and time.monotonic() > until:
            return taken
        if isinstance(command, MalformedMessage):
            dead_letter_keep(item.task_name, item.body, f"malformed command: {command}")
            continue
        if item.service not in faults:
            faults[item.service] = faults_for(item.service)
        with process_context(command.process_id, step=command.step, attempt=command.attempt):
            _command_run(item, command, standing_of[id(command)], faults[item.service], reply)
    return len(delivered)


def _command_run(
    item: Delivered,
    command: CommandMessage,
    standing: CommandStanding | None,
    faults: ServiceFaults | None,
    reply: Reply,
) -> None:
    service = item.service
    if standing is None:
        dead_letter_keep(
            item.task_name, item.body, "command for an unknown process", process_id=str(command.process_id)
        )
        return
    if standing.superseded:
        logger.info(
            "%s: %s attempt %d left to the later attempt already sent",
            service,
            command.command,
            command.attempt,
        )
        return
    if standing.refusal:
        # A late copy (a redelivery after a killed worker, say): never act on it, and tell the
        # engine, whose history then shows the refusal.
        logger.warning("%s: %s refused: %s", service, command.command, standing.refusal)
        reply(command, Result(succeeded=False, error=f"refused: {standing.refusal}", business=True))
        return
    draw = fault_draw(faults, key=command.idempotency_key, kind=command.kind, attempt=command.attempt)
    if draw.latency:
        time.sleep(draw.latency)
    if draw.outage:
        logger.info(
            "%s: outage, %s attempt %d taken and never answered", service, command.command, command.attempt
        )
        return
    if draw.technical:
        result = Result(succeeded=False, error=f"{service} failed technically (injected fault)")
    else:
        result = item.handler(command, draw.business)
    reply(command, result)


def command_run(body: Any, *, service: str, task_name: str, handler: Handler) -> None:
    """Run one command alone, in a transaction of its own, and reply once it committed."""
    replies: list[tuple[CommandMessage, Result]] = []
    with transaction.atomic():
        commands_run(
            [Delivered(task_name, body, service, handler)],
            reply=lambda command, result: replies.append((command, result)),
        )
    replies_publish(replies)


def replies_publish(replies: Sequence[tuple[CommandMessage, Result]]) -> None:
    """Publish the replies to commands, together (after the commit that recorded them)."""
    if replies:
        publishing.tasks_publish([reply_message(command, result) for command, result in replies])


def reply_message(command: CommandMessage, result: Result) -> Outgoing:
    """The reply to a command, as a task message to the orchestrator's queue."""
    envelope = reply_envelope(
        command,
        succeeded=result.succeeded,
        output=result.output,
        error=result.error,
        business=result.business,
    )
    return Outgoing(ORCHESTRATOR_EVENT_TASK, envelope["message_id"], envelope, settings.ORCHESTRATOR_QUEUE)
