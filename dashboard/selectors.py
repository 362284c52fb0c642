"""Reads for the dashboard: lists, counts and a process's details, in few queries."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from dashboard.models import BulkAction
from orchestrator.definitions import definition_for_run
from orchestrator.engine.codec import state_from_json
from orchestrator.engine.decide import replay
from orchestrator.engine.types import Definition, State
from orchestrator.history import history_events
from orchestrator.models import ProcessInstance, WorkflowDefinition
from orchestrator.status import ProcessStatus

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    rows: list[ProcessInstance]
    next_cursor: str | None


def processes_for_list() -> QuerySet[ProcessInstance]:
    return ProcessInstance.objects.select_related("definition", "booking").defer("state", "input")


def process_page(queryset: QuerySet[ProcessInstance], *, cursor: str | None, size: int = PAGE_SIZE) -> Page:
    """Newest first, by keyset: a page is as fast on the millionth row as on the first."""
    queryset = queryset.order_by("-created_at", "-id")
    position = cursor_decode(cursor) if cursor else None
    if position is not None:
        created_at, pk = position
        queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows=rows, next_cursor=cursor_encode(rows[-1]) if more else None)


def cursor_encode(process: ProcessInstance) -> str:
    raw = f"{process.created_at.isoformat()}|{process.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def cursor_decode(cursor: str) -> tuple[datetime, str] | None:
    """A cursor from the URL; a damaged one restarts from the first page instead of failing."""
    try:
        created, pk = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), str(uuid.UUID(pk))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def status_counts() -> dict[str, int]:
    counts = Counter(dict(ProcessInstance.objects.values_list("status").annotate(n=Count("id")).order_by()))
    return {status.value: counts.get(status.value, 0) for status in ProcessStatus}


def workflow_versions() -> list[WorkflowDefinition]:
    return list(WorkflowDefinition.objects.order_by("name", "-version"))


def definition_of(process: ProcessInstance) -> Definition:
    return definition_for_run(process.definition)


def state_of(process: ProcessInstance) -> State:
    return state_from_json(process.state)


def state_at(process: ProcessInstance, seq: int) -> State:
    """The state as it was right after event `seq`, replayed from the history."""
    return replay(definition_of(process), str(process.pk), history_events(process, up_to=seq))


def booking_of(process: ProcessInstance) -> Any:
    try:
        return process.booking
    except ProcessInstance.booking.RelatedObjectDoesNotExist:
        return None


HALTED_SHOWN_FOR = timedelta(hours=1)


def bulk_actions_to_show() -> list[BulkAction]:
    """For the progress box of the list page, oldest first: the rollouts under way, and those
    halted in the last hour (their creator lost a permission, say), with the reason."""
    shown = BulkAction.objects.filter(
        Q(status=BulkAction.Status.RUNNING)
        | Q(status=BulkAction.Status.HALTED, updated_at__gte=timezone.now() - HALTED_SHOWN_FOR)
    ).select_related("created_by")
    return list(shown.order_by("created_at")[:5])
