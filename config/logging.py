"""Log records carry the id of the process instance being worked on, when there is one."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current_process: ContextVar[str | None] = ContextVar("current_process", default=None)


@contextmanager
def process_context(process_id: object) -> Iterator[None]:
    """Tag every log record written inside the block with `process_id`."""
    token = _current_process.set(str(process_id))
    try:
        yield
    finally:
        _current_process.reset(token)


class ProcessContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        process_id = getattr(record, "process_id", None) or _current_process.get()
        record.process_tag = f" [process={process_id}]" if process_id else ""
        return True
