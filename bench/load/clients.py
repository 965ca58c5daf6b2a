"""Throughput clients: ``wrk`` when installed, else an event-driven Python client.

Both keep ``connections`` connections busy with one fixed GET for ``seconds`` and
report completed requests per second. A client must cost the machine much less than
the server it measures (the bench machine may have two cores): ``wrk`` is C and uses
epoll; the fallback is one Python thread multiplexing its connections with
:mod:`selectors`, sending prebuilt request bytes and parsing only the status line,
``Content-Length`` and ``Connection: close`` -- no per-request objects, no threads
fighting over the GIL. Only 127.0.0.1 is ever contacted, and both stop by themselves.
"""

from __future__ import annotations

import re
import selectors
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass

ALLOWED_HOST = "127.0.0.1"
IO_TIMEOUT = 10.0


@dataclass(frozen=True)
class Throughput:
    """Completed requests over the measured time, and everything that went wrong."""

    requests: int
    seconds: float
    errors: int = 0  # socket errors, timeouts, unparsable responses
    bad_status: int = 0  # responses whose status is not the expected one
    client: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def pick_client(name: str) -> str:
    """``auto`` -> ``wrk`` when it is on PATH, else ``python``."""
    if name == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if name == "wrk" and not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install -y wrk), use --client python")
    return name


def measure(
    client: str,
    port: int,
    path: str,
    headers: dict[str, str],
    *,
    seconds: float,
    connections: int,
) -> Throughput:
    if client == "wrk":
        return run_wrk(port, path, headers, seconds=seconds, connections=connections)
    return run_python(port, path, headers, seconds=seconds, connections=connections)


# -- wrk ------------------------------------------------------------------------------

_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", re.M)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.M
)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)", re.M)
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def run_wrk(
    port: int, path: str, headers: dict[str, str], *, seconds: float, connections: int
) -> Throughput:
    """One wrk thread (one core at most), ``connections`` keep-alive connections.

    wrk counts a 3xx as a success, so the caller checks the answers before and after.
    """
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    command += [f"--timeout={IO_TIMEOUT:g}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://{ALLOWED_HOST}:{port}{path}")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + IO_TIMEOUT + 30, check=False
    )
    out = done.stdout
    match = _REQUESTS.search(out)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {(done.stderr or out)[-400:]}")
    requests = int(match.group(1))
    elapsed = float(match.group(2)) * _UNITS[match.group(3)]
    socket_errors = _SOCKET_ERRORS.search(out)
    connect, read, write, timeout = (
        (int(x) for x in socket_errors.groups()) if socket_errors else (0, 0, 0, 0)
    )
    non_2xx = _NON_2XX.search(out)
    return Throughput(
        requests=requests,
        seconds=elapsed,
        errors=connect + write + timeout + read,
        bad_status=int(non_2xx.group(1)) if non_2xx else 0,
        client="wrk",
    )


# -- the Python fallback ---------------------------------------------------------------


class _Conn:
    """One connection's state: a socket, the bytes received so far, when it began."""

    __slots__ = ("buffer", "close", "need", "sent_at", "sock")

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.buffer = bytearray()
        self.need = -1  # total bytes of the current response, once the head is parsed
        self.close = False  # the server said Connection: close
        self.sent_at = 0.0


class _PythonClient:
    def __init__(self, port: int, request: bytes, connections: int) -> None:
        self.address = (ALLOWED_HOST, port)
        self.request = request
        self.selector = selectors.DefaultSelector()
        self.conns = [_Conn() for _ in range(connections)]
        self.requests = self.errors = self.bad_status = 0

    def _send(self, conn: _Conn) -> None:
        if conn.sock is None:
            sock = socket.create_connection(self.address, timeout=IO_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            conn.sock = sock
            self.selector.register(sock, selectors.EVENT_READ, conn)
        conn.buffer.clear()
        conn.need = -1
        conn.sent_at = time.monotonic()
        conn.sock.sendall(self.request)  # a few hundred bytes: fits the send buffer

    def _drop(self, conn: _Conn) -> None:
        if conn.sock is not None:
            self.selector.unregister(conn.sock)
            conn.sock.close()
            conn.sock = None

    def _retry(self, conn: _Conn, deadline: float) -> None:
        """After an error: a new connection while there is time (a refused one counts)."""
        if time.monotonic() >= deadline:
            return
        try:
            self._send(conn)
        except OSError:
            self.errors += 1
            self._drop(conn)

    def _parse_head(self, conn: _Conn) -> bool:
        """Find the head's end; set ``need``. False when the head is incomplete."""
        end = conn.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(conn.buffer[:end]).lower()
        if not head.startswith(b"http/1.1 200 "):
            self.bad_status += 1
        length = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
        if length is None:
            raise ValueError("response without Content-Length")
        conn.need = end + 4 + int(length.group(1))
        conn.close = b"\r\nconnection: close" in head
        return True

    def _on_readable(self, conn: _Conn, deadline: float) -> None:
        assert conn.sock is not None
        chunk = conn.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection mid-response")
        conn.buffer += chunk
        if conn.need < 0 and not self._parse_head(conn):
            return
        if len(conn.buffer) < conn.need:
            return
        now = time.monotonic()
        if now <= deadline:  # answers that straddle the deadline are not counted
            self.requests += 1
        if conn.close:
            self._drop(conn)
        if now < deadline:
            self._send(conn)
        else:
            self._drop(conn)

    def run(self, seconds: float) -> float:
        started = time.monotonic()
        deadline = started + seconds
        for conn in self.conns:
            self._retry(conn, deadline)
        while any(c.sock is not None for c in self.conns):
            now = time.monotonic()
            if now > deadline + IO_TIMEOUT:
                break
            for key, _ in self.selector.select(timeout=0.5):
                ready: _Conn = key.data
                try:
                    self._on_readable(ready, deadline)
                except (OSError, ValueError):
                    self.errors += 1
                    self._drop(ready)
                    self._retry(ready, deadline)
            for conn in self.conns:  # a request with no answer at all
                if conn.sock is not None and now - conn.sent_at > IO_TIMEOUT:
                    self.errors += 1
                    self._drop(conn)
        for conn in self.conns:
            self._drop(conn)
        self.selector.close()
        return min(time.monotonic(), deadline) - started


def run_python(
    port: int, path: str, headers: dict[str, str], *, seconds: float, connections: int
) -> Throughput:
    """The fallback: one thread, ``connections`` keep-alive connections via selectors."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {ALLOWED_HOST}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    client = _PythonClient(port, request, connections)
    elapsed = client.run(seconds)
    return Throughput(
        requests=client.requests,
        seconds=elapsed,
        errors=client.errors,
        bad_status=client.bad_status,
        client="python",
    )
