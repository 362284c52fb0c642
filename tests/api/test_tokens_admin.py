"""API tokens in the admin: revoking is one-way for everyone but superusers."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from api.models import ApiToken

pytestmark = pytest.mark.django_db


def staff_client(username: str, *, superuser: bool = False) -> tuple[Client, object]:
    model = get_user_model()
    if superuser:
        user = model.objects.create_superuser(username, "", "pw")
    else:
        user = model.objects.create_user(username, password="pw", is_staff=True)
        user.user_permissions.set(
            Permission.objects.filter(codename__in=["view_apitoken", "change_apitoken", "add_apitoken"])
        )
    client = Client()
    client.force_login(user)
    return client, user


def test_a_revoked_token_stays_revoked_for_its_owner() -> None:
    client, owner = staff_client("sam")
    token, secret = ApiToken.issue(user=owner, name="shop")
    url = f"/admin/api/apitoken/{token.pk}/change/"
    assert client.post(url, {"name": "shop", "revoked": "on"}).status_code == 302
    token.refresh_from_db()
    assert token.revoked
    # The form shows "revoked" read-only now; a forged POST without it changes nothing either.
    page = client.get(url).content.decode()
    assert 'name="revoked"' not in page
    assert client.post(url, {"name": "shop again"}).status_code == 302
    token.refresh_from_db()
    assert token.revoked and token.name == "shop again"
    assert Client().get("/api/processes", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_a_superuser_may_restore_a_revoked_token() -> None:
    _, owner = staff_client("sam")
    token, _ = ApiToken.issue(user=owner, name="shop")
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)
    root, _ = staff_client("root", superuser=True)
    assert root.post(f"/admin/api/apitoken/{token.pk}/change/", {"name": "shop"}).status_code == 302
    token.refresh_from_db()
    assert not token.revoked
