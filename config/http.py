"""Small facts about an HTTP request that several parts of the project need."""

from __future__ import annotations

import re

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


def client_address(request: HttpRequest) -> str:
    """The client's address as the server saw it. Behind a reverse proxy, uvicorn sets it from the
    proxy's forwarding header only for the proxies listed in FORWARDED_ALLOW_IPS."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


class SettingsMaskingFilter(SafeExceptionReporterFilter):
    """Django's filter, also masking every setting that holds a URL or a server's address."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DATABASE|BROKER|CACHES|CHANNEL_LAYERS",
        flags=re.IGNORECASE,
    )
