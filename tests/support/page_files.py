"""``python -m tests.support.page_files PORT``: serve the pages ``PageServer`` wrote.

Each page is a file in ``$PAGES_ROOT`` (named by :func:`page_file`), answered as UTF-8
HTML for its path whatever the query; any other path is 404. Requests are logged to
stderr, which the launcher keeps for a failing test's report.
"""

from __future__ import annotations

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote


def page_file(path: str) -> str:
    """The file name a page of ``path`` is kept under: one flat name per path."""
    return "page" + quote(path.split("?", 1)[0], safe="")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        file = Path(os.environ.get("PAGES_ROOT", ".")) / page_file(self.path)
        found = file.is_file()
        body = file.read_bytes() if found else b""
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()
