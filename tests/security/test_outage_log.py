"""During a WeChat outage the log stays readable and no work is wasted (SECURITY.md finding 11).

Every page that wants a signature fails alike while WeChat is down: one WARNING per
back-off window, carrying the count of those held back, instead of one per page. And
while the ticket fetch is known to fail (the back-off of docs/wechat-protocol.md
section 6), the ASGI adapter does not hop to a worker thread to prefetch it.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from wechat_middleware import context as context_module
from wechat_middleware.logs import ThrottledWarning
from wechat_middleware.testing import FakeWeChat, Fault
from wechat_middleware.testing.user_agents import DESKTOP_UA as CHROME

from ..conftest import MakeWeChat
from ..support.apps import app_client

UNSIGNED = "no JS-SDK signature for this page"


def wechat_down(fake: FakeWeChat) -> None:
    for path in ("cgi-bin/stable_token", "cgi-bin/token", "cgi-bin/ticket/getticket"):
        fake.inject(path, Fault("status", 503, times=None))


def test_fifty_unsigned_pages_log_one_line(
    kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    wechat_down(fake_wechat)
    with app_client(kind, make_wechat()) as client, caplog.at_level(logging.WARNING):
        for _ in range(50):
            page = client.get("/page", ua=CHROME)
            assert page.status == 200 and page.json()["signature"] is None
    lines = [r for r in caplog.records if r.getMessage().startswith(UNSIGNED)]
    assert len(lines) == 1


def test_the_next_line_after_the_window_counts_those_held_back() -> None:
    now = [0.0]
    logger = logging.getLogger("wechat_middleware.test_throttle")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    try:
        throttle = ThrottledWarning(5.0, logger=logger, clock=lambda: now[0])
        for _ in range(30):
            throttle.warning("WeChat down: %s", "503")
            now[0] += 0.1
        now[0] += 5
        throttle.warning("WeChat down: %s", "503")
    finally:
        logger.removeHandler(handler)
    assert records == [
        "WeChat down: 503",
        "WeChat down: 503 (29 more like this in the last 5s)",
    ]


def test_asgi_does_not_prefetch_a_ticket_while_backing_off(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[object] = []
    real = context_module.run_in_thread

    async def counted(call: Any, *args: Any) -> Any:
        hops.append(call)  # the context's one hop: signing the page off the loop
        return await real(call, *args)

    monkeypatch.setattr(context_module, "run_in_thread", counted)
    wechat_down(fake_wechat)
    with app_client("asgi", make_wechat()) as client:
        for _ in range(10):
            assert client.get("/page", ua=CHROME).status == 200
    assert len(hops) == 1  # the first request learnt WeChat is down; the rest did not hop
