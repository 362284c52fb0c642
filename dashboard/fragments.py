"""The named pieces of the dashboard's pages, rendered the same way for a page, an htmx
response and a websocket push (where `oob` makes htmx swap each piece in place by its id)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import QueryDict
from django.template.loader import render_to_string
from django.utils import timezone

from booking.ledger import ledger_lines
from dashboard import actions, selectors
from dashboard.filters import ProcessFilter
from dashboard.views.access import BOOKING_VIEW_PERMISSION
from orchestrator.actions import ACTIONS, BULK_PERMISSION, ActionName
from orchestrator.definitions import kept_steps_of
from orchestrator.engine.types import State
from orchestrator.graph import graph_layout, step_label
from orchestrator.models import DeadLetter, ProcessInstance
from orchestrator.selectors import (
    attention_items,
    definition_of,
    process_page,
    process_troubles,
    state_of,
    status_counts,
    trouble_counts,
)


def list_context(params: QueryDict, user: Any) -> dict[str, Any]:
    form = ProcessFilter(params)
    page = process_page(form.filter(selectors.processes_for_list()), cursor=params.get("cursor"))
    troubles = process_troubles(page.rows)
    for row in page.rows:
        row.trouble = troubles.get(str(row.pk))  # type: ignore[attr-defined]
    query = params.copy()
    query.pop("cursor", None)
    counts = status_counts()
    return {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "first_page": not params.get("cursor"),
        "counts": counts,
        "trouble": trouble_counts(counts),
        "attention": attention_items(now=timezone.now()),
        "bulk_actions": selectors.bulk_actions_to_show(),
        "may_bulk": user.has_perm(BULK_PERMISSION),
        "may_retry": user.has_perm(ACTIONS[ActionName.RETRY].permission),
        "may_see_bookings": user.has_perm(BOOKING_VIEW_PERMISSION),
        "dead_letters_today": DeadLetter.objects.filter(
            received_at__gte=timezone.now() - timedelta(days=1)
        ).count(),
        "user": user,
    }


def list_fragments(params: QueryDict, user: Any) -> str:
    """Everything the list page refreshes live: counts, rows, bulk progress."""
    context = {**list_context(params, user), "oob": True}
    return "".join(
        render_to_string(name, context)
        for name in (
            "dashboard/_counts.html",
            "dashboard/_attention.html",
            "dashboard/_process_rows.html",
            "dashboard/_bulk_progress.html",
        )
    )


def detail_context(process: ProcessInstance, user: Any, state: State | None = None) -> dict[str, Any]:
    definition = definition_of(process)
    current = state_of(process)
    shown = state or current
    # Customers' names, e-mails and what was charged need the permission to read bookings.
    may_see_bookings = user.has_perm(BOOKING_VIEW_PERMISSION)
    booking = selectors.booking_of(process) if may_see_bookings else None
    return {
        "process": process,
        "definition": definition,
        "state": shown,
        "graph": graph_layout(definition, shown),
        "booking": booking,
        "effects": ledger_lines(process) if may_see_bookings else [],
        "process_actions": actions.process_actions(definition, current, user),
        "step_actions": actions.step_actions(definition, current, user),
        "steps": [
            (spec, shown.steps[spec.key], step_label(shown.steps[spec.key], shown))
            for spec in definition.steps
        ],
        "dead_letters": DeadLetter.objects.filter(process_id=str(process.pk))[:10],
        "may_see_bookings": may_see_bookings,
        "kept_steps": kept_steps_of(definition),
        "held_undo": _held_undo(current),
        "user": user,
    }


def _held_undo(state: State) -> str:
    """What a pause holds back, when an operator paused the process and it is to be undone (a
    cancellation or compensation asked for while, or before, it was paused): "" otherwise."""
    if not (state.paused and state.compensating):
        return ""
    return "cancellation" if state.cancel_requested else "compensation"


LEDGER_PART = "dashboard/_ledger.html"
DETAIL_PARTS = (
    "dashboard/_process_header.html",
    "orchestrator/_step_graph.html",
    "dashboard/_steps.html",
    LEDGER_PART,
)


def detail_fragments(process: ProcessInstance, user: Any) -> str:
    context = {**detail_context(process, user), "oob": True}
    parts = [name for name in DETAIL_PARTS if context["may_see_bookings"] or name != LEDGER_PART]
    return "".join(render_to_string(name, context) for name in parts)


TIMELINE_LATEST = 300


def timeline_events(process: ProcessInstance, *, all_events: bool = False) -> list[Any]:
    """The history, oldest first; only the latest events unless all are asked for."""
    rows = process.events.order_by("-seq")
    latest = rows if all_events else rows[:TIMELINE_LATEST]
    return list(reversed(latest))


def timeline_full(process: ProcessInstance) -> tuple[str, int]:
    """The whole (latest part of the) history, and the last seq it shows."""
    events = timeline_events(process)
    context = {"events": events, "process": process, "oob": True}
    return render_to_string("dashboard/_timeline_rows.html", context), events[-1].seq if events else 0


def timeline_rows(process: ProcessInstance, *, after_seq: int) -> tuple[str, int]:
    """Only the events after `after_seq`, appended to the timeline in place; and the last seq."""
    rows = list(process.events.filter(seq__gt=after_seq).order_by("seq"))
    if not rows:
        return "", after_seq
    html = render_to_string("dashboard/_timeline_append.html", {"events": rows, "process": process})
    return html, rows[-1].seq
