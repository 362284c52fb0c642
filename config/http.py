"""Small facts about an HTTP request that several parts of the project need."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.views import defaults
from django.views.debug import SafeExceptionReporterFilter

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the server saw it (None when there is none, e.g. a unix socket).
    Behind a reverse proxy, uvicorn sets it from the proxy's forwarding header only for the
    proxies listed in FORWARDED_ALLOW_IPS."""
    return request.META.get("REMOTE_ADDR") or None


class SettingsMaskingFilter(SafeExceptionReporterFilter):
    """Django's filter, also masking every setting that holds a URL or a server's address."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DATABASE|BROKER|CACHES|CHANNEL_LAYERS",
        flags=re.IGNORECASE,
    )


# --- hostile input -----------------------------------------------------------------------------

# PostgreSQL cannot store a NUL character in text, nor a lone surrogate in UTF-8: either one in a
# request would surface as a database error (a 500). They are refused here, for every URL.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_JSON_DEPTH = 32


class HostileInput(ValueError):
    def __init__(self, where: list[str | int], problem: str, *, status: int = 400) -> None:
        super().__init__(f"{'.'.join(str(p) for p in where)}: {problem}")
        self.where = where
        self.problem = problem
        self.status = status


def _check_text(text: str, where: list[str | int], *, status: int = 400) -> None:
    found = _UNSTORABLE.search(text)
    if found is not None:
        what = "a NUL character" if found.group() == "\x00" else "an unpaired surrogate (not valid Unicode)"
        raise HostileInput(where, f"contains {what}", status=status)


def _check_json(value: Any, where: list[str | int]) -> None:
    """Every key and string of a decoded JSON document, without recursion (depth is capped)."""
    pending: list[tuple[Any, list[str | int]]] = [(value, where)]
    while pending:
        item, path = pending.pop()
        if len(path) > MAX_JSON_DEPTH:
            raise HostileInput(path[:3], f"is nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(item, str):
            _check_text(item, path, status=422)
        elif isinstance(item, dict):
            for key, inner in item.items():
                _check_text(key, [*path, key], status=422)
                pending.append((inner, [*path, key]))
        elif isinstance(item, list):
            pending.extend((inner, [*path, index]) for index, inner in enumerate(item))


def request_problem(request: HttpRequest) -> HostileInput | None:
    """What in this request no view should see: unstorable text anywhere, or JSON nested too deep."""
    try:
        _check_text(request.path, ["path"])
        for name, value in request.GET.lists():
            _check_text(name, ["query", name])
            for item in value:
                _check_text(item, ["query", name])
        for name, value in request.META.items():
            if name.startswith("HTTP_") and isinstance(value, str):
                _check_text(value, ["header", name[5:].replace("_", "-").title()])
        content_type = request.content_type or ""
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            # Read the body first: the form is then parsed from that copy, and a view that wants
            # the raw body (the API's) can still have it.
            _ = request.body
            for name, values in request.POST.lists():
                _check_text(name, ["form", name], status=422)
                for item in values:
                    _check_text(item, ["form", name], status=422)
        elif content_type.endswith("json") and request.body:
            try:
                document = json.loads(request.body)
            except RecursionError:
                raise HostileInput(["body"], f"is nested more than {MAX_JSON_DEPTH} levels deep") from None
            except ValueError:
                return None  # not JSON at all: the view says so in its own words
            _check_json(document, ["body"])
    except HostileInput as hostile:
        return hostile
    return None


class HostileInputGuard(MiddlewareMixin):
    """Answers 400 (422 for a field's value) before any view sees unstorable input."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            problem = request_problem(request)
        except RequestDataTooBig:
            return _refusal(request, 413, "The request body is too large.", [])
        if problem is None:
            return None
        return _refusal(request, problem.status, f"The request {problem}.", problem.where, problem.problem)


def _refusal(
    request: HttpRequest, status: int, detail: str, where: list[str | int], problem: str = ""
) -> HttpResponse:
    if request.path.startswith("/api/"):
        body: dict[str, Any] = {"detail": detail}
        if where:
            body["errors"] = [{"loc": where, "msg": problem}]
        return JsonResponse(body, status=status)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


# --- the database away ------------------------------------------------------------------------

RETRY_AFTER_SECONDS = 5


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler, but the database being away (a restart, a failover, no free pooled
    connection in time) is a 503 the client may retry, never a 500."""
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)):
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, error)
        if "text/html" in request.headers.get("Accept", "") and not request.path.startswith("/api/"):
            response: HttpResponse = HttpResponse(
                "<!doctype html><title>Back in a moment</title><h1>Back in a moment</h1>"
                "<p>The database is unavailable for a moment. This page will work again shortly.</p>",
                status=503,
            )
        else:
            response = JsonResponse(
                {"detail": "The database is unavailable for a moment; try again shortly."}, status=503
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return defaults.server_error(request)
