"""Reads only the dashboard makes (the engine's own are in orchestrator.selectors)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from dashboard.models import BulkAction
from orchestrator.models import ProcessInstance


def processes_for_list() -> QuerySet[ProcessInstance]:
    return ProcessInstance.objects.select_related("definition", "booking").defer("state", "input")


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
