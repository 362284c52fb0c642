"""Names of the channel-layer groups the dashboard's sockets listen on."""

from __future__ import annotations

LIVE = "dashboard.live"


def session_group(session_key: str) -> str:
    # Closing one browser session's sockets on logout must not close the user's other sessions.
    return f"dashboard.session.{session_key}"
