"""Whether something listens on a port of 127.0.0.1: the servers tests start must stop with
their owner."""

from __future__ import annotations

import socket


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0
