"""A scripted WeChat browser for tests: it sends WeChat's User-Agent and follows the login.

``WeChatBrowser`` walks the OAuth round trip the way WeChat's in-app browser does:
your app answers 302 to WeChat's authorize page, the authorize page (FakeWeChat) answers
302 back to your callback with a ``code``, the callback sets the session cookie and
answers 302 to the page, and the page renders logged in. Every hop is recorded.

It drives either a live server over real sockets (``browser.get("http://127.0.0.1:8000/")``)
or an app in-process: ``browser.wsgi(app)`` (werkzeug's test client) and
``browser.asgi(app)`` (Starlette's ``TestClient``) return a browser whose requests to
the app's origin (``http://testserver`` by default) go in-process, while the hop to the
authorize page still crosses a real socket to FakeWeChat. Cookies are kept per origin,
as a browser keeps them.

Only ``requests`` is needed for live servers; werkzeug or Starlette only for their mode.
No pytest: the pytest plugin's ``wechat_browser`` fixture is a thin wrapper.
"""

from __future__ import annotations

import email.message
import http.cookiejar
import json
import secrets
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.structures import CaseInsensitiveDict

from .fake_wechat import HEADER_CONSENT, HEADER_OPENID, HEADER_SNAPSHOT, PATH_AUTHORIZE, FakeWeChat

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from starlette.types import ASGIApp

__all__ = [
    "ANDROID_WECHAT_UA",
    "DESKTOP_UA",
    "IOS_WECHAT_UA",
    "Hop",
    "Response",
    "TooManyRedirects",
    "WeChatBrowser",
    "fake_wechat_env",
]

# Samples from docs/wechat-protocol.md section 7: WeChat's browser says "MicroMessenger".
IOS_WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI "
    "Language/zh_CN"
)
ANDROID_WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 "
    "MMWEBSDK/20231202 MMWEBID/1234 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 "
    "Weixin NetType/WIFI Language/zh_CN ABI/arm64"
)
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
USER_AGENTS = {"ios": IOS_WECHAT_UA, "android": ANDROID_WECHAT_UA, "desktop": DESKTOP_UA}
# What a browser sends when it navigates to a page (the middleware logs in only these).
NAVIGATION_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)
IN_PROCESS_BASE_URL = "http://testserver"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def fake_wechat_env(fake: FakeWeChat, *, store: str = "memory://") -> dict[str, str]:
    """The ``WECHAT_*`` variables that point an app at ``fake``.

    The server-check token and the cookie key are random, so no test depends on a
    value another test (or a developer's shell) set.
    """
    return {
        "WECHAT_APP_ID": fake.app_id,
        "WECHAT_APP_SECRET": fake.app_secret,
        "WECHAT_API_BASE": fake.api_base,
        "WECHAT_OPEN_BASE": fake.open_base,
        "WECHAT_TOKEN": secrets.token_hex(16),
        "WECHAT_SECRET_KEY": secrets.token_urlsafe(32),
        "WECHAT_STORE": store,
        "WECHAT_JSSDK_URL": fake.jssdk_url,  # the fake's stand-in script checks wx.config
    }


class TooManyRedirects(AssertionError):
    """The app redirected more than ``max_hops`` times: most likely a login loop."""


@dataclass(frozen=True)
class Hop:
    """One request of a navigation and what came back."""

    method: str
    url: str
    status: int
    location: str | None = None


@dataclass(frozen=True)
class Response:
    """The last answer of a navigation, and every hop that led to it (itself included)."""

    status: int
    headers: CaseInsensitiveDict[str]
    content: bytes
    url: str
    hops: tuple[Hop, ...] = ()

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in self.headers.get("Content-Type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        return self.content.decode(charset, errors="replace")

    @property
    def urls(self) -> list[str]:
        """The URL of every hop, in order: app, authorize page, callback, page."""
        return [hop.url for hop in self.hops]

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    content: bytes


class _Transport(Protocol):
    """Sends one request and returns the answer; keeps no cookies (the browser does)."""

    def send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> _Answer: ...

    def close(self) -> None: ...


class _Network:
    """Real sockets, through a pooled ``requests.Session``."""

    def __init__(self, timeout: float) -> None:
        self.session = requests.Session()
        self.timeout = timeout

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> _Answer:
        reply = self.session.request(
            method, url, headers=headers, data=body, allow_redirects=False, timeout=self.timeout
        )
        self.session.cookies.clear()  # the browser's own jar is the only one
        return _Answer(reply.status_code, list(reply.headers.items()), reply.content)

    def close(self) -> None:
        self.session.close()


class _WSGI:
    """An in-process WSGI app, through werkzeug's test client."""

    def __init__(self, app: WSGIApplication) -> None:
        from werkzeug.test import Client

        self.client = Client(app, use_cookies=False)

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> _Answer:
        parts = urlsplit(url)
        reply = self.client.open(
            urlunsplit(("", "", parts.path or "/", parts.query, "")),
            base_url=f"{parts.scheme}://{parts.netloc}",
            method=method,
            headers=headers,
            data=body,
        )
        try:
            return _Answer(reply.status_code, list(reply.headers.items()), reply.get_data())
        finally:
            reply.close()

    def close(self) -> None:
        """Nothing to release: werkzeug's test client holds no sockets or threads."""


class _ASGI:
    """An in-process ASGI app, through Starlette's TestClient, lifespan included."""

    def __init__(self, app: ASGIApp, base_url: str) -> None:
        from starlette.testclient import TestClient

        self.client = TestClient(app, base_url=base_url, follow_redirects=False)
        self.client.__enter__()  # runs the app's startup, as a server would

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> _Answer:
        reply = self.client.request(method, url, headers=headers, content=body)
        self.client.cookies.clear()  # the browser's own jar is the only one
        return _Answer(reply.status_code, list(reply.headers.multi_items()), reply.content)

    def close(self) -> None:
        self.client.__exit__(None, None, None)


class _HeadersOf:
    """What ``CookieJar.extract_cookies`` reads from a response: ``info()``."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self._message = email.message.Message()
        for name, value in headers:
            self._message[name] = value  # appends: every Set-Cookie is kept

    def info(self) -> email.message.Message:
        return self._message


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _strip_fragment(url: str) -> str:
    """A browser never sends the ``#fragment`` (e.g. ``#wechat_redirect``) to a server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


class WeChatBrowser:
    """WeChat's in-app browser, scripted.

    ``user_agent``: ``"ios"`` (default), ``"android"``, ``"desktop"`` (not WeChat, so
    no login) or any User-Agent string. On FakeWeChat's authorize page ``openid`` picks
    who logs in (default: the fake's ``default_openid``), ``consent=False`` declines the
    ``snsapi_userinfo`` consent screen and ``snapshot=True`` is a visitor of a Moments
    snapshot page. ``base_url`` resolves relative URLs; ``wsgi()``/``asgi()`` set it.
    One cookie jar (``cookies``) serves every site, as in a real browser.
    """

    def __init__(
        self,
        *,
        user_agent: str = "ios",
        openid: str | None = None,
        consent: bool = True,
        snapshot: bool = False,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_hops: int = 10,
    ) -> None:
        self.user_agent = USER_AGENTS.get(user_agent, user_agent)
        self.openid = openid
        self.consent = consent
        self.snapshot = snapshot
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout
        self.max_hops = max_hops
        self.cookies = http.cookiejar.CookieJar()
        self._network = _Network(timeout)
        self._app: _Transport | None = None  # the in-process app at base_url, if any
        self._owns_app = False
        self._children: list[WeChatBrowser] = []

    def __repr__(self) -> str:
        where = f"app at {self.base_url}" if self._app else "live"
        return f"<WeChatBrowser {where} openid={self.openid!r}>"

    # -- more browsers ------------------------------------------------------------

    def wsgi(
        self, app: WSGIApplication, *, base_url: str = IN_PROCESS_BASE_URL, **options: Any
    ) -> WeChatBrowser:
        """A new browser (empty cookie jar) reaching ``app`` in-process at ``base_url``.

        ``options`` override this browser's (``openid=``, ``user_agent=``, ...). Other
        URLs, FakeWeChat's authorize page among them, are reached over the network.
        """
        return self._bind(_WSGI(app), base_url, options)

    def asgi(
        self, app: ASGIApp, *, base_url: str = IN_PROCESS_BASE_URL, **options: Any
    ) -> WeChatBrowser:
        """As :meth:`wsgi` for a Starlette/FastAPI/ASGI app; its lifespan runs until the
        browser is closed."""
        return self._bind(_ASGI(app, base_url), base_url, options)

    def new(self, **options: Any) -> WeChatBrowser:
        """Another browser with an empty cookie jar (another phone), on the same app if
        this one has one, closed with this one. ``options`` override this browser's."""
        child = WeChatBrowser(**{**self._options(), **options})
        child._app = self._app
        self._children.append(child)
        return child

    def _bind(self, app: _Transport, base_url: str, options: Mapping[str, Any]) -> WeChatBrowser:
        child = self.new(**{"base_url": base_url, **options})
        child._app, child._owns_app = app, True
        return child

    def _options(self) -> dict[str, Any]:
        return {
            "user_agent": self.user_agent,
            "openid": self.openid,
            "consent": self.consent,
            "snapshot": self.snapshot,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_hops": self.max_hops,
        }

    # -- browsing -----------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> Response:
        """Navigate to ``url`` and follow the redirects (the whole login), as WeChat would."""
        return self.request("GET", url, headers=headers, follow_redirects=follow_redirects)

    def post(
        self,
        url: str,
        data: Mapping[str, str] | bytes | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> Response:
        """Submit a form; a mapping is sent as ``application/x-www-form-urlencoded``."""
        sent = dict(headers or {})
        if isinstance(data, Mapping):
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
            data = urlencode(data).encode("ascii")
        return self.request("POST", url, headers=sent, body=data, follow_redirects=follow_redirects)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        follow_redirects: bool = True,
    ) -> Response:
        """Send a request and, unless told not to, follow each ``Location`` in turn.

        A 303, and a 301/302 after a ``POST``, continue as ``GET`` without the body, as
        browsers do; 307 and 308 repeat the method and body. More than ``max_hops``
        redirects raise :class:`TooManyRedirects` listing every hop.
        """
        url = self._absolute(url)
        hops: list[Hop] = []
        while True:
            url = _strip_fragment(url)
            answer = self._send(method, url, headers or {}, body)
            received: CaseInsensitiveDict[str] = CaseInsensitiveDict()
            for name, value in answer.headers:
                known = received.get(name)
                received[name] = value if known is None else f"{known}, {value}"
            location = received.get("Location") if answer.status in _REDIRECTS else None
            hops.append(Hop(method, url, answer.status, location))
            if location is None or not follow_redirects:
                return Response(answer.status, received, answer.content, url, tuple(hops))
            if len(hops) > self.max_hops:
                chain = "\n".join(f"  {hop.method} {hop.url} -> {hop.status}" for hop in hops)
                raise TooManyRedirects(f"more than {self.max_hops} redirects:\n{chain}")
            url = urljoin(url, location)
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, body = "GET", None

    def _absolute(self, url: str) -> str:
        if urlsplit(url).scheme:
            return url
        if self.base_url is None:
            raise ValueError(f"{url!r} is relative: pass a full URL, or base_url=...")
        return urljoin(self.base_url + "/", url)

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> _Answer:
        # Never opened: the stdlib cookie jar reads the URL from a urllib Request.
        request = urllib.request.Request(url, method=method)  # noqa: S310
        self.cookies.add_cookie_header(request)
        sent = {"User-Agent": self.user_agent, "Accept": NAVIGATION_ACCEPT}
        cookie = request.get_header("Cookie")
        if cookie:
            sent["Cookie"] = cookie
        sent.update(headers)
        if self._app is not None and _origin(url) == _origin(self.base_url or ""):
            answer = self._app.send(method, url, sent, body)
        else:
            if urlsplit(url).path == "/" + PATH_AUTHORIZE:
                sent.update(self._authorize_headers())
            answer = self._network.send(method, url, sent, body)
        self.cookies.extract_cookies(_HeadersOf(answer.headers), request)  # type: ignore[arg-type]
        return answer

    def _authorize_headers(self) -> dict[str, str]:
        """How FakeWeChat's authorize page learns who is logging in and what they tap
        (real WeChat knows the phone's user). Sent to the authorize page only."""
        steer: dict[str, str] = {}
        if self.openid is not None:
            steer[HEADER_OPENID] = self.openid
        if not self.consent:
            steer[HEADER_CONSENT] = "deny"
        if self.snapshot:
            steer[HEADER_SNAPSHOT] = "1"
        return steer

    # -- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        """Close this browser, the browsers made from it and the app client it opened."""
        for child in self._children:
            child.close()
        self._children.clear()
        if self._app is not None and self._owns_app:
            self._app.close()
        self._app = None
        self._network.close()

    def __enter__(self) -> WeChatBrowser:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
