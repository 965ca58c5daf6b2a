"""``python -m bench.load [--seconds 30] [--clients 16] [--only gunicorn|uvicorn]``.

See :mod:`bench.load`. Exit status 0 when every server answered with no error and no
5xx and no extra token or ticket reached WeChat; 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from wechat_middleware.testing import FakeWeChat

from . import servers
from .traffic import Browser, Stats, percentile, run_load

TOKEN_PATHS = ("cgi-bin/token", "cgi-bin/stable_token")
TICKET_PATH = "cgi-bin/ticket/getticket"
EXCHANGE_PATH = "sns/oauth2/access_token"
LOGGED_IN_USERS = 8


def _log(message: str) -> None:
    print(f"load: {message}", file=sys.stderr, flush=True)


def _env(fake: FakeWeChat, store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env.update(
        WECHAT_APP_ID=fake.app_id,
        WECHAT_APP_SECRET=fake.app_secret,
        WECHAT_SECRET_KEY=secrets.token_urlsafe(32),
        WECHAT_TOKEN="bench-load-server-check",
        WECHAT_API_BASE=fake.base_url,
        WECHAT_OPEN_BASE=fake.base_url,
        WECHAT_STORE=f"sqlite:///{store}",
        WECHAT_JSSDK_URL="http://127.0.0.1:9/jweixin-1.6.0.js",  # never fetched
        PYTHONPATH=str(servers.REPO_ROOT),
        PYTHONUNBUFFERED="1",
    )
    return env


def _counts(fake: FakeWeChat) -> tuple[int, int, int]:
    return (
        sum(fake.calls(path) for path in TOKEN_PATHS),
        fake.calls(TICKET_PATH),
        fake.calls(EXCHANGE_PATH),
    )


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the finally blocks that stop the servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="load per server")
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--only", choices=("gunicorn", "uvicorn"), action="append")
    args = parser.parse_args(argv)
    if not (0 < args.seconds <= 3600) or not (0 < args.clients <= 256):
        parser.error("--seconds must be in (0, 3600] and --clients in (0, 256]")
    signal.signal(signal.SIGTERM, _on_sigterm)

    names = [n for n in servers.SERVERS if not args.only or n.split()[0] in args.only]
    failed = False
    lines: list[str] = []
    try:
        with FakeWeChat() as fake, tempfile.TemporaryDirectory(prefix="wechat-load-") as tmp:
            env = _env(fake, Path(tmp) / "tokens.sqlite3")
            for name in names:
                ok, line = _run_one(name, fake, env, Path(tmp), args.seconds, args.clients)
                failed |= not ok
                lines.append(line)
            tokens, tickets, _ = _counts(fake)
            if (tokens, tickets) != (1, 1):
                failed = True
            lines.append(
                f"upstream over the whole run: {tokens} token + {tickets} ticket fetches "
                f"(expected 1 + 1: every worker of both servers shares the SQLite store)"
            )
    except KeyboardInterrupt:
        _log("interrupted: servers stopped")
        return 130
    finally:
        servers.stop_all()
    print("\n".join(lines))
    print("PASS" if not failed else "FAIL")
    return 1 if failed else 0


def _run_one(
    name: str, fake: FakeWeChat, env: dict[str, str], log_dir: Path, seconds: float, clients: int
) -> tuple[bool, str]:
    _log(f"starting {name}")
    server = servers.start(name, env, log_dir)
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
        before = _counts(fake)
        _log(f"{name}: {seconds:.0f} s of load with {clients} clients")
        stats = run_load(server.host, cookies, seconds=seconds, clients=clients)
        after = _counts(fake)
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


if __name__ == "__main__":
    sys.exit(main())
