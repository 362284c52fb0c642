"""Failed logins are limited per account and per client address, on the dashboard and the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "right-password-123"


@pytest.fixture(autouse=True)
def accounts(settings: object) -> None:
    settings.AXES_FAILURE_LIMIT = 3  # type: ignore[attr-defined]
    for name in ("olga", "oscar", "otto", "ovid"):
        get_user_model().objects.create_user(name, password=PASSWORD, is_staff=True)


def log_in(url: str, username: str, password: str, address: str) -> int:
    response = Client(REMOTE_ADDR=address).post(url, {"username": username, "password": password})
    return response.status_code


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_an_account_is_locked_after_failed_attempts_from_anywhere(url: str) -> None:
    assert [log_in(url, "olga", "guess", f"10.0.0.{n}") for n in range(3)] == [200, 200, 429]
    # Even the right password, from yet another address, waits for the cool-off.
    assert log_in(url, "olga", PASSWORD, "10.0.0.99") == 429
    assert log_in(url, "oscar", PASSWORD, "10.0.0.98") == 302  # other accounts are not affected


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_an_address_trying_many_accounts_is_locked(url: str) -> None:
    statuses = [log_in(url, name, "guess", "10.0.1.1") for name in ("olga", "oscar", "otto")]
    assert statuses == [200, 200, 429]
    assert log_in(url, "ovid", PASSWORD, "10.0.1.1") == 429
    assert log_in(url, "ovid", PASSWORD, "10.0.1.2") == 302


def test_the_lockout_page_says_what_happened() -> None:
    for _ in range(3):
        response = Client().post("/login/", {"username": "olga", "password": "guess"})
    assert b"Too many failed logins" in response.content
