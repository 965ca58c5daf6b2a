"""The fake's HTTP layer: the standard library's threading server, on loopback.

Each request becomes a :class:`~.fake_records.Request` for a handler function, whose
:class:`~.fake_records.Reply` is written back, or the connection is dropped without a
byte (``Reply.drop``), like a reset or a dead upstream. HTTP/1.1 keep-alive, as clients
with connection pools expect; Nagle off, so headers and body (two writes) do not stall
40 ms; :meth:`HTTPService.stop` cuts idle keep-alive connections so it returns at once.

Request bodies must come with ``Content-Length``, as they do from ``requests`` (``json=``
and ``data=``) and from browsers' ``fetch``/XHR: a strict server may refuse a chunked
body, and this one does, with 411, rather than parse chunks by hand. A body over
:data:`MAX_BODY` is refused with 413 and a malformed length with 400; each of these
answers closes the connection, as the next request cannot be found after an unread body.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .fake_records import Reply, Request, first_values

__all__ = ["MAX_BODY", "HTTPService"]

MAX_BODY = 1 << 20  # nothing WeChat accepts comes close; refuse to buffer more
_PLAIN = "text/plain; charset=utf-8"


class HTTPService:
    """Serves ``handle`` on ``host:port`` (port 0: a free one) from a daemon thread."""

    def __init__(
        self, handle: Callable[[Request], Reply], host: str, port: int = 0, name: str = "fake"
    ) -> None:
        self._server = _Server((host, port), handle)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # keeps stop() fast
            name=f"{name}:{self.port}",
            daemon=True,
        )

    def start(self) -> HTTPService:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open keep-alive connections and release the port."""
        self._server.shutdown()
        self._server.close_open_connections()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    """A threading server that knows its handler and can cut its connections on stop."""

    daemon_threads = True  # a thread stuck in a latency fault must not block exit
    block_on_close = False
    request_queue_size = 128  # 50+ clients connect at once in tests; 5 would drop SYNs

    def __init__(self, address: tuple[str, int], handle: Callable[[Request], Reply]) -> None:
        self.handle = handle
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_open_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (or stop() cutting them off) is routine for a test server.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP into a ``Request`` for the handler and writes its ``Reply`` back."""

    protocol_version = "HTTP/1.1"  # keep-alive, as clients with connection pools expect
    server_version = "FakeWeChat/1.0"
    timeout = 30  # idle keep-alive connections end on their own
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def setup(self) -> None:
        super().setup()
        self._server().track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server().untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log; test output stays readable."""

    def _server(self) -> _Server:
        assert isinstance(self.server, _Server)
        return self.server

    def _serve(self) -> None:
        body = self._read_body()
        if isinstance(body, Reply):
            self.close_connection = True  # the unread body hides where the next request starts
            self._write(body)
            return
        target = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=target.path.lstrip("/"),
            query=first_values(target.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            client=self.client_address[0],
        )
        reply = self._server().handle(request)
        if reply.drop:
            self._drop_connection()
            return
        self._write(reply)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.status >= 200 and reply.status != 204:  # HTTP forbids it on 1xx and 204
            self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)

    def _drop_connection(self) -> None:
        """Close without a byte of response, like a reset or a dead upstream."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _read_body(self) -> bytes | Reply:
        """The body, or the refusal to answer instead (see the module's docstring)."""
        if "Transfer-Encoding" in self.headers:
            return Reply(411, b"Length Required: send Content-Length, not chunks", _PLAIN)
        lengths = set(self.headers.get_all("Content-Length") or ["0"])
        raw = lengths.pop().strip() if len(lengths) == 1 else ""
        if not (raw.isascii() and raw.isdigit()):
            return Reply(400, b"Bad Request: malformed Content-Length", _PLAIN)
        length = int(raw)
        if length > MAX_BODY:
            return Reply(413, b"Content Too Large", _PLAIN)
        return self.rfile.read(length) if length else b""
