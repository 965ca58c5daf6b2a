"""An Official Account and WeCom apps in one process, on one store: nothing is mixed.

Each app's token and tickets come from its own API (docs/wechat-protocol.md section 2,
docs/wecom-and-qrconnect.md section 1.1: a WeCom token serves only the app whose secret
fetched it), so store keys name the app (corp and agent for WeCom) and the issuer, and
each app's session cookie is salted with its own name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.stores import Store, open_store
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.fake_wecom import FakeWeCom

from .support.tickets import signed_with

SECRET_KEY = "test-secret-key-0123456789abcdef"
PAGE = "https://shop.example/page"


@pytest.fixture
def fake_corp() -> Iterator[FakeWeCom]:
    with FakeWeCom(agents={"1000002": "secret-of-app-a", "1000003": "secret-of-app-b"}) as fake:
        yield fake


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        shared = open_store(f"sqlite:///{tmp_path}/shared.sqlite3")
    else:
        redis_url = request.getfixturevalue("redis_url")
        shared = open_store(redis_url)
    yield shared
    shared.close()


def official_account(fake: FakeWeChat, store: Store) -> WeChat:
    config = WeChatConfig(
        fake.app_id,
        fake.app_secret,
        secret_key=SECRET_KEY,
        api_base=fake.api_base,
        open_base=fake.open_base,
    )
    return WeChat(config, store=store)


def wecom_app(fake: FakeWeCom, agent_id: str, store: Store) -> WeChat:
    config = WeChatConfig.for_wecom(
        fake.corp_id,
        fake.agent_secret(agent_id),
        agent_id,
        secret_key=SECRET_KEY,
        api_base=fake.api_base,
        open_base=fake.open_base,
    )
    return WeChat(config, store=store)


def test_an_official_account_and_two_wecom_apps_share_one_store_unmixed(
    fake_wechat: FakeWeChat, fake_corp: FakeWeCom, store: Store
) -> None:
    oa = official_account(fake_wechat, store)
    app_a = wecom_app(fake_corp, "1000002", store)
    app_b = wecom_app(fake_corp, "1000003", store)
    try:
        oa_signature = oa.jssdk.get_signature_by_url(PAGE)
        a_signature = app_a.jssdk.get_signature_by_url(PAGE)
        b_agent = app_b.jssdk.agent_signature(PAGE)
        a_agent = app_a.jssdk.agent_signature(PAGE)

        assert signed_with(fake_wechat.current_jsapi_ticket(), dict(oa_signature), PAGE)
        assert signed_with(fake_corp.current_jsapi_ticket("1000002"), dict(a_signature), PAGE)
        assert signed_with(fake_corp.current_agent_ticket("1000002"), dict(a_agent), PAGE)
        assert signed_with(fake_corp.current_agent_ticket("1000003"), dict(b_agent), PAGE)
        assert (
            a_signature["appId"] == fake_corp.corp_id
            and oa_signature["appId"] != a_signature["appId"]
        )
        # Each app fetched its own token: WeCom's are per app secret.
        tokens = {app.tokens.access_token() for app in (oa, app_a, app_b)}
        assert len(tokens) == 3
        assert fake_corp.calls("cgi-bin/gettoken") == 2
        assert len({app.keys.prefix for app in (oa, app_a, app_b)}) == 3
    finally:
        for app in (oa, app_a, app_b):
            app.client.close()


def test_a_second_process_of_the_same_wecom_app_reuses_its_credentials(
    fake_corp: FakeWeCom, store: Store
) -> None:
    first = wecom_app(fake_corp, "1000002", store)
    second = wecom_app(fake_corp, "1000002", store)  # another worker, the same store
    try:
        assert first.tokens.agent_ticket() == second.tokens.agent_ticket()
        assert first.tokens.jsapi_ticket() == second.tokens.jsapi_ticket()
        assert fake_corp.calls("cgi-bin/gettoken") == 1
        assert fake_corp.calls("cgi-bin/get_jsapi_ticket") == 1
        assert fake_corp.calls("cgi-bin/ticket/get") == 1
    finally:
        first.client.close()
        second.client.close()


def test_each_apps_session_cookie_is_no_login_for_the_other(
    fake_wechat: FakeWeChat, fake_corp: FakeWeCom, store: Store
) -> None:
    from wechat_middleware.session import Session
    from wechat_middleware.user import WeChatUser, WeComUser

    oa = official_account(fake_wechat, store)
    app_a = wecom_app(fake_corp, "1000002", store)
    app_b = wecom_app(fake_corp, "1000003", store)
    oa_cookie = oa.rules.codec.dumps(Session(user=WeChatUser("o" * 28)))
    a_cookie = app_a.rules.codec.dumps(Session(user=WeComUser(fake_corp.corp_id, "lisi")))
    assert app_a.rules.codec.loads(oa_cookie).user is None
    assert oa.rules.codec.loads(a_cookie).user is None
    assert app_b.rules.codec.loads(a_cookie).user is None  # another app of the same corp
    assert app_a.rules.codec.loads(a_cookie).user is not None
    for app in (oa, app_a, app_b):
        app.client.close()
