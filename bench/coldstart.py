"""Section 4: upstream calls when 4 worker processes x 40 threads start cold at once.

A FakeWeChat counts what reaches "WeChat". Ours: 4 processes sharing one store (a new
SQLite file; then a real redis-server), each with 40 threads calling
``get_signature_by_url`` at the same moment. wechatpy: the same work with its
``WeChatClient`` (one per process, as an app keeps it) and its ``MemoryStorage``, then
its ``RedisStorage`` on the same kind of redis-server. The processes are released
together: each prints ``ready`` once its threads wait on a barrier, and all get ``go``
at once.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wechat_middleware.testing import FakeWeChat

from .peers import CHILDREN, WECHATPY_VERSION, LineChild, Peers, PeerUnavailable, child_env
from .report import INFO, UNAVAILABLE, Row, check

SECTION = "4. cold start, 4 procs x 40 threads"
TOKEN_PATHS = ("cgi-bin/token", "cgi-bin/stable_token")
TICKET_PATH = "cgi-bin/ticket/getticket"


@dataclass
class Outcome:
    tokens: int
    tickets: int
    ok: int
    errors: list[str]
    bad_signatures: int
    seconds: float


def _round(
    python: str,
    impl: str,
    *,
    workers: int,
    threads: int,
    store: str = "",
    redis_url: str = "",
) -> Outcome:
    with FakeWeChat() as fake:
        children: list[LineChild] = []
        try:
            for worker in range(workers):
                command = [python, str(CHILDREN / "cold_child.py"), "--impl", impl]
                command += ["--base", fake.base_url, "--app-id", fake.app_id]
                command += ["--app-secret", fake.app_secret, "--threads", str(threads)]
                command += ["--worker", str(worker)]
                if store:
                    command += ["--store", store]
                if redis_url:
                    command += ["--redis", redis_url]
                env = child_env(with_repo=impl == "ours")
                children.append(LineChild(f"{impl} worker {worker}", command, env, timeout=120))
            for child in children:
                if child.read_line() != "ready":
                    raise PeerUnavailable(f"{child.name} did not get ready")
            for child in children:
                child.send("go")
            reports: list[dict[str, Any]] = [json.loads(c.read_line()) for c in children]
        finally:
            for child in children:
                child.close()
        bad = sum(
            not fake.check_jsapi_signature(s["url"], s["nonceStr"], s["timestamp"], s["signature"])
            for report in reports
            for s in report["samples"]
        )
        return Outcome(
            tokens=sum(fake.calls(path) for path in TOKEN_PATHS),
            tickets=fake.calls(TICKET_PATH),
            ok=sum(r["ok"] for r in reports),
            errors=[e for r in reports for e in r["errors"]],
            bad_signatures=bad,
            seconds=max(r["seconds"] for r in reports),
        )


def _row(label: str, outcome: Outcome, total: int, *, ours: bool) -> Row:
    errors = len(outcome.errors) + outcome.bad_signatures
    result = f"{outcome.tokens} token + {outcome.tickets} ticket fetches"
    compare = f"{outcome.ok}/{total} signed in {outcome.seconds:.2f} s"
    if errors:
        first = outcome.errors[0] if outcome.errors else "a signature WeChat would reject"
        compare += f"; {errors} errors (first: {first[:80]})"
    if ours:
        good = outcome.tokens == 1 and outcome.tickets == 1 and not errors and outcome.ok == total
        return Row(SECTION, label, result, compare, "1 token + 1 ticket, 0 errors", check(good))
    return Row(SECTION, label, result, compare, "", INFO)


def run(peers: Peers, *, workers: int = 4, threads: int = 40) -> list[Row]:
    total = workers * threads
    rows: list[Row] = []
    redis_server: Any = None
    redis_reason = ""
    try:
        from tests.support.redis_server import RedisServer

        redis_server = RedisServer().start()
    except Exception as exc:  # redis-server missing or not starting: those rows say so
        redis_reason = f"no redis-server: {str(exc).splitlines()[0][:80]}"
    try:
        with tempfile.TemporaryDirectory(prefix="wechat-bench-") as tmp:
            store = f"sqlite:///{Path(tmp) / 'tokens.sqlite3'}"
            variants: list[tuple[str, str, dict[str, str], bool, str]] = [
                ("ours, SQLite store", "ours", {"store": store}, True, ""),
                (
                    "ours, Redis store",
                    "ours",
                    {"store": f"{redis_server.url}/1"} if redis_server else {},
                    True,
                    redis_reason,
                ),
                (f"wechatpy {WECHATPY_VERSION}, MemoryStorage", "wechatpy", {}, False, ""),
                (
                    f"wechatpy {WECHATPY_VERSION}, RedisStorage",
                    "wechatpy",
                    {"redis_url": f"{redis_server.url}/2"} if redis_server else {},
                    False,
                    redis_reason,
                ),
            ]
            for label, impl, options, ours, reason in variants:
                python = sys.executable if ours else peers.wechatpy_python
                if python is None:
                    reason = peers.wechatpy_reason
                if reason:
                    rows.append(Row(SECTION, label, f"unavailable ({reason})", status=UNAVAILABLE))
                    continue
                try:
                    outcome = _round(str(python), impl, workers=workers, threads=threads, **options)
                except (PeerUnavailable, ValueError, KeyError) as exc:
                    rows.append(Row(SECTION, label, f"unavailable ({exc})", status=UNAVAILABLE))
                    continue
                rows.append(_row(label, outcome, total, ours=ours))
    finally:
        if redis_server is not None:
            redis_server.stop()
    return rows
