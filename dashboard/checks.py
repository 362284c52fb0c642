"""Deployment checks of the dashboard (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def metrics_token_set(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.RUN_MODE == "production" and not settings.METRICS_TOKEN:
        return [
            Warning(
                "METRICS_TOKEN is not set: /metrics answers 403 to everyone in production mode.",
                hint="Set METRICS_TOKEN and give Prometheus the same value as a bearer token.",
                id="dashboard.W001",
            )
        ]
    return []
