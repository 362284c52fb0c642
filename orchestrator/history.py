"""Reading a process's history back as the engine's events (for replay and display)."""

from __future__ import annotations

from orchestrator.engine.types import Event
from orchestrator.models import HistoryEntry, ProcessInstance


def event_of(row: HistoryEntry) -> Event:
    return Event(
        type=row.type,
        at=row.created_at,
        message_id=row.message_id,
        step=row.step or None,
        attempt=row.attempt,
        payload=row.payload,
        actor=row.actor,
        reason=row.reason,
    )


def history_events(process: ProcessInstance, *, up_to: int | None = None) -> list[Event]:
    """The history in order, up to event `up_to` when given."""
    rows = HistoryEntry.objects.filter(process=process).order_by("seq")
    if up_to is not None:
        rows = rows.filter(seq__lte=up_to)
    return [event_of(row) for row in rows]
