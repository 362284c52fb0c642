"""Websocket consumers: push-only; every write goes through a POST view."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from dashboard import groups

# Close codes in the 4000-4999 range are free for applications; 4403 mirrors HTTP 403.
CLOSE_FORBIDDEN = 4403
CLOSE_LOGGED_OUT = 4401


class LiveConsumer(AsyncWebsocketConsumer):
    """The dashboard's live channel, open only to logged-in staff."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.joined = [groups.LIVE]
        session = self.scope.get("session")
        if session is not None and session.session_key:
            self.joined.append(groups.session_group(session.session_key))
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Push-only: the browser has nothing to say on this socket.
        return None

    async def session_ended(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_LOGGED_OUT)
