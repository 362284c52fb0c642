"""Log records carry the process instance being worked on, and the step and attempt, when there
are some: readable lines in embedded mode, one JSON object a line in production mode."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

_current_process: ContextVar[str | None] = ContextVar("current_process", default=None)
_current_step: ContextVar[tuple[str | None, int | None]] = ContextVar("current_step", default=(None, None))


@contextmanager
def process_context(
    process_id: object, *, step: str | None = None, attempt: int | None = None
) -> Iterator[None]:
    """Tag every log record written inside the block with `process_id` (and `step`, `attempt`)."""
    token = _current_process.set(str(process_id))
    step_token = _current_step.set((step, attempt))
    try:
        yield
    finally:
        _current_step.reset(step_token)
        _current_process.reset(token)


class ProcessContextFilter(logging.Filter):
    """Sets process_id, step and attempt on every record (None outside a process), and the
    `process_tag` the line format shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        process_id = getattr(record, "process_id", None) or _current_process.get()
        step, attempt = _current_step.get()
        step = getattr(record, "step", None) or step
        attempt = getattr(record, "attempt", None) or attempt
        record.process_id, record.step, record.attempt = process_id, step, attempt
        tag = ""
        if process_id:
            tag = f" [process={process_id}"
            if step:
                tag += f" step={step}" + (f" attempt={attempt}" if attempt else "")
            tag += "]"
        record.process_tag = tag
        return True


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, process_id, step,
    attempt, and what a call passed in `extra` (exceptions as exc_info)."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s %(process_id)s %(step)s %(attempt)s",
            rename_fields={"levelname": "level", "name": "logger"},
            # uvicorn's color_message repeats the message with terminal colours.
            reserved_attrs=[*RESERVED_ATTRS, "process_tag", "color_message"],
            timestamp="time",
        )
