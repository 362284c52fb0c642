"""One process: its graph, steps, history, side effects, and the operator's actions."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from dashboard import actions, fragments
from dashboard.views.access import dashboard_view, require_permission
from orchestrator.actions import ACTIONS, ActionNotAllowed
from orchestrator.engine.types import RULES_VERSION
from orchestrator.models import ProcessInstance
from orchestrator.selectors import definition_of, state_as_json, state_at, state_of


def _process(pk: str) -> ProcessInstance:
    return get_object_or_404(ProcessInstance.objects.select_related("definition"), pk=pk)


@require_GET
@dashboard_view
def process_detail(request: HttpRequest, pk: str) -> HttpResponse:
    process = _process(pk)
    context = fragments.detail_context(process, request.user)
    context["events"] = fragments.timeline_events(process, all_events=request.GET.get("all") == "1")
    context["history_truncated"] = process.seq > len(context["events"])
    context["nav"] = "processes"
    return render(request, "dashboard/process.html", context)


@require_GET
@dashboard_view
def process_state_at(request: HttpRequest, pk: str, seq: int) -> HttpResponse:
    """The state right after event `seq`, replayed from the history."""
    process = _process(pk)
    if not 1 <= seq <= process.seq:
        raise Http404("no such event")
    state = state_at(process, seq)
    context = fragments.detail_context(process, request.user, state=state)
    context["seq"] = seq
    context["event"] = process.events.get(seq=seq)
    context["state_json"] = state_as_json(state)
    # Replayed under today's rules: a process recorded under others may have gone differently.
    recorded_under = state_of(process).rules
    if recorded_under != RULES_VERSION:
        context["rules_warning"] = (
            f"This process was recorded under the engine's rules version {recorded_under}; this "
            f"view replays its history under version {RULES_VERSION}, so it may differ from what "
            "happened. The history itself is exact."
        )
    return render(request, "dashboard/_state_at.html", context)


@require_http_methods(["GET", "POST"])
@dashboard_view
def process_action(request: HttpRequest, pk: str, action: str) -> HttpResponse:
    """GET: the confirmation dialog, saying what will happen. POST: do it, through the engine."""
    if action not in ACTIONS:
        raise Http404("no such action")
    require_permission(request, ACTIONS[action].permission)
    process = _process(pk)
    step = request.GET.get("step") or request.POST.get("step") or None
    definition = definition_of(process)
    if step is not None and not definition.has_step(step):
        raise Http404("no such step")
    state = state_of(process)
    context: dict[str, Any] = {
        "process": process,
        "action": ACTIONS[action],
        "step": step,
        "preview": [],
        "fields": [],
        "error": "",
    }
    context["error"] = actions.refusal(definition, state, action, step)
    if not context["error"]:
        context["preview"] = actions.preview(definition, state, action, step)
        if action == "skip" and step:
            context["fields"] = actions.skip_fields(definition, state, step)
    if request.method == "GET":
        return render(
            request, "dashboard/_action_dialog.html", context, status=409 if context["error"] else 200
        )

    reason = request.POST.get("reason", "").strip()
    output = actions.skip_output_from(request.POST, context["fields"]) if action == "skip" else None
    try:
        if not reason and ACTIONS[action].needs_reason:
            raise ValueError("Say why, for the history.")
        actions.act(
            process=process, action=action, user=request.user, reason=reason, step=step, output=output
        )
    except ActionNotAllowed as refused:
        context["error"] = str(refused)
        return render(request, "dashboard/_action_dialog.html", context, status=409)
    except ValueError as invalid:
        context["error"] = str(invalid)
        context["posted"] = request.POST
        context["posted_values"] = {
            field["name"]: request.POST.get(f"output_{field['name']}", "") for field in context["fields"]
        }
        return render(request, "dashboard/_action_dialog.html", context, status=422)
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect("dashboard:process", pk=process.pk)
    # The outcome as the engine recorded it, swapped into the page; the socket does the rest.
    done = render_to_string("dashboard/_action_done.html", {"action": ACTIONS[action]})
    page = (request.htmx.current_url_abs_path or "").split("?")[0]  # type: ignore[attr-defined]
    if page and page != reverse("dashboard:process", args=[process.pk]):
        return HttpResponse(done)  # asked from the list: its socket refreshes the rows
    process.refresh_from_db()
    return HttpResponse(done + fragments.detail_fragments(process, request.user))
