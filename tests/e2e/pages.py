"""A tiny web server on loopback that serves test pages from memory.

The JS-SDK stand-in is tested on a page of its own origin (another port than FakeWeChat),
so a config check crosses origins exactly as it does from an app's page.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

LOOPBACK = "127.0.0.1"


class PageServer:
    """``pages.add(path, html)`` then open ``pages.url(path)``; unknown paths are 404."""

    def __init__(self) -> None:
        self._pages: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="PageServer",
            daemon=True,
        )

    def __enter__(self) -> PageServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def origin(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.origin + path

    def add(self, path: str, html: str) -> str:
        """Serve ``html`` at ``path`` (the query is ignored); returns its URL."""
        with self._lock:
            self._pages[path.split("?", 1)[0]] = html.encode("utf-8")
        return self.url(path)

    def page(self, path: str) -> bytes | None:
        with self._lock:
            return self._pages.get(path.split("?", 1)[0])


def _handler_for(pages: PageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.page(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test output stays readable."""

    return Handler
