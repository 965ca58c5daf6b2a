"""``python -m bench.load.uvicorn_nodelay ARGS``: uvicorn's own CLI, with TCP_NODELAY.

Why: older uvicorn versions with ``--workers N`` (N > 1) bound the listening socket itself
(``Config.bind_socket``) as ``socket.socket(AF_INET)``, whose ``proto`` is 0. Accepted
connections inherit that ``proto``, and asyncio turns on TCP_NODELAY only for sockets
whose ``proto`` is ``IPPROTO_TCP``. So Nagle's algorithm stays on, and because uvicorn
writes a response's head and body in two ``transport.write`` calls, the body waits for
the client's delayed ACK of the head: ~40 ms on Linux, for every keep-alive request
(uvicorn issue #3149). ``--workers 1`` lets asyncio bind the socket and is unaffected;
uvicorn 0.55 binds with ``IPPROTO_TCP`` and is unaffected too (the first fixed version
was not checked), so this launcher is a guard for older ones.

This launcher sets TCP_NODELAY on the listening socket uvicorn binds; Linux copies it
to every accepted connection (gunicorn relies on the same). Nothing else changes.
"""

from __future__ import annotations

import socket
import sys

import uvicorn.config
import uvicorn.main

_bind_socket = uvicorn.config.Config.bind_socket


def _bind_socket_nodelay(self: uvicorn.config.Config) -> socket.socket:
    sock = _bind_socket(self)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


uvicorn.config.Config.bind_socket = _bind_socket_nodelay  # type: ignore[method-assign]

if __name__ == "__main__":  # the workers re-import this module under another name
    sys.exit(uvicorn.main.main())
