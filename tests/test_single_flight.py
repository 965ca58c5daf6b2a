"""One fetch serves every worker process: the promise behind "no stampede".

WeChat fact (docs/wechat-protocol.md sections 2.1 and 3): every classic token call invalidates the
previous
token after ~5 minutes and the ticket endpoint is strictly rate limited, so N workers
fetching independently burn quota and break each other. Here 4 real processes with 8
threads each start cold at the same instant against one SQLite file.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.signing import jsapi_signature
from wechat_middleware.testing import FakeWeChat, Fault

PROCESSES = 4
THREADS = 8


def _worker(config: WeChatConfig, barrier: Barrier, results: Any) -> None:
    wechat = WeChat(config)
    start = threading.Barrier(THREADS)
    signatures: list[dict[str, Any]] = []

    def sign() -> None:
        start.wait()
        signatures.append(dict(wechat.jssdk.get_signature_by_url("http://127.0.0.1/page?a=1")))

    threads = [threading.Thread(target=sign) for _ in range(THREADS)]
    barrier.wait()  # every process is built; now all go at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(signatures)
    wechat.close()


def test_4_processes_x_8_threads_at_a_cold_start_cause_one_token_and_one_ticket_fetch(
    fake_wechat: FakeWeChat, tmp_path: Path
) -> None:
    config = WeChatConfig(
        app_id=fake_wechat.app_id,
        app_secret=fake_wechat.app_secret,
        api_base=fake_wechat.api_base,
        open_base=fake_wechat.open_base,
        store=f"sqlite:///{tmp_path}/shared.sqlite3",
    )
    fake_wechat.inject("cgi-bin/stable_token", Fault("latency", 0.3))  # widen the race
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(config, barrier, results)) for _ in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    signatures = [sig for _ in workers for sig in results.get(timeout=60)]
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0

    assert len(signatures) == PROCESSES * THREADS
    assert fake_wechat.calls("cgi-bin/stable_token") == 1
    assert fake_wechat.calls("cgi-bin/ticket/getticket") == 1
    ticket = fake_wechat.current_jsapi_ticket()
    assert ticket is not None
    for sig in signatures:
        expected = jsapi_signature(ticket, sig["nonceStr"], sig["timestamp"], sig["url"])
        assert sig["signature"] == expected
        assert fake_wechat.check_jsapi_signature(
            sig["url"], sig["nonceStr"], sig["timestamp"], sig["signature"]
        )
