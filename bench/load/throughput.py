"""Section 5b: requests/s of the examples on real servers, wrapped vs bare.

For each server setup, the example app (behind WeChatMiddleware) and its bare twin
(:mod:`bench.load.bare_apps`: same routes, template and static files) run side by side
on 127.0.0.1, and a throughput client (:mod:`bench.load.clients`) drives one of them
at a time with the same request: ``GET /`` from a desktop browser without a cookie
(plain), or from WeChat with a session cookie (logged-in; the bare app ignores it).
Rounds alternate bare/wrapped (rotating which goes first) and the ratio is the median
of the per-round ratios, so drift on the machine hits both alike.

Every answer is checked before timing (status, the signature in the page, the openid
when logged in) and the upstream counts must not move: a wrapped app that redirected
or failed to sign would otherwise look fast.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wechat_middleware.testing import FakeWeChat

from ..report import FAILED, Table, check, median
from . import servers
from .clients import Throughput, measure, pick_client
from .mix import upstream_counts
from .traffic import (
    ACCEPT_HTML,
    CHROME_UA,
    COOKIE_NAME,
    WECHAT_UA,
    Browser,
    Stats,
    Unexpected,
    expect_page,
)

TITLE = "5b. real servers on 127.0.0.1: requests/s of GET / (medians of paired rounds)"
HEADERS = (
    "server",
    "traffic",
    "bare req/s",
    "WeChatMiddleware req/s",
    "ratio to bare",
    "rounds' spread of ratio, ±",
    "errors",
    "target",
    "status",
)
TARGET_RATIO = 0.90  # within 10% of the bare app's requests/s
BARE_NULL_CONFIG = b'<script id="wx-config" type="application/json">null</script>'


@dataclass(frozen=True)
class Setup:
    """One server configuration, started twice: for the example and for its bare twin."""

    kind: str
    workers: int
    wrapped_app: str
    bare_app: str

    def spec(self, variant: str) -> servers.ServerSpec:
        app = self.wrapped_app if variant == "wrapped" else self.bare_app
        return servers.ServerSpec(self.kind, app, self.workers)


SETUPS = (
    Setup("uvicorn", 1, "examples.starlette_app.app:app", "bench.load.bare_apps:starlette_app"),
    Setup("gunicorn", 1, "examples.flask_app.app:app", "bench.load.bare_apps:flask_app"),
    Setup("gunicorn", 2, "examples.flask_app.app:app", "bench.load.bare_apps:flask_app"),
)
VARIANTS = ("bare", "wrapped")
TRAFFIC = ("plain", "logged-in")


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _headers(traffic: str, cookie: str) -> dict[str, str]:
    if traffic == "plain":
        return {"User-Agent": CHROME_UA, "Accept": ACCEPT_HTML}
    return {"User-Agent": WECHAT_UA, "Accept": ACCEPT_HTML, "Cookie": f"{COOKIE_NAME}={cookie}"}


def _precheck(host: str, variant: str, traffic: str, cookie: str) -> None:
    """One request as the client will send it; raise Unexpected if the answer is wrong."""
    browser = Browser(host, Stats())
    try:
        reply = browser.get(host, "/", _headers(traffic, cookie))
    finally:
        browser.close()
    if variant == "wrapped":
        expect_page(reply, logged_in=traffic == "logged-in")
    elif reply.status != 200 or BARE_NULL_CONFIG not in reply.body:
        raise Unexpected(f"bare app: {reply.status}, not the example's page without WeChat")


def _login(host: str) -> str:
    browser = Browser(host, Stats())
    try:
        browser.page("/", CHROME_UA)  # the first page fetches the token and ticket
        return browser.login("oBenchThroughputUser")
    finally:
        browser.close()


@dataclass
class Cell:
    """The rounds of one (setup, traffic): per-variant throughputs, in round order."""

    runs: dict[str, list[Throughput]]

    def ratios(self) -> list[float]:
        bare, wrapped = self.runs["bare"], self.runs["wrapped"]
        return [w.rps / b.rps for b, w in zip(bare, wrapped, strict=True) if b.rps]

    def errors(self) -> int:
        return sum(t.errors + t.bad_status for runs in self.runs.values() for t in runs)


def _measure_setup(
    setup: Setup,
    env: dict[str, str],
    log_dir: Path,
    fake: FakeWeChat,
    *,
    client: str,
    rounds: int,
    seconds: float,
    connections: int,
) -> dict[str, Cell]:
    started: dict[str, servers.Server] = {}
    try:
        for variant in VARIANTS:
            spec = setup.spec(variant)
            started[variant] = servers.start(
                f"{spec.label}, {spec.app}", spec.command, env, log_dir
            )
        ports = {v: s.port for v, s in started.items()}
        cookie = _login(started["wrapped"].host)
        before = upstream_counts(fake)[:2]
        cells: dict[str, Cell] = {}
        for traffic in TRAFFIC:
            headers = _headers(traffic, cookie)
            for variant in VARIANTS:
                _precheck(started[variant].host, variant, traffic, cookie)
                measure(client, ports[variant], "/", headers, seconds=1, connections=connections)
            cell = cells[traffic] = Cell({v: [] for v in VARIANTS})
            for r in range(rounds):
                for variant in VARIANTS[r % 2 :] + VARIANTS[: r % 2]:
                    cell.runs[variant].append(
                        measure(
                            client,
                            ports[variant],
                            "/",
                            headers,
                            seconds=seconds,
                            connections=connections,
                        )
                    )
            for variant in VARIANTS:
                _precheck(started[variant].host, variant, traffic, cookie)
        if upstream_counts(fake)[:2] != before:
            raise Unexpected(f"{setup.kind}: token or ticket fetched again during the load")
        for variant, server in started.items():
            if server.process.poll() is not None:
                raise Unexpected(f"{variant} {setup.kind} died during the load")
        return cells
    finally:
        for server in started.values():
            server.stop()


def run(*, client: str, rounds: int, seconds: float, connections: int) -> Table:
    client = pick_client(client)
    table = Table(TITLE, HEADERS, status=HEADERS.index("status"), key_columns=2)
    with FakeWeChat() as fake, tempfile.TemporaryDirectory(prefix="wechat-bench-") as tmp:
        env = servers.server_env(fake, Path(tmp) / "tokens.sqlite3")
        try:
            for setup in SETUPS:
                label = setup.spec("bare").label
                _log(f"servers: {label} ({rounds} rounds x {seconds:g} s per app and traffic)")
                try:
                    cells = _measure_setup(
                        setup,
                        env,
                        Path(tmp),
                        fake,
                        client=client,
                        rounds=rounds,
                        seconds=seconds,
                        connections=connections,
                    )
                except (Unexpected, RuntimeError, OSError) as exc:
                    table.add(label, "-", "", "", "", "", str(exc)[:160], "", FAILED)
                    continue
                _add_rows(table, label, cells)
        finally:
            servers.stop_all()
    table.notes.append(
        f"Client: {client}, {connections} connections, {rounds} rounds of {seconds:g} s per "
        "app and traffic after a 1 s warm-up. gunicorn's sync workers close the connection "
        "after every response; uvicorn keeps it alive. The client runs on the same machine."
    )
    return table


def _add_rows(table: Table, label: str, cells: dict[str, Cell]) -> None:
    for traffic, cell in cells.items():
        ratios = cell.ratios()
        ratio = median(ratios) if ratios else 0.0
        errors = cell.errors()
        table.add(
            label,
            f"{traffic}: {'WeChat + session cookie' if traffic == 'logged-in' else 'desktop'}",
            f"{median([t.rps for t in cell.runs['bare']]):.0f}",
            f"{median([t.rps for t in cell.runs['wrapped']]):.0f}",
            f"{ratio:.3f}x",
            f"{(max(ratios) - min(ratios)) / 2:.3f}" if ratios else "",
            str(errors),
            f">= {TARGET_RATIO:.2f}x bare",
            FAILED if errors else check(ratio >= TARGET_RATIO),
        )
