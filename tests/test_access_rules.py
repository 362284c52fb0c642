"""Every route of the project, found by walking the URL configuration, refuses whoever may not use
it: anonymous visitors, staff without permissions, and staff with only an unrelated permission.
So a new view, API route, socket or admin action cannot skip the rules: it is checked here the
moment it exists, and the few public routes are named, each with its reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from dashboard.routing import websocket_urlpatterns
from tests.support.admin import one_of_everything

# Routes anyone may use, and why.
PUBLIC = {
    "dashboard:login": "the login page",
    "dashboard:logout": "logging out",
    "admin:login": "the admin's login page",
    "admin:logout": "logging out of the admin",
    "dashboard:healthz": "load balancers' liveness probe (says only ok or unavailable)",
    "dashboard:readyz": "readiness probe (names what is not ready, never where it is)",
    "booking:checkout": "customers book without an account",
    "booking:status": "a customer's own booking, behind a signed token",
    "api:api-root": "the API's root, a name for reversing URLs: it answers 404",
}
# Routes anyone logged in may use whatever their permissions: they show nothing of the business
# (the admin's index then lists no models) or concern the user's own account. Anonymous visitors
# are refused them like any other route.
SELF_SERVICE = {
    "admin:index": "the admin's index, empty without permissions",
    "admin:password_change": "one's own password",
    "admin:password_change_done": "one's own password",
    "admin:jsi18n": "the admin's translations for its scripts",
    "admin:app_list": "an app's index: 404 without a permission in it",
    "admin:": "the admin's catch-all: 404, or a redirect to the login",
    "admin:view_on_site": "a redirect to an object's own page, whose rules then apply",
    "api:openapi-json": "the API's description, for anyone with an account (no data in it)",
    "api:openapi-view": "the API's documentation page, likewise",
}
REFUSED = {302, 401, 403, 405}
LOGIN_PAGES = ("/login/", "/admin/login/")


def routes(resolver: URLResolver | None = None, prefix: str = "", namespace: str = "") -> Iterator[Any]:
    """(route, name) for every URL pattern, depth first."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from routes(pattern, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), f"{namespace}{pattern.name or ''}"


@pytest.fixture
def world(db: None, trip_workflows: None, sent_tasks: Any) -> dict[str, Any]:
    """One object of every kind, so that every route with an id finds something."""
    return one_of_everything()


def sample_url(route: str, world: dict[str, Any]) -> str:
    """A concrete URL for a route: real ids wherever a route takes one."""
    booking = world["booking"]
    if route.startswith("admin/^"):  # the app index: one app it lists
        return "/admin/booking/"
    if route.startswith("admin/(?P<url>"):  # the admin's catch-all
        return "/admin/nothing-here/"
    in_admin = re.match(r"admin/(\w+)/(\w+)/", route)
    models = {(m._meta.app_label, m._meta.model_name): m for m in admin.site._registry}
    model = models.get(in_admin.groups()) if in_admin else None  # type: ignore[arg-type]
    object_id = str(model._default_manager.first().pk) if model else ""  # type: ignore[union-attr]
    values = {
        "object_id": object_id,
        "id": str(world["user"].pk),
        "content_type_id": str(ContentType.objects.get_for_model(booking).pk),
        "booking_id": str(booking.pk),
        "process_id": str(booking.process_id),
        "pk": str(world["bulk"].pk) if route.startswith("bulk/") else str(booking.process_id),
        "seq": "1",
        "action": "retry" if not route.startswith("api/") else "pause",
        "name": "payments",
        "service": "payments",
        "token": world["status_token"],
    }
    if route.startswith("admin/r/"):
        values["object_id"] = str(booking.pk)

    def fill(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route)


def staff(username: str, *permissions: str) -> Client:
    user = get_user_model().objects.create_user(username, password="pw-123456789", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    client = Client()
    client.force_login(user)
    return client


def callers() -> dict[str, Client]:
    return {
        "anonymous": Client(),
        "staff without permissions": staff("nobody"),
        # Permission objects have no page anywhere: a permission unrelated to every route.
        "staff with an unrelated permission": staff("stranger", "view_permission"),
    }


def test_every_route_refuses_who_may_not_use_it(world: dict[str, Any], settings: Any) -> None:
    settings.METRICS_TOKEN = "metrics-secret"  # /metrics is for Prometheus and its token
    checked = 0
    who_calls = callers()
    for route, name in routes():
        if name in PUBLIC or route.startswith("static/"):
            continue
        url = sample_url(route, world)
        for who, client in who_calls.items():
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                if name in SELF_SERVICE and who != "anonymous":
                    assert response.status_code in {200, 302, 404, 405}, (url, who, method)
                    assert b"/admin/booking/" not in response.content, (url, who)  # lists no model
                    continue
                status = response.status_code
                assert status in REFUSED, (url, name, who, method, status)
                if status == 302:
                    # To a login page, or, for an object the admin does not show them, its index.
                    location = response["Location"]
                    assert location.startswith(LOGIN_PAGES) or location == "/admin/", (url, who, location)
                checked += 1
    assert checked > 300  # the walk found the admin, the API and the dashboard


def test_the_public_routes_are_still_there() -> None:
    names = {name for _, name in routes()}
    assert set(PUBLIC) | set(SELF_SERVICE) <= names, "a public route was renamed: update the list"


@pytest.fixture
def caller_cookies(transactional_db: None) -> dict[str, list[tuple[bytes, bytes]]]:
    """Each caller's session cookie (none for the anonymous visitor)."""
    found = {}
    for who, client in callers().items():
        session = client.cookies.get("sessionid")
        found[who] = [(b"cookie", f"sessionid={session.value}".encode())] if session else []
    return found


@pytest.mark.asyncio
async def test_every_socket_refuses_who_may_not_use_it(
    caller_cookies: dict[str, list[tuple[bytes, bytes]]],
) -> None:
    from config.asgi import application
    from dashboard.consumers import CLOSE_FORBIDDEN

    for who, headers in caller_cookies.items():
        for pattern in websocket_urlpatterns:
            path = "/" + str(pattern.pattern)
            origin = (b"origin", b"http://127.0.0.1")
            ws = WebsocketCommunicator(application, path, headers=[origin, *headers])
            connected, code = await ws.connect()
            assert (connected, code) == (False, CLOSE_FORBIDDEN), (path, who)


def test_every_admin_action_needs_more_than_the_permission_to_view(world: dict[str, Any]) -> None:
    """A user who may only look at a model is offered none of its actions, but exports."""
    read_only = {"export_json"}
    for model, model_admin in admin.site._registry.items():
        codename = f"view_{model._meta.model_name}"
        viewer = get_user_model().objects.create_user(f"v-{model._meta.model_name}"[:150], is_staff=True)
        viewer.user_permissions.set(
            Permission.objects.filter(
                codename=codename, content_type=ContentType.objects.get_for_model(model)
            )
        )
        request = RequestFactory().get("/")
        request.user = get_user_model().objects.get(pk=viewer.pk)
        offered = set(model_admin.get_actions(request)) - read_only
        assert offered == set(), (model.__name__, offered)
