from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orchestrator.scrape import metrics_registry


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. With METRICS_TOKEN set, scrapers send it as a bearer token; in
    production mode there are no metrics without one (they describe the business)."""
    expected = settings.METRICS_TOKEN
    if not expected and settings.RUN_MODE == "production":
        return HttpResponse("metrics are off: set METRICS_TOKEN and scrape with it\n", status=403)
    if expected:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            return HttpResponse("metrics need the METRICS_TOKEN as a bearer token\n", status=401)
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
