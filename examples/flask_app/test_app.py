"""Tests you would write for your own Flask app: the plugin's fixtures and nothing else.

``wechat_env`` points the WECHAT_* variables at ``fake_wechat``; ``wechat_browser`` is
WeChat's in-app browser, which follows the login through the fake. The app module reads
the environment when it is imported, so each test imports it afresh after ``wechat_env``.
"""

from __future__ import annotations

import importlib
import json
import re
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.browser import WeChatBrowser


def load_app() -> Flask:
    """The example app, built from the current environment."""
    module = importlib.reload(importlib.import_module("examples.flask_app.app"))
    app: Flask = module.app
    return app


@pytest.fixture
def app(wechat_env: dict[str, str]) -> Flask:
    return load_app()


def openid_on(html: str) -> str:
    found = re.search(r'<span id="openid">([^<]*)</span>', html)
    assert found, html
    return found.group(1)


def signature_on(html: str) -> dict[str, str]:
    found = re.search(r'<script id="wx-config" type="application/json">(.*?)</script>', html)
    assert found, html
    signature: dict[str, str] = json.loads(found.group(1))
    return signature


def assert_wechat_accepts_the_signature(fake: FakeWeChat, html: str, url: str) -> None:
    sig = signature_on(html)
    assert sig["url"] == url
    assert fake.check_jsapi_signature(url, sig["nonceStr"], sig["timestamp"], sig["signature"])


def test_wechat_user_lands_on_the_page_logged_in_with_a_valid_signature(
    app: Flask, wechat_browser: WeChatBrowser, fake_wechat: FakeWeChat
) -> None:
    page = wechat_browser.wsgi(app).get("/?a=1&b=2")
    assert page.status == 200
    assert page.url == "http://testserver/?a=1&b=2"
    assert openid_on(page.text) == fake_wechat.default_openid
    assert_wechat_accepts_the_signature(fake_wechat, page.text, page.url)


def test_the_page_shows_whoever_logged_in(app: Flask, wechat_browser: WeChatBrowser) -> None:
    page = wechat_browser.wsgi(app, openid="o-alice").get("/second?from=home")
    assert openid_on(page.text) == "o-alice"


def test_the_json_api_knows_the_user_after_login(app: Flask, wechat_browser: WeChatBrowser) -> None:
    browser = wechat_browser.wsgi(app, openid="o-alice")
    browser.get("/")
    me = browser.get("/api/me", headers={"Accept": "application/json"})
    assert me.json() == {"openid": "o-alice", "is_wechat": True}


def test_a_browser_outside_wechat_gets_the_page_without_a_login(
    app: Flask, wechat_browser: WeChatBrowser, fake_wechat: FakeWeChat
) -> None:
    page = wechat_browser.wsgi(app, user_agent="desktop").get("/")
    assert len(page.hops) == 1
    assert openid_on(page.text) == ""
    assert_wechat_accepts_the_signature(fake_wechat, page.text, "http://testserver/")


def test_declining_consent_shows_a_page_instead_of_a_loop(
    wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, wechat_browser: WeChatBrowser
) -> None:
    monkeypatch.setenv("WECHAT_SCOPE", "snsapi_userinfo")  # before the app is imported
    page = wechat_browser.wsgi(load_app(), consent=False).get("/")
    assert page.status == 403
    assert len(page.hops) == 3  # app -> WeChat -> callback, and no further


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app behind a real HTTP server on loopback."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_same_login_against_a_live_server(
    live_server: str, wechat_browser: WeChatBrowser, fake_wechat: FakeWeChat
) -> None:
    page = wechat_browser.get(f"{live_server}/?a=1")
    assert openid_on(page.text) == fake_wechat.default_openid
    assert_wechat_accepts_the_signature(fake_wechat, page.text, f"{live_server}/?a=1")
