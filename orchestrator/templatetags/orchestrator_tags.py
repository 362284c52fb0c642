"""Status icons, so a status never depends on colour alone (the admin's graph and the dashboard)."""

from __future__ import annotations

from django import template

from orchestrator.status import ProcessStatus, StepStatus

register = template.Library()

ICONS: dict[str, str] = {
    ProcessStatus.RUNNING: "▶",
    ProcessStatus.PAUSED: "‖",
    ProcessStatus.WAITING: "⚠",
    ProcessStatus.COMPENSATING: "↺",
    ProcessStatus.COMPLETED: "✔",
    ProcessStatus.COMPENSATED: "↩",
    ProcessStatus.CANCELLED: "✖",
    ProcessStatus.TERMINATED: "■",
    # steps (running, failed, compensating and compensated read as the processes' do)
    StepStatus.PENDING: "○",
    StepStatus.RETRYING: "⟳",
    StepStatus.SUCCEEDED: "✔",
    StepStatus.SKIPPED: "⤼",
    StepStatus.COMPENSATION_PENDING: "↺",
    StepStatus.COMPENSATION_RETRYING: "⟳",
    StepStatus.COMPENSATION_FAILED: "⚠",
}


@register.filter
def status_icon(status: str) -> str:
    return ICONS.get(str(status), "•")
