"""Websocket consumers: push-only; every write goes through a POST view.

A socket serves one page: the process list (with its filters, from the query string) or one
process (`?process=<id>`). On connect it sends the page's live pieces fresh from the database
(this covers reconnects and lost hints); then, on each hint, it refreshes them at most a few
times per second; and every few seconds anyway, in case hints were lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth import get_user_model
from django.http import QueryDict

from dashboard import fragments, groups, live
from dashboard.views.access import may_use_dashboard
from orchestrator.models import ProcessInstance

logger = logging.getLogger(__name__)

# Close codes in the 4000-4999 range are free for applications; 4403 mirrors HTTP 403.
CLOSE_FORBIDDEN = 4403
CLOSE_LOGGED_OUT = 4401
COALESCE = 0.3  # seconds: at most one refresh in this window, however many hints came
FALLBACK_REFRESH = 5.0  # seconds between refreshes when no hint came


@dataclass(frozen=True)
class _Closing:
    code: int


class LiveConsumer(AsyncWebsocketConsumer):
    """The dashboard's live channel, open to whom may use the dashboard (`may_use_dashboard`)."""

    async def connect(self) -> None:
        if not await database_sync_to_async(may_use_dashboard)(self.scope.get("user")):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        live.server_loop = asyncio.get_running_loop()
        query = self.scope.get("query_string", b"").decode()
        self.params = QueryDict(query)
        self.process_id = self._process_id(parse_qs(query).get("process", [""])[0])
        self.last_seq: int | None = None  # None: the next refresh sends the whole timeline
        self.joined = [groups.LIVE]
        session = self.scope.get("session")
        if session is not None and session.session_key:
            self.joined.append(groups.session_group(session.session_key))
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.refresh_soon = asyncio.Event()
        self.refresher = asyncio.create_task(self._refresh_loop())
        self.refresh_soon.set()  # a fresh snapshot right away

    @staticmethod
    def _process_id(raw: str) -> str | None:
        try:
            return str(uuid.UUID(raw)) if raw else None
        except ValueError:
            return None

    async def disconnect(self, code: int) -> None:
        try:
            if hasattr(self, "refresher"):
                self.refresher.cancel()
                with contextlib.suppress(BaseException):
                    await self.refresher
        finally:
            for group in getattr(self, "joined", []):
                await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return None  # push-only: the browser has nothing to say on this socket

    async def session_ended(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_LOGGED_OUT)

    async def processes_changed(self, event: dict[str, Any]) -> None:
        ids = event.get("ids")
        if self.process_id is None or ids is None or self.process_id in ids:
            self.refresh_soon.set()

    async def _refresh_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_refresh = -COALESCE
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.refresh_soon.wait(), FALLBACK_REFRESH)
            # A hint after a quiet spell refreshes at once; hints that keep coming wait for the
            # window to end, and become one refresh for all of them.
            await asyncio.sleep(max(0.0, last_refresh + COALESCE - loop.time()))
            self.refresh_soon.clear()
            last_refresh = loop.time()
            try:
                html = await self._render()
                if isinstance(html, _Closing):  # the account or the session is gone
                    await self.close(code=html.code)
                    return
                if html:
                    await self.send(text_data=html)
            except Exception:  # the database restarting, say: keep the socket, try at the next turn
                logger.exception("live refresh failed; trying again at the next refresh")

    @database_sync_to_async
    def _render(self) -> str | _Closing:
        """The page's live pieces, for a user who may still use the dashboard, in a live session
        (else why this page may not go on)."""
        session = self.scope.get("session")
        if session is not None and session.session_key and not session.exists(session.session_key):
            return _Closing(CLOSE_LOGGED_OUT)  # logged out, or the session expired
        user = get_user_model().objects.filter(pk=self.scope["user"].pk).first()
        if not may_use_dashboard(user):
            return _Closing(CLOSE_FORBIDDEN)
        if self.process_id is None:
            return fragments.list_fragments(self.params, user)
        process = ProcessInstance.objects.select_related("definition").filter(pk=self.process_id).first()
        if process is None:
            return ""
        html = fragments.detail_fragments(process, user)
        # The events rendered, not the process's seq read before them: more may have arrived.
        if self.last_seq is None:
            timeline, self.last_seq = fragments.timeline_full(process)
        else:
            timeline, self.last_seq = fragments.timeline_rows(process, after_seq=self.last_seq)
        return html + timeline
