"""A kept connection closed by the other end is told apart without a round trip."""

from __future__ import annotations

import socket

from config.sockets import spoke_while_idle


def test_an_idle_connection_is_quiet_until_the_other_end_speaks_or_closes() -> None:
    ours, theirs = socket.socketpair()
    try:
        assert not spoke_while_idle(ours)
        theirs.sendall(b"FATAL: terminating connection")
        assert spoke_while_idle(ours)
        ours.recv(100)
        assert not spoke_while_idle(ours)
        theirs.close()
        assert spoke_while_idle(ours), "a close reads as end of file"
    finally:
        ours.close()
    assert spoke_while_idle(ours), "a socket closed on our side is gone too"
