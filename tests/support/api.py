"""A client of the HTTP API for the tests."""

from __future__ import annotations

from typing import Any

from django.test import Client


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
