"""What the example apps render, parsed: the logged-in openid and the ``wx.config`` JSON;
and the checks the tests of the examples make of it."""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wechat_middleware.testing import FakeWeChat, WeChatBrowser

from .servers import AppServer

_OPENID_RE = re.compile(r'<span id="openid">([^<]*)</span>')
_USERID_RE = re.compile(r'<span id="userid">([^<]*)</span>')
_CONFIG_RE = re.compile(r'<script id="wx-config" type="application/json">(.*?)</script>', re.S)


@dataclass(frozen=True)
class Page:
    """What the example apps render: the logged-in openid and the ``wx.config`` JSON."""

    openid: str
    signature: dict[str, Any] | None
    userid: str = ""  # a WeCom member's

    @classmethod
    def parse(cls, body: str) -> Page:
        openid = _OPENID_RE.search(body)
        config = _CONFIG_RE.search(body)
        if openid is None or config is None:
            raise AssertionError(f"not an example app page:\n{body[:2000]}")
        userid = _USERID_RE.search(body)
        return cls(
            html.unescape(openid.group(1)),
            json.loads(config.group(1)),
            html.unescape(userid.group(1)) if userid else "",
        )


def new_openid() -> str:
    """Shaped like WeChat's: 28 characters of [A-Za-z0-9_-] starting with "o"."""
    return "o" + secrets.token_urlsafe(20)[:27]


def assert_signed_for(page: Page, url: str, fake: FakeWeChat) -> None:
    """The page's wx.config would pass WeChat's check for exactly ``url``."""
    sig = page.signature
    assert sig is not None, f"{url}: the page has no JS-SDK signature"
    assert sig["url"] == url
    assert sig["appId"] == fake.app_id
    assert fake.check_jsapi_signature(url, sig["nonceStr"], sig["timestamp"], sig["signature"]), (
        f"FakeWeChat rejects the signature {sig!r}"
    )


def log_in(
    browser: WeChatBrowser,
    server: AppServer,
    path: str,
    before_landing: Callable[[], object] | None = None,
) -> Page:
    """Run the whole OAuth round trip from ``path`` and return the page it lands on.

    ``before_landing`` runs just before the redirect back to ``path`` is followed."""
    url = server.url(path)

    def before_redirect(next_url: str) -> None:
        if before_landing is not None and next_url == url:
            before_landing()

    landed = browser.get(url, before_redirect=before_redirect)
    assert [hop.status for hop in landed.hops] == [302, 302, 302, 200], landed.urls
    return Page.parse(landed.text)
