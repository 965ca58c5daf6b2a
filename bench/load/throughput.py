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

import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wechat_middleware.testing import FakeWeChat

from ..report import ERROR, Table, check, median
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
    "ratio interquartile range",
    "server CPU per request, wrapped / bare",
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


@dataclass(frozen=True)
class Round:
    """One timed run against one server: what the client saw, what the server spent."""

    throughput: Throughput
    server_cpu: float  # seconds of CPU used by the server's processes meanwhile

    @property
    def cpu_per_request(self) -> float:
        return self.server_cpu / self.throughput.requests if self.throughput.requests else 0.0


@dataclass
class Cell:
    """The rounds of one (setup, traffic): per-variant rounds, in round order."""

    runs: dict[str, list[Round]]

    def _pairs(self) -> list[tuple[Round, Round]]:
        return list(zip(self.runs["bare"], self.runs["wrapped"], strict=True))

    def ratios(self) -> list[float]:
        """wrapped/bare requests/s, per round."""
        return [w.throughput.rps / b.throughput.rps for b, w in self._pairs() if b.throughput.rps]

    def cpu_ratios(self) -> list[float]:
        """wrapped/bare server CPU per request, per round."""
        return [
            w.cpu_per_request / b.cpu_per_request for b, w in self._pairs() if b.cpu_per_request
        ]

    def errors(self) -> int:
        return sum(
            r.throughput.errors + r.throughput.bad_status
            for runs in self.runs.values()
            for r in runs
        )


def _measure_traffic(
    started: dict[str, servers.Server],
    traffic: str,
    cookie: str,
    *,
    client: str,
    rounds: int,
    seconds: float,
    connections: int,
) -> Cell:
    """Check both apps' answers, warm them up, then alternate timed rounds between them."""
    headers = _headers(traffic, cookie)
    for variant, server in started.items():
        _precheck(server.host, variant, traffic, cookie)
        measure(client, server.port, "/", headers, seconds=1, connections=connections)
    cell = Cell({v: [] for v in VARIANTS})
    for r in range(rounds):
        for variant in VARIANTS[r % 2 :] + VARIANTS[: r % 2]:
            server = started[variant]
            cpu = server.cpu_seconds()
            result = measure(
                client, server.port, "/", headers, seconds=seconds, connections=connections
            )
            cell.runs[variant].append(Round(result, server.cpu_seconds() - cpu))
    for variant, server in started.items():  # still the right answers after the load
        _precheck(server.host, variant, traffic, cookie)
    return cell


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
        cookie = _login(started["wrapped"].host)
        before = upstream_counts(fake)[:2]
        cells = {
            traffic: _measure_traffic(
                started,
                traffic,
                cookie,
                client=client,
                rounds=rounds,
                seconds=seconds,
                connections=connections,
            )
            for traffic in TRAFFIC
        }
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
                    table.add(label, "-", "", "", "", "", "", str(exc)[:160], "", ERROR)
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


def _iqr(values: list[float]) -> str:
    """The middle half of the rounds' ratios: how far apart typical rounds are."""
    if len(values) < 4:
        return ""
    low, _, high = statistics.quantiles(values, n=4)
    return f"{low:.3f} .. {high:.3f}"


def _add_rows(table: Table, label: str, cells: dict[str, Cell]) -> None:
    for traffic, cell in cells.items():
        ratios = cell.ratios()
        ratio = median(ratios) if ratios else 0.0
        cpu_ratios = cell.cpu_ratios()
        errors = cell.errors()
        table.add(
            label,
            f"{traffic}: {'WeChat + session cookie' if traffic == 'logged-in' else 'desktop'}",
            f"{median([r.throughput.rps for r in cell.runs['bare']]):.0f}",
            f"{median([r.throughput.rps for r in cell.runs['wrapped']]):.0f}",
            f"{ratio:.3f}x",
            _iqr(ratios),
            f"{median(cpu_ratios):.3f}x" if cpu_ratios else "",
            str(errors),
            f">= {TARGET_RATIO:.2f}x bare",
            ERROR if errors else check(ratio >= TARGET_RATIO),
        )
