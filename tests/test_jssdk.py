"""The seed's JS-SDK API on ``wechat.jssdk``, one seed function per group of tests.

WeChat facts (docs/wechat-protocol.md section 4): the signature is SHA-1 over jsapi_ticket,
noncestr,
timestamp and url; the url is the page URL without the fragment; ``wx.config`` takes
``appId``, ``timestamp``, ``nonceStr`` (camelCase) and ``signature``.
"""

from __future__ import annotations

import threading
import time

import pytest

from wechat_middleware import RefreshLimitError
from wechat_middleware import jssdk as jssdk_module
from wechat_middleware.jssdk import SignatureInfo
from wechat_middleware.signing import jsapi_signature, server_signature
from wechat_middleware.testing import FakeWeChat

from .conftest import MakeWeChat

PAGE = "https://example.com/page?b=2&a=1&q=%E4%B8%AD"


def test_get_signature_by_url_signs_the_url_for_wx_config(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    sig = make_wechat().jssdk.get_signature_by_url(PAGE + "#section")
    assert set(sig) == {"appId", "timestamp", "nonceStr", "signature", "url"}
    assert sig["url"] == PAGE  # fragment dropped, query untouched
    assert sig["appId"] == fake_wechat.app_id
    assert fake_wechat.check_jsapi_signature(
        PAGE, sig["nonceStr"], sig["timestamp"], sig["signature"]
    )


@pytest.mark.parametrize(
    ("given", "location_href"),
    [
        ("https://example.com", "https://example.com/"),
        ("https://example.com#top", "https://example.com/"),
        ("https://example.com?a=1", "https://example.com/?a=1"),
        ("http://example.com:8080", "http://example.com:8080/"),
    ],
    ids=["origin", "fragment", "query", "port"],
)
def test_a_bare_origin_is_signed_as_location_href_shows_it(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, given: str, location_href: str
) -> None:
    """A page opened as ``https://example.com`` reports ``https://example.com/`` in
    ``location.href``, and WeChat checks that (docs/wechat-protocol.md section 4.3)."""
    sig = make_wechat().jssdk.get_signature_by_url(given)
    assert sig["url"] == location_href
    assert fake_wechat.check_jsapi_signature(
        location_href, sig["nonceStr"], sig["timestamp"], sig["signature"]
    )


def test_signature_never_carries_the_ticket_or_token(make_wechat: MakeWeChat) -> None:
    wechat = make_wechat()
    sig = wechat.jssdk.get_signature_by_url(PAGE)
    secrets = (wechat.tokens.jsapi_ticket(), wechat.tokens.access_token())
    assert not any(secret in str(sig) for secret in secrets)


def test_get_signature_by_url_returns_the_cached_signature_for_the_same_url(
    make_wechat: MakeWeChat,
) -> None:
    jssdk = make_wechat().jssdk
    assert jssdk.get_signature_by_url(PAGE) == jssdk.get_signature_by_url(PAGE)


def test_force_new_signature_makes_a_new_nonce(make_wechat: MakeWeChat) -> None:
    jssdk = make_wechat().jssdk
    first = jssdk.get_signature_by_url(PAGE)
    forced = jssdk.get_signature_by_url(PAGE, force_new_signature=True)
    assert forced["nonceStr"] != first["nonceStr"]
    assert jssdk.get_signature_by_url(PAGE) == forced  # the new one replaced the cached one


def test_cached_signature_is_renewed_when_the_ticket_changes(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    jssdk = make_wechat().jssdk
    old = jssdk.get_signature_by_url(PAGE)
    fake_wechat.advance(7201)
    new = jssdk.get_signature_by_url(PAGE)
    assert new != old
    assert fake_wechat.check_jsapi_signature(
        PAGE, new["nonceStr"], new["timestamp"], new["signature"]
    )


def test_url_cache_is_bounded(make_wechat: MakeWeChat) -> None:
    jssdk = make_wechat(url_cache_size=50).jssdk
    for i in range(500):
        jssdk.get_signature_by_url(f"https://example.com/p?i={i}")
    cached = jssdk.get_cached_url_signature()
    assert len(cached) == 50
    assert "https://example.com/p?i=499" in cached and "https://example.com/p?i=0" not in cached


def test_url_cache_bound_holds_for_threads_signing_at_once(
    make_wechat: MakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight threads sign 400 distinct URLs through a cache of 4. Each rendering is
    slowed so that other threads evict its URL meanwhile (a thread switch at the worst
    moment, made certain): a rendering kept for an evicted URL would stay forever, and
    a flood of URLs would grow the table without bound (issue #20 item 12)."""

    class SlowSigned(jssdk_module.Signed):
        def __init__(self, info: SignatureInfo) -> None:
            time.sleep(0.002)  # other threads run: they sign and evict
            super().__init__(info)

    monkeypatch.setattr(jssdk_module, "Signed", SlowSigned)
    jssdk = make_wechat(url_cache_size=4).jssdk
    jssdk.tokens.jsapi_ticket()  # fetched once, before the threads

    def sign(thread: int) -> None:
        for i in range(50):
            jssdk.signed(f"https://example.com/t{thread}?i={i}")

    threads = [threading.Thread(target=sign, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(jssdk.get_cached_url_signature()) == 4
    rendered = jssdk._cache  # the table the bound is about: no public view of it
    assert len(rendered) <= 4 and set(rendered) <= set(jssdk.get_cached_url_signature())


def test_url_cache_evicts_the_least_recently_used(make_wechat: MakeWeChat) -> None:
    jssdk = make_wechat(url_cache_size=2).jssdk
    jssdk.get_signature_by_url("https://example.com/a")
    jssdk.get_signature_by_url("https://example.com/b")
    jssdk.get_signature_by_url("https://example.com/a")  # a is now the most recent
    jssdk.get_signature_by_url("https://example.com/c")
    assert set(jssdk.get_cached_url_signature()) == {
        "https://example.com/a",
        "https://example.com/c",
    }


@pytest.mark.parametrize(
    "url", ["/relative/path", "example.com/page", "ftp://example.com/", "https://", "x" * 5000]
)
def test_urls_wechat_could_never_accept_are_refused(make_wechat: MakeWeChat, url: str) -> None:
    with pytest.raises(ValueError):
        make_wechat().jssdk.get_signature_by_url(url)


def test_gen_signature_signs_with_the_given_ticket(make_wechat: MakeWeChat) -> None:
    info = make_wechat().jssdk.gen_signature("a-ticket", PAGE)
    assert info["jsapi_ticket"] == "a-ticket"
    assert info["signature"] == jsapi_signature(
        "a-ticket", info["nonceStr"], info["timestamp"], PAGE
    )


def test_save_new_signature_then_get_token_from_cache(make_wechat: MakeWeChat) -> None:
    jssdk = make_wechat().jssdk
    assert jssdk.get_token_from_cache(PAGE) is None
    info = jssdk.gen_signature(jssdk.tokens.jsapi_ticket(), PAGE)
    jssdk.save_new_signature(info)
    cached = jssdk.get_token_from_cache(PAGE)
    assert cached is not None and cached["signature"] == info["signature"]
    assert "jsapi_ticket" not in cached


def test_get_token_from_cache_ignores_a_signature_of_an_old_ticket(make_wechat: MakeWeChat) -> None:
    jssdk = make_wechat().jssdk
    jssdk.tokens.jsapi_ticket()
    jssdk.save_new_signature(jssdk.gen_signature("an-old-ticket", PAGE))
    assert jssdk.get_token_from_cache(PAGE) is None


def test_update_signature_by_url_merges_into_the_cached_entry(make_wechat: MakeWeChat) -> None:
    jssdk = make_wechat().jssdk
    assert jssdk.update_signature_by_url(PAGE, {"timestamp": 1}) is None
    jssdk.get_signature_by_url(PAGE)
    updated = jssdk.update_signature_by_url(PAGE, {"timestamp": 1})
    assert updated is not None and updated["timestamp"] == 1
    assert jssdk.get_cached_url_signature()[PAGE]["timestamp"] == 1


def test_create_new_signature_always_signs_anew(make_wechat: MakeWeChat) -> None:
    jssdk = make_wechat().jssdk
    first = jssdk.create_new_signature(PAGE)
    assert jssdk.create_new_signature(PAGE)["nonceStr"] != first["nonceStr"]


def test_prepare_new_signature_returns_the_held_token_and_ticket(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    prepared = make_wechat().jssdk.prepare_new_signature()
    assert prepared["jsapi_ticket"] == fake_wechat.current_jsapi_ticket()
    assert prepared["access_token"] in fake_wechat.valid_access_tokens()


def test_get_access_token_returns_the_shared_token_and_its_remaining_life(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    jssdk = make_wechat().jssdk
    token = jssdk.get_access_token()
    assert token["access_token"] in fake_wechat.valid_access_tokens()
    assert 7100 < token["expires_in"] <= 7200
    jssdk.get_access_token()
    assert fake_wechat.calls("cgi-bin/stable_token") == 1


def test_get_wechat_ticket_asks_wechat_with_the_given_token(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    jssdk = make_wechat().jssdk
    answer = jssdk.get_wechat_ticket(jssdk.get_access_token()["access_token"])
    assert answer["ticket"] == fake_wechat.current_jsapi_ticket()
    assert answer["expires_in"] > 0


def test_update_access_token_or_ticket_globally_replaces_both(make_wechat: MakeWeChat) -> None:
    jssdk = make_wechat().jssdk
    jssdk.update_access_token_or_ticket_globally("global-token", "global-ticket")
    assert jssdk.prepare_new_signature() == {
        "access_token": "global-token",
        "jsapi_ticket": "global-ticket",
    }
    sig = jssdk.get_signature_by_url(PAGE)
    assert sig["signature"] == jsapi_signature(
        "global-ticket", sig["nonceStr"], sig["timestamp"], PAGE
    )


def test_get_new_token_and_ticket_is_limited_unless_forced(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    jssdk = make_wechat().jssdk
    for _ in range(5):
        jssdk.get_new_token_and_ticket()
    with pytest.raises(RefreshLimitError):
        jssdk.get_new_token_and_ticket()
    fresh = jssdk.get_new_token_and_ticket(force=True)
    assert fresh["jsapi_ticket"] == fake_wechat.current_jsapi_ticket()


def test_get_cached_global_token_never_fetches(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    jssdk = make_wechat().jssdk
    assert jssdk.get_cached_global_token() is None
    assert fake_wechat.calls("cgi-bin/stable_token") == 0
    jssdk.get_signature_by_url(PAGE)
    cached = jssdk.get_cached_global_token()
    assert cached is not None
    assert cached["jsapi_ticket"] == fake_wechat.current_jsapi_ticket()


def test_verify_signature_accepts_wechats_server_check(make_wechat: MakeWeChat) -> None:
    jssdk = make_wechat(token="server-check-token").jssdk
    query = {"timestamp": "1414587457", "nonce": "1234567", "echostr": "hello"}
    query["signature"] = server_signature("server-check-token", query["timestamp"], query["nonce"])
    assert jssdk.verify_signature(query)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"timestamp": "1", "nonce": "2"},
        {"signature": "0" * 40, "timestamp": "1", "nonce": "2"},
        {"signature": "x" * 1000, "timestamp": "1", "nonce": "2"},
    ],
)
def test_verify_signature_rejects_forged_or_missing_fields(
    make_wechat: MakeWeChat, query: dict[str, str]
) -> None:
    assert not make_wechat().jssdk.verify_signature(query)


def test_verify_signature_is_false_without_a_configured_token(make_wechat: MakeWeChat) -> None:
    query = {"timestamp": "1", "nonce": "2"}
    query["signature"] = server_signature("", "1", "2")
    assert not make_wechat(token=None).jssdk.verify_signature(query)
