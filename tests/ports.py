"""A loopback port nobody listens on (bound, then closed): for a server a test starts, or a refused connection."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
