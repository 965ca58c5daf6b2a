"""WeChat misbehaving: pages keep rendering, logins fail cleanly, upstream calls stay bounded.

Everything runs against the real FakeWeChat over sockets with its fault injection
(``inject(path, Fault(kind, value, times))``) and counts what reached it with
``calls(path)``. WeChat facts (docs/wechat-protocol.md sections 2, 3 and 6): -1 is "system busy"
(retry, bounded);
40001/40014/42001 mean the access token is invalid or expired (refresh it, retry once);
45009/45011 mean the quota is spent (back off, never retry); an OAuth code is single-use,
so its exchange is never retried.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from wechat_middleware import WeChat
from wechat_middleware.stores import open_store
from wechat_middleware.testing import FakeWeChat, Fault
from wechat_middleware.testing.user_agents import DESKTOP_UA

from ..conftest import MakeWeChat, OpenClient, fake_config
from ..support.apps import AppClient, app_client
from ..support.fetches import fetches_ended
from .helpers import authorize, check_answer, no_login, session_user

TOKEN = "cgi-bin/stable_token"  # the default token endpoint
TICKET = "cgi-bin/ticket/getticket"
EXCHANGE = "sns/oauth2/access_token"
USERINFO = "sns/userinfo"
TIMEOUT = 0.2  # seconds: the configured WeChat timeout in these tests
SLOW = 0.6  # a latency fault beyond it
RETRIES = 2  # WeChatClient's default: one call and at most two retries
FAILURE_BACKOFF = 5.0  # TokenManager: how long a failed fetch is not repeated
QUOTA_BACKOFF = 60.0


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    """The ticket lives an hour, the token two: the ticket ages while the token is held."""
    with FakeWeChat(ticket_ttl=3600) as fake:
        yield fake


@pytest.fixture
def wechat(make_wechat: MakeWeChat) -> WeChat:
    return make_wechat(timeout=TIMEOUT)


@pytest.fixture
def client(kind: str, wechat: WeChat) -> Iterator[AppClient]:
    with app_client(kind, wechat) as client:
        yield client


def render(client: AppClient, fake: FakeWeChat) -> dict[str, object] | None:
    """A page for a plain browser: it must render, its signature valid or None."""
    answer = client.get("/page?x=1", ua=DESKTOP_UA)
    check_answer(answer, open_base=fake.open_base)
    assert answer.status == 200
    signature = answer.json()["signature"]
    if signature is None:
        return None
    assert isinstance(signature, dict)
    assert signature["url"] == "http://testserver/page?x=1"
    assert fake.check_jsapi_signature(
        str(signature["url"]),
        str(signature["nonceStr"]),
        str(signature["timestamp"]),
        str(signature["signature"]),
    )
    return signature


# -- transient faults: retried a bounded number of times, then backed off ------------------

TRANSIENT = {
    "timeout": Fault("latency", SLOW, times=None),
    "http-502": Fault("status", 502, times=None),
    "http-503": Fault("status", 503, times=None),
    "busy-errcode-minus-1": Fault("errcode", -1, times=None),
    "malformed-json": Fault("malformed", times=None),
    "connection-reset": Fault("drop", times=None),
}


@pytest.mark.parametrize("path", [TOKEN, TICKET], ids=["token", "ticket"])
@pytest.mark.parametrize("fault", list(TRANSIENT.values()), ids=list(TRANSIENT))
def test_transient_fault_keeps_pages_rendering_with_bounded_calls(
    client: AppClient, wechat: WeChat, fake_wechat: FakeWeChat, path: str, fault: Fault
) -> None:
    fake_wechat.inject(path, fault)
    began = time.monotonic()
    assert render(client, fake_wechat) is None
    # One call and two retries, each cut at the timeout: the page waited a bounded time
    # (half a second at most: the fetch goes on in the background, awaited here).
    assert time.monotonic() - began < (1 + RETRIES) * TIMEOUT + 1.5
    fetches_ended(wechat)
    assert fake_wechat.calls(path) == 1 + RETRIES
    assert fake_wechat.calls(TOKEN) == (1 + RETRIES if path == TOKEN else 1)
    assert fake_wechat.calls(TICKET) == (0 if path == TOKEN else 1 + RETRIES)

    for _ in range(15):  # within the backoff nothing more reaches WeChat
        assert render(client, fake_wechat) is None
    assert fake_wechat.calls(path) == 1 + RETRIES

    fake_wechat.clear_faults()
    fake_wechat.advance(FAILURE_BACKOFF + 1)
    assert render(client, fake_wechat) is not None  # recovered on its own
    assert fake_wechat.calls(TICKET) <= 2 + RETRIES


# -- invalid or expired access token: invalidate, refresh, retry once ---------------------


@pytest.mark.parametrize("errcode", [40001, 42001])
def test_token_rejected_mid_life_is_refreshed_and_the_ticket_retried_once(
    client: AppClient, fake_wechat: FakeWeChat, errcode: int
) -> None:
    assert render(client, fake_wechat) is not None
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (1, 1)
    fake_wechat.advance(3500)  # the ticket is due for renewal; the held token is not
    if errcode == 40001:
        fake_wechat.invalidate_access_tokens()  # e.g. another deployment forced a new one
    else:
        fake_wechat.expire_access_tokens()
    assert render(client, fake_wechat) is not None
    # The ticket call failed with the held token, the token was renewed, the ticket retried.
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (2, 3)
    for _ in range(10):
        assert render(client, fake_wechat) is not None
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (2, 3)


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_ticket_call_rejecting_the_token_once_is_retried_once(
    client: AppClient, fake_wechat: FakeWeChat, errcode: int
) -> None:
    fake_wechat.inject(TICKET, Fault("errcode", errcode, times=1))
    assert render(client, fake_wechat) is not None
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (2, 2)


def test_token_rejected_every_time_is_retried_once_then_backed_off(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.inject(TICKET, Fault("errcode", 40001, times=None))
    for _ in range(50):
        assert render(client, fake_wechat) is None
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (2, 2)


# -- quota spent: no retries at all, a long backoff ----------------------------------------


@pytest.mark.parametrize("errcode", [45009, 45011])
@pytest.mark.parametrize("path", [TOKEN, TICKET], ids=["token", "ticket"])
def test_quota_error_backs_off_without_a_retry_storm(
    client: AppClient, fake_wechat: FakeWeChat, path: str, errcode: int
) -> None:
    fake_wechat.inject(path, Fault("errcode", errcode, times=None))
    for _ in range(50):
        assert render(client, fake_wechat) is None
    assert fake_wechat.calls(path) == 1
    assert fake_wechat.calls(TOKEN) == 1 and fake_wechat.calls(TICKET) <= 1

    fake_wechat.advance(FAILURE_BACKOFF + 1)  # a short backoff is not enough for a quota
    assert render(client, fake_wechat) is None
    assert fake_wechat.calls(path) == 1

    fake_wechat.clear_faults()
    fake_wechat.advance(QUOTA_BACKOFF)
    assert render(client, fake_wechat) is not None


@pytest.mark.parametrize(
    "fault",
    [Fault("status", 502, times=None), Fault("errcode", 45009, times=None)],
    ids=["http-502", "quota"],
)
def test_concurrent_pages_under_a_failing_wechat_make_bounded_calls(
    kind: str, wechat: WeChat, open_client: OpenClient, fake_wechat: FakeWeChat, fault: Fault
) -> None:
    fake_wechat.inject(TICKET, fault)
    raw = open_client(kind, wechat)
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: raw.get(b"/page", ua=DESKTOP_UA), range(64)))
    assert all(a.status == 200 and b'"signature": null' in a.content for a in answers)
    # One refresh for everyone: the others wait for it and share its failure.
    assert fake_wechat.calls(TICKET) <= 1 + RETRIES
    assert fake_wechat.calls(TOKEN) == 1


# -- the OAuth code exchange: single-use, so never retried; the login fails cleanly ---------

EXCHANGE_FAULTS = {
    "timeout": Fault("latency", SLOW, times=None),
    "http-502": Fault("status", 502, times=None),
    "busy-errcode-minus-1": Fault("errcode", -1, times=None),
    "malformed-json": Fault("malformed", times=None),
    "connection-reset": Fault("drop", times=None),
}


@pytest.mark.parametrize("fault", list(EXCHANGE_FAULTS.values()), ids=list(EXCHANGE_FAULTS))
def test_code_exchange_fault_fails_the_login_once_without_a_loop(
    client: AppClient, wechat: WeChat, fake_wechat: FakeWeChat, fault: Fault
) -> None:
    start = client.get("/page")
    assert start.location
    _, callback = authorize(start.location)
    fake_wechat.inject(EXCHANGE, fault)
    began = time.monotonic()
    answer = client.get(callback)
    assert time.monotonic() - began < TIMEOUT + 1.5
    check_answer(answer, open_base=fake_wechat.open_base, unavailable=True)
    no_login(wechat, answer, client.cookie)
    assert answer.status == 503 and answer.location is None
    assert fake_wechat.calls(EXCHANGE) == 1  # a code is single-use: never retried
    assert client.get(callback).status == 400  # and the callback cannot be replayed

    fake_wechat.clear_faults()
    again = client.get("/page")  # a new login works once WeChat is back
    assert again.status == 302 and again.location
    assert client.get(authorize(again.location)[1]).status == 302
    assert session_user(wechat, client.cookie) is not None


def test_userinfo_fault_logs_in_without_a_profile_and_bounded_calls(
    kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    wechat = make_wechat(timeout=TIMEOUT, scope="snsapi_userinfo")
    fake_wechat.inject(USERINFO, Fault("drop", times=None))
    with app_client(kind, wechat) as client:
        start = client.get("/page")
        assert start.location
        back = client.get(authorize(start.location)[1])
        check_answer(back, open_base=fake_wechat.open_base)
        assert back.status == 302 and back.location == "/page"
        user = session_user(wechat, client.cookie)
        assert user is not None and user.openid == fake_wechat.default_openid
        assert user.nickname is None
    assert fake_wechat.calls(EXCHANGE) == 1
    assert fake_wechat.calls(USERINFO) <= 1 + RETRIES


class HalfEmojiWeChat(FakeWeChat):
    """A profile whose nickname lost half of an emoji's surrogate pair (JSON ``\\ud83d``)."""

    def _handle(self, request: Any) -> Any:
        reply = super()._handle(request)
        if request.path != USERINFO:
            return reply
        data = json.loads(reply.body)
        if "nickname" in data:
            data["nickname"] = "小明\ud83d"
            reply = dataclasses.replace(reply, body=json.dumps(data).encode())
        return reply


def test_a_nickname_with_a_lone_surrogate_still_logs_in(kind: str, tmp_path: Any) -> None:
    """json.loads accepts "\\ud83d"; the login must still work and the name be printable."""
    with HalfEmojiWeChat() as fake:
        wechat = WeChat(
            fake_config(fake, scope="snsapi_userinfo", timeout=TIMEOUT),
            store=open_store("memory://", clock=fake.now),
            clock=fake.now,
        )
        try:
            with app_client(kind, wechat) as client:
                start = client.get("/page")
                assert start.location
                back = client.get(authorize(start.location)[1])
                check_answer(back, open_base=fake.open_base)
                assert back.status == 302 and back.location == "/page"
                user = session_user(wechat, client.cookie)
                # cleaned on the way in, so every template can encode it
                assert user is not None and user.nickname == "小明?"
                user.nickname.encode("utf-8")
                assert client.get("/page").status == 200
        finally:
            wechat.close()
