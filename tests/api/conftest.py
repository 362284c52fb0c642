from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from api.models import ApiToken
from tests.support.api import ApiClient

ALL = [
    "add_booking",
    "view_booking",
    "add_processinstance",
    "view_processinstance",
    "retry_step",
    "skip_step",
    "cancel_process",
    "terminate_process",
    "signal_process",
    "compensate_process",
    "pause_process",
    "view_servicefaults",
    "change_servicefaults",
]


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
