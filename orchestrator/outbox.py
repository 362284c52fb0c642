"""The outbox: commands saved with the transition that decided them, published after commit.

Rows are written in the transition's transaction (`outbox_rows`); publishing waits for the commit, so a
worker never sees a command its process has not saved. `outbox_relay` sends what a crash or a
broker outage left behind.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from orchestrator import publishing
from orchestrator.commands import command_get
from orchestrator.engine.types import Command
from orchestrator.messages import command_envelope
from orchestrator.models import Outbox, ProcessInstance
from orchestrator.publishing import Outgoing

logger = logging.getLogger(__name__)

RELAY_AFTER = 5.0


class _SentMarks:
    """Rows this process published and has not marked as sent yet.

    Marking rows as sent costs a commit of its own. The orchestrator worker, which commits again
    at its next message anyway, defers the marks to that transaction (`outbox_marks_deferred`);
    until then a row looks unsent, and the relay would send it again only if it stayed so for
    RELAY_AFTER seconds: a duplicate the services drop by idempotency key, never a lost command.
    Only `outbox_transaction` writes them, and gives them back when its transaction fails.
    """

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._lock = threading.Lock()

    def add(self, ids: Sequence[int]) -> None:
        with self._lock:
            self._ids.extend(ids)

    def take(self) -> list[int]:
        with self._lock:
            ids, self._ids = self._ids, []
        return ids

    def pending(self) -> int:
        """How many wait to be marked."""
        with self._lock:
            return len(self._ids)


_sent_marks = _SentMarks()
_deferring = contextvars.ContextVar("outbox_deferring_marks", default=False)


@contextlib.contextmanager
def outbox_marks_deferred() -> Iterator[None]:
    """Rows published while this runs are marked in the next `outbox_transaction`."""
    token = _deferring.set(True)
    try:
        yield
    finally:
        _deferring.reset(token)


@dataclass
class _MarksToWrite:
    ids: list[int]


_marks_in_transaction: contextvars.ContextVar[_MarksToWrite | None] = contextvars.ContextVar(
    "outbox_marks_in_transaction", default=None
)


@contextlib.contextmanager
def outbox_transaction(*, marks_by_caller: bool = False) -> Iterator[None]:
    """A transaction that also marks the rows this process published and has not marked yet: at
    its start, or, `marks_by_caller`, in a statement of the caller's (`outbox_marks_for_write`),
    else at its end. If it fails, they wait for the next one (or for the relay)."""
    ids = _sent_marks.take()
    pending = _MarksToWrite(list(ids))
    token = _marks_in_transaction.set(pending)
    try:
        with transaction.atomic():
            if not marks_by_caller:
                _marks_write(pending)
            yield
            _marks_write(pending)
    except BaseException:
        _sent_marks.add(ids)
        raise
    finally:
        _marks_in_transaction.reset(token)


def _marks_write(pending: _MarksToWrite) -> None:
    if pending.ids:
        Outbox.objects.filter(pk__in=pending.ids).update(
            published_at=timezone.now(), publish_attempts=F("publish_attempts") + 1
        )
        pending.ids = []


def outbox_marks_for_write() -> list[int]:
    """The rows the current `outbox_transaction` is to mark sent, handed to a caller that marks
    them in a statement of its own (orchestrator.transition_sql); none outside one."""
    pending = _marks_in_transaction.get()
    if pending is None:
        return []
    ids, pending.ids = pending.ids, []
    return ids


def outbox_rows(
    batch: Sequence[tuple[ProcessInstance, Sequence[Command], datetime, bool]],
) -> list[Outbox]:
    """The outbox rows of the commands several processes decided (not saved yet); those of a
    process marked as ended are discarded at once: they never go out."""
    return [
        Outbox(
            process=instance,
            message_id=command.message_id,
            task_name=command.name,
            queue=command_get(command.name).queue,
            body=command_envelope(str(instance.pk), command, now),
            created_at=now,
            discarded_at=now if ended else None,
        )
        for instance, commands, now, ended in batch
        for command in commands
    ]


def outbox_publish_after_commit(rows: Sequence[Outbox]) -> None:
    """Publish the saved rows once the transaction commits: a worker must never see a command
    its process has not saved."""
    to_send = [row for row in rows if row.discarded_at is None]
    if to_send:
        transaction.on_commit(partial(outbox_publish, rows=to_send, defer_marks=_deferring.get()))


def outbox_discard(instance: ProcessInstance, now: datetime) -> None:
    """Commands of an ended process that never left (a broker outage) must not go out later:
    say, a "your order has shipped" e-mail after the order was cancelled."""
    Outbox.objects.filter(process=instance, published_at__isnull=True, discarded_at__isnull=True).update(
        discarded_at=now
    )


def outbox_publish(*, rows: Sequence[Outbox], defer_marks: bool = False) -> int:
    """Publish outbox rows to their queues, together, and mark them sent; returns how many went out.

    A crash between publishing and marking publishes the rows again later (the relay), as does a
    publish that fails part-way: services are idempotent, so a command delivered twice has one
    effect.
    """
    messages = [Outgoing(row.task_name, row.message_id, row.body, row.queue) for row in rows]
    try:
        publishing.tasks_publish(messages)
    except Exception as exc:  # the broker is down: the relay tries again
        logger.warning("publishing %d outbox row(s) failed: %s", len(rows), exc)
        Outbox.objects.filter(pk__in=[row.pk for row in rows]).update(
            last_error=str(exc)[:500], publish_attempts=F("publish_attempts") + 1
        )
        return 0
    sent = [row.pk for row in rows]
    if defer_marks:
        _sent_marks.add(sent)
    else:
        with transaction.atomic():  # a write transaction, so SQLite writers queue in order
            Outbox.objects.filter(pk__in=sent).update(
                published_at=timezone.now(), publish_attempts=F("publish_attempts") + 1
            )
    return len(sent)


def outbox_relay(*, older_than: float = RELAY_AFTER, batch: int = 200, now: datetime | None = None) -> int:
    """Publish rows left unpublished (a crash between commit and publish, a broker outage)."""
    now = now or timezone.now()
    with outbox_transaction():  # this process's own sent rows are marked, not left for the relay
        rows = list(
            Outbox.objects.select_for_update(skip_locked=True)
            .filter(
                published_at__isnull=True,
                discarded_at__isnull=True,
                created_at__lte=now - timedelta(seconds=older_than),
            )
            .order_by("id")[:batch]
        )
        return outbox_publish(rows=rows) if rows else 0
