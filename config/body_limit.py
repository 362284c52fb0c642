"""Request bodies are limited before any view runs: by Content-Length, then byte by byte.

Django's ASGI handler reads (and spools to disk) a whole body before its own size check can
apply, so a client could make every web process write gigabytes. This ASGI middleware answers
413 at once when the declared length is too large, and stops reading, with 413, as soon as the
bytes that arrive pass the limit (chunked bodies declare no length).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = dict[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # Django's handler types its arguments its own way


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _answer(send, scope, 400, "The Content-Length header is not a number.")
            return
        if declared is not None and declared > self.limit:
            await _answer(send, scope, 413, "The request body is too large.")
            return

        received = 0
        too_large = False
        started = False

        async def counted() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Tell Django the client went away: it stops reading and answers nothing.
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted, watched)
        if too_large and not started:
            await _answer(send, scope, 413, "The request body is too large.")


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None when there is none, -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return -1
            return length if length >= 0 else -1
    return None


async def _answer(send: Send, scope: Scope, status: int, detail: str) -> None:
    """A short answer, JSON for the API like its other errors, text elsewhere."""
    if str(scope.get("path", "")).startswith("/api/"):
        body, content_type = json.dumps({"detail": detail}).encode(), b"application/json"
    else:
        body, content_type = (detail + "\n").encode(), b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
