"""Small presentation helpers of the dashboard: status labels and icons, JSON, events."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone

from orchestrator.previews import step_does
from orchestrator.status import ProcessStatus
from orchestrator.templatetags.orchestrator_tags import status_icon

register = template.Library()


@register.filter
def process_status_label(status: str) -> str:
    """How a process status reads in a sentence: "waiting for an operator", "running"."""
    return str(ProcessStatus(status).label).lower()


register.filter("status_icon", status_icon)


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def event_kind(event_type: str) -> str:
    """A CSS class per family of events: reply, timer, operator, start."""
    family = str(event_type).split(".")[0]
    if event_type.endswith(("timed_out", "retry_due")):
        return "timer"
    return {"operator": "operator", "process": "start"}.get(family, "reply")


@register.filter
def since(moment: datetime | None) -> str:
    if moment is None:
        return ""
    seconds = int((timezone.now() - moment).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


@register.filter
def until(moment: datetime | None) -> str:
    """How long until `moment`, e.g. "in 12 s" ("now" when it is due)."""
    if moment is None:
        return ""
    seconds = int((moment - timezone.now()).total_seconds())
    if seconds <= 0:
        return "now"
    if seconds < 60:
        return f"in {seconds} s"
    if seconds < 3600:
        return f"in {seconds // 60} min"
    return f"in {seconds // 3600} h"


@register.filter
def active_list(value: str) -> list[str]:
    return [key for key in str(value).split(",") if key]


# What a step does, in its table's command column: its command, or what it waits for.
register.filter("step_does", step_does)


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None
