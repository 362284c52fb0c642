"""Periodic work of the dashboard: rolling out bulk actions."""

from __future__ import annotations

from celery import shared_task

from dashboard.bulk import bulk_advance


@shared_task(name="dashboard.bulk_advance")
def advance_bulk_actions() -> int:
    return bulk_advance()
