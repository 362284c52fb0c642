"""Users for the tests: staff with given permissions, logged in or not."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

# What every dashboard page needs, and what the booking card and the ledger need.
READ_PERMISSIONS = ["view_processinstance", "view_booking", "view_servicefaults"]
OPERATOR_PERMISSIONS = [
    *READ_PERMISSIONS,
    "retry_step",
    "skip_step",
    "cancel_process",
    "terminate_process",
    "compensate_process",
    "pause_process",
    "bulk_act",
    "change_servicefaults",
]


def user_with(username: str, *, staff: bool = True, permissions: list[str] | None = None) -> Client:
    """A test client logged in as a new user with these permissions (codenames)."""
    user = get_user_model().objects.create_user(username=username, password="pw-123456789", is_staff=staff)
    if permissions:
        user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    client = Client()
    client.force_login(user)
    return client


def an_operator(username: str = "ops", *, permissions: list[str] | None = None) -> Any:
    """A user with every operator action's permission (or just `permissions`, as codenames)."""
    from orchestrator.actions import ACTIONS

    model = get_user_model()
    user, _ = model.objects.get_or_create(username=username)
    codenames = (
        [action.permission.split(".")[1] for action in ACTIONS.values()]
        if permissions is None
        else permissions
    )
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return model.objects.get(pk=user.pk)  # fresh: Django caches a user's permissions
