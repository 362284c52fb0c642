"""The Metrics page: throughput, failure rates, latencies and backlog over a chosen range.

The page is a shell; its script reads `/charts/data?range=...` (dashboard.figures) every few
seconds and draws with uPlot, vendored under static/vendor/.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard.figures import DEFAULT_RANGE, RANGES, UnknownRange, charts_data
from dashboard.views.access import dashboard_view

RANGE_LABELS = {"15m": "Last 15 minutes", "1h": "Last hour", "6h": "Last 6 hours", "24h": "Last 24 hours"}


@require_GET
@dashboard_view
def charts(request: HttpRequest) -> HttpResponse:
    chosen = request.GET.get("range", DEFAULT_RANGE)
    context = {
        "ranges": [(key, RANGE_LABELS[key]) for key in RANGES],
        "chosen": chosen if chosen in RANGES else DEFAULT_RANGE,
        "nav": "charts",
    }
    return render(request, "dashboard/charts.html", context)


@require_GET
@dashboard_view
def charts_data_view(request: HttpRequest) -> HttpResponse:
    try:
        data = charts_data(request.GET.get("range", DEFAULT_RANGE))
    except UnknownRange as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    return JsonResponse(data)
