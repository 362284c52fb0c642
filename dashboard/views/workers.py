"""The Workers page: which Celery workers answer, their queues, and each queue's backlog.

The page itself asks nothing of the broker; its panel, loaded by htmx after the page (and every
few seconds), broadcasts to the workers with a one-second timeout.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard.views.access import dashboard_view
from dashboard.workers import INSPECT_TIMEOUT, workers_look


@require_GET
@dashboard_view
def workers(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/workers.html", {"nav": "workers", "timeout": INSPECT_TIMEOUT})


@require_GET
@dashboard_view
def workers_panel(request: HttpRequest) -> HttpResponse:
    look = workers_look(timeout=INSPECT_TIMEOUT)
    return render(request, "dashboard/_workers_panel.html", {"look": look, "timeout": INSPECT_TIMEOUT})
