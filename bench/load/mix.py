"""``python -m bench.load mix``: the examples on real servers under a bounded mixed load.

A correctness check under load more than a speed test: a gunicorn (4 sync workers, the
Flask example) and a uvicorn (2 workers, the Starlette example), all sharing one SQLite
token store, are driven with logged-in WeChat visits, first visits through the whole
OAuth dance and non-WeChat traffic. It passes only with no error, no 5xx and still
exactly one token and one ticket fetched from WeChat for the whole run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from wechat_middleware.testing import FakeWeChat

from . import servers
from .traffic import Browser, Stats, percentile, run_load

TOKEN_PATHS = ("cgi-bin/token", "cgi-bin/stable_token")
TICKET_PATH = "cgi-bin/ticket/getticket"
EXCHANGE_PATH = "sns/oauth2/access_token"
LOGGED_IN_USERS = 8

MIX_SERVERS = {
    "gunicorn": servers.ServerSpec("gunicorn", "examples.flask_app.app:app", 4),
    # two workers: started through bench.load.uvicorn_nodelay (see servers._uvicorn)
    "uvicorn": servers.ServerSpec("uvicorn", "examples.starlette_app.app:app", 2),
}


def _log(message: str) -> None:
    print(f"load: {message}", file=sys.stderr, flush=True)


def upstream_counts(fake: FakeWeChat) -> tuple[int, int, int]:
    """(token fetches, ticket fetches, OAuth code exchanges) the fake has answered."""
    return (
        sum(fake.calls(path) for path in TOKEN_PATHS),
        fake.calls(TICKET_PATH),
        fake.calls(EXCHANGE_PATH),
    )


def run(fake: FakeWeChat, tmp: Path, names: list[str], seconds: float, clients: int) -> bool:
    """Drive each server in ``names``; print one paragraph per server. True if all passed."""
    env = servers.server_env(fake, tmp / "tokens.sqlite3")
    failed = False
    lines: list[str] = []
    for name in names:
        ok, line = _run_one(MIX_SERVERS[name], fake, env, tmp, seconds, clients)
        failed |= not ok
        lines.append(line)
    tokens, tickets, _ = upstream_counts(fake)
    if (tokens, tickets) != (1, 1):
        failed = True
    lines.append(
        f"upstream over the whole run: {tokens} token + {tickets} ticket fetches "
        f"(expected 1 + 1: every worker of every server shares the SQLite store)"
    )
    print("\n".join(lines))
    print("PASS" if not failed else "FAIL")
    return not failed


def _run_one(
    spec: servers.ServerSpec,
    fake: FakeWeChat,
    env: dict[str, str],
    log_dir: Path,
    seconds: float,
    clients: int,
) -> tuple[bool, str]:
    name = f"{spec.label}, {spec.app}"
    _log(f"starting {name}")
    server = servers.start(name, spec.command, env, log_dir)
    try:
        warm = Stats()
        browser = Browser(server.host, warm)
        try:
            # A first page makes one worker fetch the token and ticket (once, shared);
            # then a few users log in through the whole OAuth dance for the logged-in mix.
            browser.page("/", "bench-warmup")
            cookies = [browser.login(f"oBenchLoadUser{i:02d}") for i in range(LOGGED_IN_USERS)]
        finally:
            browser.close()
        before = upstream_counts(fake)
        _log(f"{name}: {seconds:.0f} s of load with {clients} clients")
        stats = run_load(server.host, cookies, seconds=seconds, clients=clients)
        after = upstream_counts(fake)
        alive = server.process.poll() is None
    finally:
        server.stop()
    rps = stats.requests / stats.elapsed if stats.elapsed else 0.0
    mix = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_kind.items()))
    ok = stats.errors == 0 and stats.server_errors == 0 and before[:2] == after[:2] and alive
    line = (
        f"{name}: {stats.requests} requests in {stats.elapsed:.1f} s = {rps:.0f} req/s, "
        f"p50 {percentile(stats.latencies, 50) * 1000:.1f} ms, "
        f"p99 {percentile(stats.latencies, 99) * 1000:.1f} ms, "
        f"errors {stats.errors}, 5xx {stats.server_errors}\n"
        f"  visits: {mix}\n"
        f"  upstream before/after: token {before[0]}/{after[0]}, ticket {before[1]}/{after[1]}, "
        f"code exchanges {before[2]}/{after[2]}"
        + ("" if alive else "\n  the server died during the run")
        + "".join(f"\n  error: {e}" for e in stats.first_errors)
    )
    return ok, line
