"""A scripted browser that behaves like WeChat's in-app browser, one hop at a time.

Redirects are followed by hand (``allow_redirects=False``) so a test can assert every
hop of the OAuth round trip; cookies live in the ``requests.Session`` as in a browser.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from wechat_middleware.testing.fake_wechat import HEADER_OPENID, PATH_AUTHORIZE

# WeChat 8.0.47 on iOS 17: WeChat's browser is told apart by "MicroMessenger" in the UA.
WECHAT_IOS_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI "
    "Language/zh_CN"
)
DESKTOP_CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
# What a browser sends when it navigates to a page.
NAVIGATION_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)
REQUEST_TIMEOUT = 10.0
MAX_HOPS = 6

_OPENID_RE = re.compile(r'<span id="openid">([^<]*)</span>')
_CONFIG_RE = re.compile(r'<script id="wx-config" type="application/json">(.*?)</script>', re.S)


@dataclass(frozen=True)
class Page:
    """What the example apps render: the logged-in openid and the ``wx.config`` JSON."""

    openid: str
    signature: dict[str, Any] | None

    @classmethod
    def parse(cls, body: str) -> Page:
        openid = _OPENID_RE.search(body)
        config = _CONFIG_RE.search(body)
        if openid is None or config is None:
            raise AssertionError(f"not an example app page:\n{body[:2000]}")
        return cls(html.unescape(openid.group(1)), json.loads(config.group(1)))


class WeChatBrowser:
    """``requests.Session`` with WeChat's iOS User-Agent, following redirects by hand.

    ``openid`` chooses who logs in on FakeWeChat's authorize page (the header
    ``X-Fake-WeChat-Openid`` is sent to that page only); ``None`` is the fake's default user.
    """

    def __init__(self, *, user_agent: str = WECHAT_IOS_UA, openid: str | None = None) -> None:
        self.openid = openid
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": user_agent, "Accept": NAVIGATION_ACCEPT})

    def __enter__(self) -> WeChatBrowser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request, never following a redirect; the URL's fragment is not sent."""
        url = strip_fragment(url)
        headers = dict(kwargs.pop("headers", None) or {})
        if self.openid is not None and urlsplit(url).path == "/" + PATH_AUTHORIZE:
            headers[HEADER_OPENID] = self.openid
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        return self.session.request(method, url, headers=headers, allow_redirects=False, **kwargs)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def navigate(
        self, url: str, *, before_last_hop: Callable[[], object] | None = None
    ) -> list[requests.Response]:
        """Open ``url`` and follow each ``Location`` by hand, as the browser would.

        Returns every response in order, the final non-redirect one last. A redirect
        back to ``url`` itself is the landing hop: ``before_last_hop`` runs just before
        it (a barrier lets many browsers land at once).
        """
        landing = strip_fragment(url)
        hops = [self.get(url)]
        while hops[-1].is_redirect:
            if len(hops) > MAX_HOPS:
                raise AssertionError(f"redirect loop: {[r.url for r in hops]}")
            target = urljoin(hops[-1].url, hops[-1].headers["Location"])
            if before_last_hop is not None and strip_fragment(target) == landing:
                before_last_hop()
            hops.append(self.get(target))
        return hops


def strip_fragment(url: str) -> str:
    """A browser never sends the ``#fragment`` of a URL to the server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
