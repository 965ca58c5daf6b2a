"""Forged server checks and pushes cannot flood the log (issue #20 item 12).

Anyone can post to the verify path. Each request with a bad signature is refused (403)
and used to write one WARNING: a flood of forged pushes wrote a line each. As during a
WeChat outage (``test_outage_log``, ``logs.ThrottledWarning``), the first is written,
then one line a minute at most, saying how many more were refused. Over both adapters
and Django's two handlers; the encrypted pushes of WeCom are in ``test_wecom_bad_input``.
"""

from __future__ import annotations

import logging
import time

import pytest

from wechat_middleware.testing import FakeWeChat

from ..conftest import MakeWeChat, OpenClient

PUSH = b"<xml><MsgType><![CDATA[text]]></MsgType><Content>hi</Content></xml>"
REFUSED = "rejected a server-check request or push with an invalid signature"


def forged(i: int) -> str:
    return f"/wechat/verify?signature={'0' * 40}&timestamp={int(time.time())}&nonce=n{i}"


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The lines about refused signatures (before the throttle: one per request)."""
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(REFUSED[:31])]


def test_fifty_forged_pushes_log_one_line(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    client = open_client(kind, make_wechat())
    with caplog.at_level(logging.WARNING, logger="wechat_middleware"):
        for i in range(50):
            answer = client.request("POST", forged(i), body=PUSH, ua="Mozilla/5.0")
            assert answer.status == 403 and answer.content != b"posted"
            server_check = client.get(forged(i) + "&echostr=e", ua="Mozilla/5.0")
            assert server_check.status == 403
    lines = refusals(caplog)
    assert len(lines) == 1 and lines == [REFUSED]


def test_a_minute_later_one_line_counts_the_refusals_held_back(
    open_client: OpenClient,
    kind: str,
    make_wechat: MakeWeChat,
    fake_wechat: FakeWeChat,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = open_client(kind, make_wechat())
    with caplog.at_level(logging.WARNING, logger="wechat_middleware"):
        for i in range(30):
            assert client.request("POST", forged(i), body=PUSH).status == 403
        fake_wechat.advance(61)
        assert client.request("POST", forged(30), body=PUSH).status == 403
    lines = refusals(caplog)
    assert len(lines) == 2 and lines == [REFUSED, f"{REFUSED} (29 more like this in the last 60s)"]
