"""Store keys name the app and the issuer (``wechat_middleware.keys``).

A store outlives the WeChat it was filled from: the demo's SQLite file keeps the
ticket of the previous FakeWeChat, a staging app may point the same app id at another
API host. A token or ticket is valid only at the host that issued it
(docs/wechat-protocol.md sections 2 and 3), so keys carry the API base: another
issuer can never be served these credentials.
"""

from __future__ import annotations

from pathlib import Path

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.keys import StoreKeys, issuer_tag
from wechat_middleware.stores import open_store
from wechat_middleware.testing import FakeWeChat

from .conftest import fake_config

PAGE = "http://127.0.0.1:8000/?a=1"


def sign_with(fake: FakeWeChat, store: str) -> bool:
    """Sign PAGE through ``fake`` with a fresh process's WeChat; does the fake accept it?"""
    wechat = WeChat(fake_config(fake, store=store))
    try:
        sig = wechat.jssdk.get_signature_by_url(PAGE)
    finally:
        wechat.close()
    return fake.check_jsapi_signature(
        sig["url"], sig["nonceStr"], sig["timestamp"], sig["signature"]
    )


def test_two_fakes_in_turn_on_one_sqlite_file_each_get_their_own_ticket(tmp_path: Path) -> None:
    """The demo's second run: same app id and secret, another WeChat behind another URL."""
    store = f"sqlite:///{tmp_path}/tokens.sqlite3"
    with FakeWeChat() as first:
        assert sign_with(first, store)
    with FakeWeChat() as second:
        assert sign_with(second, store)
        assert second.calls("cgi-bin/ticket/getticket") == 1  # not served the first's


def test_the_same_issuer_shares_what_it_issued(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/tokens.sqlite3"
    with FakeWeChat() as fake:
        assert sign_with(fake, store)
        assert sign_with(fake, store)
        assert fake.calls("cgi-bin/ticket/getticket") == 1


def test_keys_differ_by_app_and_by_api_base() -> None:
    one = StoreKeys.for_app("wx1", "https://api.weixin.qq.com")
    assert one != StoreKeys.for_app("wx2", "https://api.weixin.qq.com")
    assert one != StoreKeys.for_app("wx1", "http://127.0.0.1:9000")
    assert one == StoreKeys.for_app("wx1", "https://api.weixin.qq.com/")
    assert one.prefix == f"wechat_middleware:{{wx1:{issuer_tag('https://api.weixin.qq.com')}}}:"


def test_every_key_of_an_app_starts_with_its_prefix() -> None:
    keys = StoreKeys.for_app("wx1", "https://api.weixin.qq.com")
    made = [
        keys.credential("jsapi_ticket"),
        keys.lock("access_token"),
        keys.rejected("jsapi_ticket"),
        keys.failure("access_token"),
        keys.manual_refresh,
        keys.changed,
        keys.oauth_token("o-user"),
        keys.used_state("abc"),
        keys.used_server_check("1700000000", "n"),
        keys.exchange_budget("*"),
        keys.probe("x"),
    ]
    assert all(key.startswith(keys.prefix) for key in made)
    assert len(set(made)) == len(made)


def test_a_wechat_uses_one_set_of_keys_for_tokens_and_oauth() -> None:
    config = WeChatConfig(app_id="wx1", app_secret="s", api_base="http://127.0.0.1:9")
    wechat = WeChat(config, store=open_store("memory://"))
    try:
        assert wechat.tokens.keys == wechat.oauth.keys == wechat.keys
    finally:
        wechat.close()
