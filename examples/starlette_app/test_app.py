"""Tests you would write for your own Starlette (or FastAPI) app: the plugin's fixtures only.

``wechat_env`` points the WECHAT_* variables at ``fake_wechat``; ``wechat_browser.asgi(app)``
is WeChat's in-app browser on the app in-process (its lifespan runs too), and the login
goes through the fake over a real socket. The app module reads the environment when it
is imported, so each test imports it afresh after ``wechat_env``.
"""

from __future__ import annotations

import importlib
import json
import re

import pytest
from starlette.applications import Starlette

from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.browser import WeChatBrowser


def load_app() -> Starlette:
    """The example app, built from the current environment."""
    module = importlib.reload(importlib.import_module("examples.starlette_app.app"))
    app: Starlette = module.app
    return app


@pytest.fixture
def app(wechat_env: dict[str, str]) -> Starlette:
    return load_app()


def openid_on(html: str) -> str:
    found = re.search(r'<span id="openid">([^<]*)</span>', html)
    assert found, html
    return found.group(1)


def assert_wechat_accepts_the_signature(fake: FakeWeChat, html: str, url: str) -> None:
    found = re.search(r'<script id="wx-config" type="application/json">(.*?)</script>', html)
    assert found, html
    sig = json.loads(found.group(1))
    assert sig["url"] == url
    assert fake.check_jsapi_signature(url, sig["nonceStr"], sig["timestamp"], sig["signature"])


def test_wechat_user_lands_on_the_page_logged_in_with_a_valid_signature(
    app: Starlette, wechat_browser: WeChatBrowser, fake_wechat: FakeWeChat
) -> None:
    page = wechat_browser.asgi(app).get("/?a=1&b=2")
    assert page.status == 200
    assert page.url == "http://testserver/?a=1&b=2"
    assert openid_on(page.text) == fake_wechat.default_openid
    assert_wechat_accepts_the_signature(fake_wechat, page.text, page.url)


def test_android_wechat_logs_in_too(app: Starlette, wechat_browser: WeChatBrowser) -> None:
    page = wechat_browser.asgi(app, user_agent="android", openid="o-bob").get("/second")
    assert openid_on(page.text) == "o-bob"


def test_two_phones_are_two_users(app: Starlette, wechat_browser: WeChatBrowser) -> None:
    alice = wechat_browser.asgi(app, openid="o-alice")
    bob = alice.new(openid="o-bob")
    assert openid_on(alice.get("/").text) == "o-alice"
    assert openid_on(bob.get("/").text) == "o-bob"
    me = alice.get("/api/me", headers={"Accept": "application/json"})
    assert me.json() == {"openid": "o-alice", "is_wechat": True}


def test_static_files_are_served_without_a_login(
    app: Starlette, wechat_browser: WeChatBrowser
) -> None:
    css = wechat_browser.asgi(app).get("/static/style.css")
    assert css.status == 200
    assert len(css.hops) == 1


def test_declining_consent_shows_a_page_instead_of_a_loop(
    wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, wechat_browser: WeChatBrowser
) -> None:
    monkeypatch.setenv("WECHAT_SCOPE", "snsapi_userinfo")  # before the app is imported
    page = wechat_browser.asgi(load_app(), consent=False).get("/")
    assert page.status == 403
    assert len(page.hops) == 3  # app -> WeChat -> callback, and no further
