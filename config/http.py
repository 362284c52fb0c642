"""Small facts about an HTTP request that several parts of the project need."""

from __future__ import annotations

from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The client's address as the server saw it. Behind a reverse proxy, uvicorn sets it from the
    proxy's forwarding header only for the proxies listed in FORWARDED_ALLOW_IPS."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")
