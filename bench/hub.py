"""``--only hub``: the token hub's requests/s and p99 on one core, and 100 cold followers.

The hub runs as in production (gunicorn, one worker with threads, pinned to CPU 0) on
FakeWeChat; 8 client threads of this process ask it for the token for a few seconds.
Then 100 followers, each with an empty store of its own, ask it for the jsapi ticket
at once: WeChat must see one token and one ticket fetch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from wechat_middleware import WeChat
from wechat_middleware.config import WeChatConfig
from wechat_middleware.stores import open_store
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.browser import fake_wechat_env

from .report import FAIL, INFO, PASS, Row

REPO_ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-0123456789abcdef"
FOLLOWERS = 100


def run(seconds: float = 3.0, threads: int = 8) -> list[Row]:
    with FakeWeChat() as fake:
        port, process = _start_hub(fake)
        try:
            url = f"http://127.0.0.1:{port}"
            tokens, tickets = _cold_followers(url, fake)
            rate, p99 = _load(url, fake.app_id, seconds, threads)
        finally:
            process.terminate()
            process.wait(timeout=10)
    cold = f"{tokens} token + {tickets} ticket fetches"
    return [
        Row(
            "hub",
            "token calls, gunicorn 1 worker x 8 threads on 1 core",
            f"{rate:,.0f}/s",
            f"p99 {p99 * 1000:.1f} ms",
            "",
            INFO,
        ),
        Row(
            "hub",
            f"{FOLLOWERS} cold followers ask for the ticket at once",
            cold,
            "",
            "1 + 1",
            PASS if (tokens, tickets) == (1, 1) else FAIL,
        ),
    ]


def _start_hub(fake: FakeWeChat) -> tuple[int, subprocess.Popen[bytes]]:
    from tests.support.servers import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env.update(fake_wechat_env(fake), WECHAT_HUB_CLIENTS=f"bench:{KEY}")
    command = [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "8"]
    command += ["-b", f"127.0.0.1:{port}", "wechat_middleware.hub:app"]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),  # one core
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return port, process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the hub did not start")


def _load(url: str, app_id: str, seconds: float, threads: int) -> tuple[float, float]:
    params = {"grant_type": "client_credential", "appid": app_id, "secret": KEY}
    latencies: list[float] = []
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def client() -> None:
        own: list[float] = []
        with requests.Session() as session:
            while time.perf_counter() < end:
                began = time.perf_counter()
                session.get(url + "/cgi-bin/token", params=params, timeout=10).json()
                own.append(time.perf_counter() - began)
        with lock:
            latencies.extend(own)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda _: client(), range(threads)))
    latencies.sort()
    return len(latencies) / seconds, latencies[int(len(latencies) * 0.99)]


def _cold_followers(url: str, fake: FakeWeChat) -> tuple[int, int]:
    def follower() -> WeChat:
        config = WeChatConfig(fake.app_id, fake.app_secret, token_hub=url, hub_key=KEY)
        return WeChat(config, store=open_store("memory://"))

    hosts = [follower() for _ in range(FOLLOWERS)]
    try:
        with ThreadPoolExecutor(max_workers=FOLLOWERS) as pool:
            list(pool.map(lambda wechat: wechat.tokens.jsapi_ticket(), hosts))
    finally:
        for wechat in hosts:
            wechat.close()
    return fake.calls("cgi-bin/stable_token"), fake.calls("cgi-bin/ticket/getticket")
