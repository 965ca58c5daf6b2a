"""A captured, correctly signed server-check URL cannot be used twice.

In plain mode WeChat's signature covers only the token, ``timestamp`` and ``nonce``
(docs/wechat-protocol.md section 1): not the body of a message push, not ``echostr``.
Within the clock-skew window a captured URL would otherwise carry any body the
attacker likes. Each ``timestamp``+``nonce`` is claimed once in the store, so only the
first request with them is served (SECURITY.md, finding 10).
"""

from __future__ import annotations

import time

import pytest

from wechat_middleware.signing import server_signature

from ..conftest import MakeWeChat, OpenClient
from ..support.apps import AppClient
from .helpers import check_answer

TOKEN = "server-check-token"  # tests/conftest.py's fake_config


def signed(nonce: str, *, timestamp: int | None = None, echostr: str = "e1") -> str:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = server_signature(TOKEN, ts, nonce)
    return f"/wechat/verify?signature={signature}&timestamp={ts}&nonce={nonce}&echostr={echostr}"


@pytest.fixture
def client(open_client: OpenClient, kind: str, make_wechat: MakeWeChat) -> AppClient:
    return open_client(kind, make_wechat())


def test_a_signed_server_check_is_answered_once(client: AppClient) -> None:
    target = signed("n-once")
    first = client.get(target)
    assert (first.status, first.content) == (200, b"e1")
    again = client.get(target)
    check_answer(again, open_base="http://unused")
    assert again.status == 403 and again.content == b"replayed request"


def test_a_replay_with_another_echostr_is_refused(client: AppClient) -> None:
    now = int(time.time())  # one timestamp: the replay reuses the captured one
    assert client.get(signed("n-echo", timestamp=now, echostr="first")).status == 200
    replay = client.get(signed("n-echo", timestamp=now, echostr="attacker-chosen"))
    assert replay.status == 403 and b"attacker-chosen" not in replay.content


def test_a_replayed_message_push_never_reaches_the_app(client: AppClient) -> None:
    target = signed("n-push")
    first = client.request("POST", target)
    assert (first.status, first.content) == (200, b"posted")
    replay = client.request("POST", target)
    assert replay.status == 403 and replay.content != b"posted"


def test_each_new_nonce_is_served(client: AppClient) -> None:
    for nonce in ("a1", "a2", "a3"):
        assert client.get(signed(nonce)).status == 200


def test_a_signed_check_with_an_old_timestamp_says_why(client: AppClient) -> None:
    """A valid signature 10 minutes old: the answer names the clock, not the signature."""
    stale = client.get(signed("n-old", timestamp=int(time.time()) - 600))
    assert stale.status == 403
    assert stale.content == b"timestamp too old (clock skew?)"
