"""A WeCom app's access token, corp jsapi ticket and app ticket, through the token manager,
against FakeWeCom over real sockets.

WeCom facts (docs/wecom-and-qrconnect.md): ``gettoken`` per app secret, the same token until
it expires, refetch on 40014/42001 (section 1.1); the corp ticket (``get_jsapi_ticket``) and
the app ticket (``ticket/get?type=agent_config``) are limited to 100 fetches an hour per app
(sections 1.2 and 1.5); 45009/45033 mean "too often", not to be retried (section 1.2).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.errors import AppConfigError, QuotaExceededError, explain
from wechat_middleware.stores import Store, open_store
from wechat_middleware.testing import Fault
from wechat_middleware.testing.fake_wecom import FakeWeCom

GETTOKEN = "cgi-bin/gettoken"
CORP_TICKET = "cgi-bin/get_jsapi_ticket"
AGENT_TICKET = "cgi-bin/ticket/get"


@pytest.fixture
def store(tmp_path: Path, fake_wecom: FakeWeCom) -> Iterator[Store]:
    shared = open_store(f"sqlite:///{tmp_path}/tokens.sqlite3", clock=fake_wecom.now)
    yield shared
    shared.close()


def wecom_app(fake: FakeWeCom, store: Store, secret: str | None = None) -> WeChat:
    config = WeChatConfig.for_wecom(
        fake.corp_id,
        secret or fake.agent_secret(),
        fake.agent_id,
        api_base=fake.api_base,
        open_base=fake.open_base,
    )
    wechat = WeChat(config, store=store, clock=fake.now)
    wechat.client.backoff = 0.01
    return wechat


@pytest.fixture
def wechat(fake_wecom: FakeWeCom, store: Store) -> Iterator[WeChat]:
    wechat = wecom_app(fake_wecom, store)
    yield wechat
    wechat.client.close()


def test_twenty_cold_threads_fetch_each_credential_once(
    wechat: WeChat, fake_wecom: FakeWeCom
) -> None:
    fake_wecom.inject(GETTOKEN, Fault("latency", 0.2))  # widen the race window
    start = threading.Barrier(20)
    seen: list[tuple[str, str]] = []

    def sign() -> None:
        start.wait()
        seen.append((wechat.tokens.jsapi_ticket(), wechat.tokens.agent_ticket()))

    threads = [threading.Thread(target=sign) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1
    assert fake_wecom.calls(GETTOKEN) == 1
    assert fake_wecom.calls(CORP_TICKET) == 1 and fake_wecom.calls(AGENT_TICKET) == 1


def test_the_tickets_are_the_fakes_current_ones(wechat: WeChat, fake_wecom: FakeWeCom) -> None:
    assert wechat.tokens.jsapi_ticket() == fake_wecom.current_jsapi_ticket()
    assert wechat.tokens.agent_ticket() == fake_wecom.current_agent_ticket()


def test_the_tickets_are_refreshed_ahead_of_expiry(wechat: WeChat, fake_wecom: FakeWeCom) -> None:
    wechat.tokens.agent_ticket()
    fake_wecom.advance(7200 - 60)  # inside the refresh margin
    wechat.tokens.agent_ticket()
    assert fake_wecom.calls(AGENT_TICKET) == 2


def test_a_revoked_token_is_fetched_again_and_the_ticket_call_retried(
    wechat: WeChat, fake_wecom: FakeWeCom
) -> None:
    wechat.tokens.access_token()
    fake_wecom.invalidate_access_tokens()  # 40014 on the next call that uses it
    assert wechat.tokens.agent_ticket() == fake_wecom.current_agent_ticket()
    assert fake_wecom.calls(GETTOKEN) == 2 and fake_wecom.calls(AGENT_TICKET) == 2


def test_a_frequency_error_is_not_retried_and_backs_off(
    wechat: WeChat, fake_wecom: FakeWeCom
) -> None:
    fake_wecom.inject(AGENT_TICKET, Fault("errcode", 45009, times=1))
    with pytest.raises(QuotaExceededError):
        wechat.tokens.agent_ticket()
    with pytest.raises(QuotaExceededError):
        wechat.tokens.agent_ticket()  # within the back-off: WeCom is not asked again
    assert fake_wecom.calls(AGENT_TICKET) == 1


def test_at_most_100_ticket_fetches_an_hour_for_every_worker(
    fake_wecom: FakeWeCom, store: Store
) -> None:
    """A loop of forced refreshes (a bug, a hostile report stream) must not get the app
    blocked for an hour: the 101st fetch fails here, without calling WeCom."""
    workers = [wecom_app(fake_wecom, store) for _ in range(2)]
    try:
        for index in range(100):
            workers[index % 2].tokens.refresh(force=True)
        fetched = fake_wecom.calls(CORP_TICKET)
        assert fetched == 100
        with pytest.raises(QuotaExceededError, match="within the hour"):
            workers[0].tokens.refresh(force=True)
        assert fake_wecom.calls(CORP_TICKET) == fetched
        held = workers[1].tokens.jsapi_ticket()  # the ticket already held is still served
        assert held == fake_wecom.current_jsapi_ticket()
    finally:
        for worker in workers:
            worker.client.close()


def test_a_wrong_secret_says_which_setting_to_fix(fake_wecom: FakeWeCom, store: Store) -> None:
    wechat = wecom_app(fake_wecom, store, secret="not-the-apps-secret")
    try:
        with pytest.raises(AppConfigError) as caught:
            wechat.tokens.access_token()
    finally:
        wechat.client.close()
    assert caught.value.errcode == 40001
    advice = explain(caught.value, fake_wecom.corp_id, wechat.client.meanings)
    assert "WECHAT_CORP_SECRET" in advice and "not-the-apps-secret" not in advice
