"""Bulk retry and cancel from the filtered process list: preview, confirm, watch, stop."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from dashboard import selectors
from dashboard.bulk import MAX_TARGETS, bulk_preview, bulk_start, bulk_stop
from dashboard.filters import ProcessFilter
from dashboard.models import BulkAction
from dashboard.views.access import dashboard_view, require_permission
from orchestrator.actions import ACTIONS, BULK_PERMISSION

BULK_ACTIONS = ("retry", "cancel")


@require_http_methods(["GET", "POST"])
@dashboard_view
def bulk_action(request: HttpRequest, action: str) -> HttpResponse:
    if action not in BULK_ACTIONS:
        raise Http404("no such bulk action")
    require_permission(request, BULK_PERMISSION)
    require_permission(request, ACTIONS[action].permission)
    params = request.GET if request.method == "GET" else request.POST
    form = ProcessFilter(params)
    if not form.is_valid():
        # Never widen a bulk action to "everything" because one filter could not be read.
        context = {"action": ACTIONS[action], "filter_errors": form.errors, "params": params}
        return render(request, "dashboard/_bulk_dialog.html", context, status=422)
    chosen = form.filter(selectors.processes_for_list().select_related("definition").defer(None))
    ids = [value for value in params.getlist("ids") if _is_uuid(value)]
    if ids:
        chosen = chosen.filter(pk__in=ids)
    preview = bulk_preview(action, chosen.order_by("-created_at")[:MAX_TARGETS])
    description = (f"{len(ids)} selected" if ids else form.describe())[: BulkAction.DESCRIPTION_LENGTH]
    context = {
        "action": ACTIONS[action],
        "preview": preview,
        "services": sorted(preview.calls.items()),
        "description": description,
        "params": params,
        "ids": ids,
        "error": "",
    }
    if request.method == "GET":
        return render(request, "dashboard/_bulk_dialog.html", context)
    reason = request.POST.get("reason", "").strip()
    try:
        rate = float(request.POST.get("rate", "5"))
    except ValueError:
        rate = -1.0
    if not reason or not 0.1 <= rate <= 100 or not preview.applicable:
        if not reason:
            context["error"] = "Say why, for the history."
        elif not 0.1 <= rate <= 100:
            context["error"] = "The rate must be between 0.1 and 100 processes per second."
        else:
            context["error"] = "The action applies to none of these processes."
        return render(request, "dashboard/_bulk_dialog.html", context, status=422)
    bulk_start(
        action=action,
        process_ids=preview.applicable,
        rate=rate,
        reason=reason,
        user=request.user,
        description=description,
    )
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect("dashboard:processes")
    running = selectors.bulk_actions_to_show()
    return render(
        request, "dashboard/_bulk_started.html", {"bulk_actions": running, "oob": True, "may_bulk": True}
    )


@require_POST
@dashboard_view
def bulk_stop_view(request: HttpRequest, pk: str) -> HttpResponse:
    require_permission(request, BULK_PERMISSION)
    bulk = get_object_or_404(BulkAction, pk=pk)
    bulk_stop(bulk, reason=f"stopped by {request.user.get_username()}")
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect("dashboard:processes")
    running = selectors.bulk_actions_to_show()
    return render(request, "dashboard/_bulk_progress.html", {"bulk_actions": running, "may_bulk": True})


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
