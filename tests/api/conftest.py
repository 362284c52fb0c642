from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from api.models import ApiToken

ALL = [
    "add_booking",
    "view_booking",
    "add_processinstance",
    "view_processinstance",
    "retry_step",
    "skip_step",
    "cancel_process",
    "compensate_process",
    "pause_process",
    "view_servicefaults",
    "change_servicefaults",
]


class ApiClient(Client):
    """A test client that sends JSON with a bearer token."""

    def __init__(self, token: str | None) -> None:
        super().__init__(HTTP_HOST="127.0.0.1")
        self.token = token

    def _auth(self, extra: dict[str, str]) -> dict[str, str]:
        return {**extra, **({"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {})}

    def call(self, method: str, path: str, body: object = None, **headers: str) -> Any:
        send = getattr(super(), method)
        if body is None:
            return send(path, **self._auth(headers))
        import json

        return send(path, data=json.dumps(body), content_type="application/json", **self._auth(headers))


@pytest.fixture
def make_client(db: None, trip_workflows: None) -> Callable[..., ApiClient]:
    def make(username: str = "system", permissions: list[str] | None = None) -> ApiClient:
        user = get_user_model().objects.create_user(username=username)
        user.user_permissions.set(
            Permission.objects.filter(codename__in=ALL if permissions is None else permissions)
        )
        _, token = ApiToken.issue(user=user, name="tests")
        return ApiClient(token)

    return make


@pytest.fixture
def api(make_client: Callable[..., ApiClient]) -> ApiClient:
    return make_client()


@pytest.fixture
def powerless(make_client: Callable[..., ApiClient]) -> ApiClient:
    return make_client("nobody", [])


@pytest.fixture
def anonymous(db: None) -> ApiClient:
    return ApiClient(None)
