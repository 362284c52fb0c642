"""What every service does with a command: parse it, suffer its faults, act once, reply.

1. Parse the envelope; a malformed command becomes a dead letter.
2. Refuse a command that came too late: its process has ended, or its step is being undone or
   was settled by hand (orchestrator.selectors.command_standing); an attempt the engine already
   replaced by a later one (it timed out in a backlog) is left to that one.
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
from collections.abc import Callable
from typing import Any

from django.conf import settings

from booking.faults import fault_draw, faults_for
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
from orchestrator.processes import ProcessNotFound
from orchestrator.publishing import Outgoing
from orchestrator.selectors import command_standing

logger = logging.getLogger(__name__)


Reply = Callable[[CommandMessage, Result], None]


def command_run(
    body: Any, *, service: str, task_name: str, handler: Handler, reply: Reply | None = None
) -> Result | None:
    """Run one command; its reply goes to `reply` (a batch sends them after its commit), or out
    at once."""
    reply = reply or reply_send
    try:
        command = command_parse(body)
    except MalformedMessage as exc:
        dead_letter_keep(task_name, body, f"malformed command: {exc}")
        return None
    with process_context(command.process_id, step=command.step, attempt=command.attempt):
        try:
            standing = command_standing(
                process_id=command.process_id, step=command.step, kind=command.kind, attempt=command.attempt
            )
        except ProcessNotFound:
            dead_letter_keep(
                task_name, body, "command for an unknown process", process_id=str(command.process_id)
            )
            return None
        refusal = standing.refusal
        if standing.superseded:
            logger.info(
                "%s: %s attempt %d left to the later attempt already sent",
                service,
                command.command,
                command.attempt,
            )
            return None
        if refusal:
            # A late copy (a redelivery after a killed worker, say): never act on it, and tell
            # the engine, whose history then shows the refusal.
            logger.warning("%s: %s refused: %s", service, command.command, refusal)
            result = Result(succeeded=False, error=f"refused: {refusal}", business=True)
            reply(command, result)
            return result
        draw = fault_draw(
            faults_for(service), key=command.idempotency_key, kind=command.kind, attempt=command.attempt
        )
        if draw.latency:
            time.sleep(draw.latency)
        if draw.outage:
            logger.info(
                "%s: outage, %s attempt %d taken and never answered",
                service,
                command.command,
                command.attempt,
            )
            return None
        if draw.technical:
            result = Result(succeeded=False, error=f"{service} failed technically (injected fault)")
        else:
            result = handler(command, draw.business)
        reply(command, result)
        return result


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


def reply_send(command: CommandMessage, result: Result) -> None:
    """Publish the reply at once (a batch publishes its replies together, after its commit)."""
    publishing.tasks_publish([reply_message(command, result)])
