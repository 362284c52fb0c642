"""Telling, without a round trip, that a kept connection was closed by the other end."""

from __future__ import annotations

import select
from typing import Any


def spoke_while_idle(sock: Any) -> bool:
    """Whether the server sent something on a connection nobody asked anything of: the notice a
    server sends before closing it (PostgreSQL's FATAL on a restart, RabbitMQ's Connection.Close),
    or the close itself. `sock`: a socket or its file descriptor; one that is gone counts as yes."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except Exception:  # closed already: no descriptor to look at
        return True
    return bool(readable)
