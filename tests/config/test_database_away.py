"""While the database is away, every answer is a 503 the client may retry, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_away(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("connection refused: the server is restarting")

    connection.close()
    monkeypatch.setattr(connection, "ensure_connection", refuse)


def test_the_api_answers_503_with_retry_after(database_away: None) -> None:
    response = Client(raise_request_exception=False).get(
        "/api/processes", HTTP_AUTHORIZATION="Bearer tok_anything"
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"detail": "The database is unavailable for a moment; try again shortly."}


def test_a_page_answers_503_in_words(database_away: None) -> None:
    client = Client(raise_request_exception=False)
    response = client.post("/login/", {"username": "olga", "password": "x"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert b"Back in a moment" in response.content


def test_other_errors_stay_500(monkeypatch: pytest.MonkeyPatch) -> None:
    from booking import checkout

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug, not an outage")

    monkeypatch.setattr(checkout, "render", broken)
    response = Client(raise_request_exception=False).get("/book/")
    assert response.status_code == 500 and "Retry-After" not in response
