"""The one JSON envelope of every message between the orchestrator and the services.

Commands go out to a service's queue; replies come back to the orchestrator's queue:

    {"message_id": "...", "process_id": "<uuid>", "step": "ship", "attempt": 1,
     "type": "step.succeeded", "payload": {...}, "sent_at": "2026-01-01T12:00:00+00:00"}

A command also names the command, its kind (action or compensation) and the idempotency key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestrator.engine.types import ACTION, COMPENSATION, Command, EventType

ReplyType = Literal["step.succeeded", "step.failed", "compensation.succeeded", "compensation.failed"]
ORCHESTRATOR_EVENT_TASK = "orchestrator.event"


MAX_ATTEMPT = 2**31 - 1  # what the history's attempt column holds


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(min_length=1, max_length=200)
    process_id: uuid.UUID
    step: str = Field(min_length=1, max_length=64)
    attempt: int = Field(ge=1, le=MAX_ATTEMPT)
    type: ReplyType
    payload: dict[str, Any] = Field(default_factory=dict)
    sent_at: datetime | None = None

    @model_validator(mode="after")
    def _payload_fits_the_type(self) -> Reply:
        if self.type.endswith("succeeded"):
            if not isinstance(self.payload.get("output", {}), dict):
                raise ValueError("payload.output of a success must be an object")
        else:
            if not isinstance(self.payload.get("error", ""), str):
                raise ValueError("payload.error of a failure must be a string")
            if not isinstance(self.payload.get("business", False), bool):
                raise ValueError("payload.business of a failure must be true or false")
        return self


class CommandMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(min_length=1, max_length=200)
    process_id: uuid.UUID
    step: str = Field(min_length=1, max_length=64)
    attempt: int = Field(ge=1, le=MAX_ATTEMPT)
    type: Literal["command"] = "command"
    command: str
    kind: Literal["action", "compensation"]
    idempotency_key: str = Field(min_length=1, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict)
    sent_at: datetime | None = None


class MalformedMessage(ValueError):
    pass


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in exc.errors()
    )


def reply_parse(body: Any) -> Reply:
    try:
        return Reply.model_validate(body)
    except ValidationError as exc:
        raise MalformedMessage(_describe(exc)) from None


def command_parse(body: Any) -> CommandMessage:
    try:
        return CommandMessage.model_validate(body)
    except ValidationError as exc:
        raise MalformedMessage(_describe(exc)) from None


def command_envelope(process_id: str, command: Command, sent_at: datetime) -> dict[str, Any]:
    return CommandMessage(
        message_id=command.message_id,
        process_id=uuid.UUID(process_id),
        step=command.step,
        attempt=command.attempt,
        command=command.name,
        kind="action" if command.kind == ACTION else "compensation",
        idempotency_key=command.idempotency_key,
        payload=command.payload,
        sent_at=sent_at,
    ).model_dump(mode="json")


def reply_envelope(
    command: CommandMessage,
    *,
    succeeded: bool,
    output: dict[str, Any] | None = None,
    error: str = "",
    business: bool = False,
) -> dict[str, Any]:
    """The reply a service sends for `command`: a success with its output, or a failure."""
    if command.kind == COMPENSATION:
        type_ = EventType.COMPENSATION_SUCCEEDED if succeeded else EventType.COMPENSATION_FAILED
    else:
        type_ = EventType.STEP_SUCCEEDED if succeeded else EventType.STEP_FAILED
    payload: dict[str, Any] = (
        {"output": output or {}} if succeeded else {"error": error, "business": business}
    )
    return Reply(
        # A fresh id per answer: a redelivered reply keeps its id (and is dropped), while a
        # second execution of a duplicated command is a new answer the engine weighs.
        message_id=str(uuid.uuid4()),
        process_id=command.process_id,
        step=command.step,
        attempt=command.attempt,
        type=type_,  # type: ignore[arg-type]
        payload=payload,
        sent_at=timezone.now(),
    ).model_dump(mode="json")


# --- after a message is published ----------------------------------------------------------------

# Each is called with a message's send once it went out (to send it again: the chaos harness's
# duplicates, config.chaos). None in production: fault injection is installed only when it is on
# (orchestrator's AppConfig.ready, under CHAOS_MODE=1).
_after_publish: list[Callable[[Callable[[], object]], None]] = []


def after_publish_add(hook: Callable[[Callable[[], object]], None]) -> None:
    if hook not in _after_publish:
        _after_publish.append(hook)


def message_published(send: Callable[[], object]) -> None:
    """Tell the hooks, if any, that a message went out with `send`."""
    for hook in _after_publish:
        hook(send)
