"""``python -m bench.load stall``: the ~44 ms keep-alive stall of ``uvicorn --workers N``.

The bare Starlette twin of the example (no middleware, no WeChat) on uvicorn, driven by
ONE keep-alive connection from :mod:`http.client` (which sets TCP_NODELAY on its own
side), as started three ways: ``--workers 2`` as uvicorn ships, ``--workers 2`` through
:mod:`bench.load.uvicorn_nodelay`, and ``--workers 1``. Only the server's socket
options differ, so a gap between the first two rows is the stall and nothing else.
uvicorn 0.55 binds its own socket with ``proto=IPPROTO_TCP``, so there the first row
shows no stall; the check stays for older uvicorns that users still deploy.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..report import Table
from . import servers
from .traffic import ACCEPT_HTML, CHROME_UA, percentile

BARE_APP = "bench.load.bare_apps:starlette_app"
TITLE = "5a. uvicorn keep-alive stall: bare Starlette app, one keep-alive client"
HEADERS = ("server", "listener TCP_NODELAY", "req/s", "p50 ms", "p99 ms", "requests", "stall")
STALL_P50 = 0.020  # a median answer this slow is the ~40 ms delayed ACK, not load


@dataclass(frozen=True)
class Variant:
    label: str
    nodelay: str
    command: Callable[[int], list[str]]


VARIANTS = (
    Variant(
        "uvicorn --workers 2 (as shipped)",
        "not set by us (older uvicorns: proto 0)",
        partial(servers.uvicorn_as_shipped, BARE_APP, 2),
    ),
    Variant(
        "uvicorn --workers 2 via bench.load.uvicorn_nodelay",
        "yes (set by the launcher)",
        servers.ServerSpec("uvicorn", BARE_APP, 2).command,
    ),
    Variant(
        "uvicorn --workers 1",
        "yes (asyncio binds it)",
        partial(servers.uvicorn_as_shipped, BARE_APP, 1),
    ),
)


def one_client(host: str, seconds: float) -> list[float]:
    """Latencies of back-to-back GET / on one keep-alive connection for ``seconds``."""
    conn = http.client.HTTPConnection(host, timeout=10)
    latencies: list[float] = []
    headers = {"User-Agent": CHROME_UA, "Accept": ACCEPT_HTML}
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            conn.request("GET", "/", headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET / answered {response.status}")
            latencies.append(time.perf_counter() - started)
    finally:
        conn.close()
    return latencies


def run(log_dir: Path, *, seconds: float) -> Table:
    table = Table(TITLE, HEADERS)
    env = servers.server_env_without_wechat()
    for variant in VARIANTS:
        server = servers.start(variant.label, variant.command, env, log_dir)
        try:
            one_client(server.host, min(1.0, seconds))  # warm-up: imports, first requests
            latencies = one_client(server.host, seconds)
        finally:
            server.stop()
        total = sum(latencies)
        table.add(
            variant.label,
            variant.nodelay,
            f"{len(latencies) / total:.0f}" if total else "0",
            f"{percentile(latencies, 50) * 1000:.2f}",
            f"{percentile(latencies, 99) * 1000:.2f}",
            str(len(latencies)),
            "yes" if latencies and percentile(latencies, 50) >= STALL_P50 else "no",
        )
    table.notes.append(
        f"{seconds:g} s per row after a warm-up; req/s = requests / their summed latency; "
        f"stall: p50 >= {STALL_P50 * 1000:.0f} ms."
    )
    return table
