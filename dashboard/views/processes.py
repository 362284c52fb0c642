"""The process list: counts, filters, search, keyset pages; live over the websocket."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard import fragments
from dashboard.views.access import dashboard_view
from orchestrator.selectors import workflow_versions


@require_GET
@dashboard_view
def process_list(request: HttpRequest) -> HttpResponse:
    context = fragments.list_context(request.GET, request.user)
    context["workflows"] = workflow_versions()
    context["nav"] = "processes"
    if request.htmx and request.htmx.target == "live-rows":  # type: ignore[attr-defined]
        # The filters changed: the rows, with a socket for exactly these filters.
        return render(request, "dashboard/_live_rows.html", context)
    return render(request, "dashboard/processes.html", context)
