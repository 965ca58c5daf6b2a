# Over 400 lines as one job: navigating like a browser (redirects, cookies, headers).
"""A scripted WeChat browser for tests: it sends WeChat's User-Agent and follows the login.

``WeChatBrowser`` walks the OAuth round trip the way WeChat's in-app browser does:
your app answers 302 to WeChat's authorize page, the authorize page (FakeWeChat) answers
302 back to your callback with a ``code``, the callback sets the session cookie and
answers 302 to the page, and the page renders logged in. Every hop is recorded.

It drives either a live server over real sockets (``browser.get("http://127.0.0.1:8000/")``)
or an app in-process: ``browser.wsgi(app)`` and ``browser.asgi(app)`` return a browser
whose requests to the app's origin (``http://testserver`` by default) go in-process, as
gunicorn and uvicorn would hand them over (see :mod:`.transports`), while the hop to the
authorize page still crosses a real socket to FakeWeChat. Cookies are kept per origin,
as a browser keeps them.

In-process, a request can also be byte-exact, for what HTTP clients refuse or
normalise: ``browser.request("GET", b"/\\xff?%", headers={"Host": b"a\\r\\nb"})``
sends that request target and those header bytes as they are; a header given as
``None`` is not sent at all.

Only ``requests`` and the standard library are needed, whatever the mode. No pytest: the
pytest plugin's ``wechat_browser`` fixture is a thin wrapper.
"""

from __future__ import annotations

import email.message
import http.cookiejar
import json
import secrets
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from requests.structures import CaseInsensitiveDict

from .fake_records import HEADER_SCAN, HEADER_USERID, PATH_QRCONNECT, PATH_WECOM_SSO
from .fake_wechat import HEADER_CONSENT, HEADER_OPENID, HEADER_SNAPSHOT, PATH_AUTHORIZE, FakeWeChat
from .fake_wecom import FakeWeCom
from .lifetime import Closing
from .transports import CLIENT_ADDRESS, Answer, ASGIApp, Network, Outgoing, Transport, WSGIApp
from .user_agents import (
    ANDROID_WECHAT_UA,
    DESKTOP_UA,
    IOS_WECHAT_UA,
    NAVIGATION_ACCEPT,
    USER_AGENTS,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from starlette.types import ASGIApp as StarletteASGIApp

__all__ = [  # the User-Agent strings stay importable from here too (see .user_agents)
    "ANDROID_WECHAT_UA",
    "DESKTOP_UA",
    "IOS_WECHAT_UA",
    "Hop",
    "Response",
    "TooManyRedirects",
    "WeChatBrowser",
    "fake_wechat_env",
    "fake_wecom_env",
]

IN_PROCESS_BASE_URL = "http://testserver"
#: ``WECHAT_ALLOWED_HOSTS`` for tests: the in-process host and this machine's names
#: (Django's test runner adds ``testserver`` to ``ALLOWED_HOSTS`` the same way).
TEST_ALLOWED_HOSTS = "testserver,.localhost,127.0.0.1,[::1]"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# A header's value; a list sends the header once per item (e.g. two Cookie headers).
HeaderValues = Mapping[str, str | bytes | list[str | bytes] | None]
# The login pages of both fakes: only these learn from the browser who is logging in.
_LOGIN_PAGES = frozenset("/" + path for path in (PATH_AUTHORIZE, PATH_QRCONNECT, PATH_WECOM_SSO))


def fake_wechat_env(fake: FakeWeChat, *, store: str = "memory://") -> dict[str, str]:
    """The ``WECHAT_*`` variables that point an app at ``fake``.

    The server-check token and the cookie key are random, so no test depends on a
    value another test (or a developer's shell) set. The hosts served are the
    in-process browser's (``http://testserver``) and this machine's names.
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
        "WECHAT_ALLOWED_HOSTS": TEST_ALLOWED_HOSTS,
    }


def fake_wecom_env(fake: FakeWeCom, *, store: str = "memory://") -> dict[str, str]:
    """The ``WECHAT_*`` variables that point an app at ``fake`` as a WeCom self-built app
    (its first agent). The callback Token and EncodingAESKey are the fake's own, since
    the fake signs and encrypts the callbacks it sends; the cookie key is random."""
    return {
        "WECHAT_PROVIDER": "wecom",
        "WECHAT_CORP_ID": fake.corp_id,
        "WECHAT_CORP_SECRET": fake.agent_secret(),
        "WECHAT_AGENT_ID": fake.agent_id,
        "WECHAT_API_BASE": fake.api_base,
        "WECHAT_OPEN_BASE": fake.open_base,
        "WECHAT_LOGIN_BASE": fake.login_base,
        "WECHAT_TOKEN": fake.callback_token,
        "WECHAT_ENCODING_AES_KEY": fake.encoding_aes_key,
        "WECHAT_SECRET_KEY": secrets.token_urlsafe(32),
        "WECHAT_STORE": store,
        "WECHAT_JSSDK_URL": fake.jssdk_url,  # wx.config and wx.agentConfig, checked
        "WECHAT_ALLOWED_HOSTS": TEST_ALLOWED_HOSTS,
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
    """The last answer of a navigation, and every hop that led to it (itself included).

    ``headers`` joins a repeated header with ", " (as ``requests`` does); ``header_list``
    keeps every header line as it came, in order: read ``Set-Cookie`` from there.
    """

    status: int
    headers: CaseInsensitiveDict[str]
    content: bytes
    url: str
    hops: tuple[Hop, ...] = ()
    header_list: tuple[tuple[str, str], ...] = ()

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

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    @property
    def set_cookies(self) -> list[str]:
        """Every ``Set-Cookie`` header of this answer, one cookie each (without the space
        Django's WSGI handler puts before the value, which browsers ignore)."""
        return [value.lstrip() for name, value in self.header_list if name.lower() == "set-cookie"]

    def json(self) -> Any:
        return json.loads(self.content)


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


def _target(url: str) -> bytes:
    """The request target of ``url``: its path and query, non-ASCII percent-encoded."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return b"".join(
        ch.encode() if ch.isascii() else b"".join(b"%%%02X" % byte for byte in ch.encode())
        for ch in target
    )


def _header_bytes(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


class WeChatBrowser(Closing):
    """WeChat's in-app browser, scripted.

    ``user_agent``: ``"ios"`` (default), ``"android"``, ``"wxwork"``, ``"desktop"`` (not
    WeChat, so no login) or any User-Agent string (see :mod:`.user_agents`). On
    FakeWeChat's authorize page ``openid`` picks who logs in (default: the fake's
    ``default_openid``), ``consent=False`` declines the ``snsapi_userinfo`` consent
    screen and ``snapshot=True`` is a visitor of a Moments snapshot page. On
    FakeWeCom's authorize and SSO pages ``userid`` picks the member who logs in
    (default: its ``default_userid``; with ``openid`` and no ``userid``, a non-member),
    and ``consent=False`` declines ``snsapi_privateinfo`` or the scan. ``base_url``
    resolves relative URLs; ``wsgi()``/``asgi()`` set it. One cookie jar (``cookies``)
    serves every site, as in a real browser.
    """

    def __init__(
        self,
        *,
        user_agent: str = "ios",
        openid: str | None = None,
        userid: str | None = None,
        consent: bool = True,
        snapshot: bool = False,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_hops: int = 10,
        address: str = CLIENT_ADDRESS[0],
    ) -> None:
        self.user_agent = USER_AGENTS.get(user_agent, user_agent)
        self.address = address  # the peer address an in-process app sees
        self.openid = openid
        self.userid = userid
        self.consent = consent
        self.snapshot = snapshot
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout
        self.max_hops = max_hops
        self.cookies = http.cookiejar.CookieJar()
        self._network = Network(timeout)
        self._app: Transport | None = None  # the in-process app at base_url, if any
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
        return self._bind(WSGIApp(app), base_url, options)

    def asgi(
        self, app: StarletteASGIApp, *, base_url: str = IN_PROCESS_BASE_URL, **options: Any
    ) -> WeChatBrowser:
        """As :meth:`wsgi` for a Starlette/FastAPI/ASGI app; its lifespan runs until the
        browser is closed."""
        return self._bind(ASGIApp(app), base_url, options)

    def new(self, **options: Any) -> WeChatBrowser:
        """Another browser with an empty cookie jar (another phone), on the same app if
        this one has one, closed with this one. ``options`` override this browser's."""
        child = WeChatBrowser(**{**self._options(), **options})
        child._app = self._app
        self._children.append(child)
        return child

    def _bind(self, app: Transport, base_url: str, options: Mapping[str, Any]) -> WeChatBrowser:
        child = self.new(**{"base_url": base_url, **options})
        child._app, child._owns_app = app, True
        return child

    def _options(self) -> dict[str, Any]:
        return {
            "user_agent": self.user_agent,
            "openid": self.openid,
            "userid": self.userid,
            "consent": self.consent,
            "snapshot": self.snapshot,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_hops": self.max_hops,
            "address": self.address,
        }

    # -- browsing -----------------------------------------------------------------

    def get(
        self,
        url: str | bytes,
        *,
        headers: HeaderValues | None = None,
        follow_redirects: bool = True,
        before_redirect: Callable[[str], object] | None = None,
    ) -> Response:
        """Navigate to ``url`` and follow the redirects (the whole login), as WeChat would."""
        return self.request(
            "GET",
            url,
            headers=headers,
            follow_redirects=follow_redirects,
            before_redirect=before_redirect,
        )

    def post(
        self,
        url: str | bytes,
        data: Mapping[str, str] | bytes | None = None,
        *,
        headers: HeaderValues | None = None,
        follow_redirects: bool = True,
    ) -> Response:
        """Submit a form; a mapping is sent as ``application/x-www-form-urlencoded``."""
        return self.request(
            "POST", url, headers=headers, body=data, follow_redirects=follow_redirects
        )

    def request(
        self,
        method: str,
        url: str | bytes,
        *,
        headers: HeaderValues | None = None,
        body: Mapping[str, str] | bytes | None = None,
        follow_redirects: bool = True,
        before_redirect: Callable[[str], object] | None = None,
    ) -> Response:
        """Send a request and, unless told not to, follow each ``Location`` in turn.

        ``url`` as bytes is a request target for the in-process app, sent byte for byte.
        ``headers`` override the browser's own (User-Agent, Accept, Host, cookies); a
        value of ``None`` sends no such header. A mapping ``body`` is sent as a form.
        ``before_redirect`` is called with each URL a redirect leads to, before it is
        requested (a barrier there lets many browsers take the next hop at once).

        A 303, and a 301/302 after a ``POST``, continue as ``GET`` without the body, as
        browsers do; 307 and 308 repeat the method and body. More than ``max_hops``
        redirects raise :class:`TooManyRedirects` listing every hop.
        """
        sent = dict(headers or {})
        if isinstance(body, Mapping):
            if not any(name.lower() == "content-type" for name in sent):
                sent["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(body).encode("ascii")
        if isinstance(url, bytes):
            target: bytes | None = url
            url = self._in_process_url(url)
        else:
            target, url = None, _strip_fragment(self._absolute(url))
        hops: list[Hop] = []
        while True:
            answer = self._send(method, url, target, sent, body)
            received: CaseInsensitiveDict[str] = CaseInsensitiveDict()
            for name, value in answer.headers:
                known = received.get(name)
                received[name] = value if known is None else f"{known}, {value}"
            location = received.get("Location") if answer.status in _REDIRECTS else None
            hops.append(Hop(method, url, answer.status, location))
            if location is None or not follow_redirects:
                pairs = tuple(answer.headers)
                return Response(answer.status, received, answer.content, url, tuple(hops), pairs)
            if len(hops) > self.max_hops:
                chain = "\n".join(f"  {hop.method} {hop.url} -> {hop.status}" for hop in hops)
                raise TooManyRedirects(f"more than {self.max_hops} redirects:\n{chain}")
            url, target = _strip_fragment(urljoin(url, location)), None
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, body = "GET", None
            if before_redirect is not None:
                before_redirect(url)

    def _absolute(self, url: str) -> str:
        if urlsplit(url).scheme:
            return url
        if self.base_url is None:
            raise ValueError(f"{url!r} is relative: pass a full URL, or base_url=...")
        return urljoin(self.base_url + "/", url)

    def _in_process_url(self, target: bytes) -> str:
        if self._app is None or self.base_url is None:
            raise ValueError("a bytes request target needs an in-process app: wsgi() or asgi()")
        return self.base_url + target.decode("latin-1")

    def _send(
        self,
        method: str,
        url: str,
        target: bytes | None,
        headers: HeaderValues,
        body: bytes | None,
    ) -> Answer:
        # Never opened: the stdlib cookie jar reads the URL from a urllib Request.
        request = urllib.request.Request(url, method=method)  # noqa: S310
        self.cookies.add_cookie_header(request)
        sent: CaseInsensitiveDict[str | bytes | list[str | bytes] | None] = CaseInsensitiveDict(
            {"Host": urlsplit(url).netloc, "User-Agent": self.user_agent}
        )
        sent["Accept"] = NAVIGATION_ACCEPT
        sent["Cookie"] = request.get_header("Cookie")
        if body is not None:
            sent["Content-Length"] = str(len(body))
        in_process = self._app is not None and _origin(url) == _origin(self.base_url or "")
        if not in_process and urlsplit(url).path in _LOGIN_PAGES:
            sent.update(self._authorize_headers())
        sent.update(headers)
        pairs = [
            (name, _header_bytes(item))
            for name, value in sent.items()
            if value is not None
            for item in (value if isinstance(value, list) else [value])
        ]
        raw_target = target if target is not None else _target(url)
        transport = self._app if in_process and self._app is not None else self._network
        out = Outgoing(method, url, raw_target, pairs, body, (self.address, 50000))
        answer = transport.send(out)
        self.cookies.extract_cookies(_HeadersOf(answer.headers), request)  # type: ignore[arg-type]
        return answer

    def _authorize_headers(self) -> dict[str, str]:
        """How the fakes' login pages learn who is logging in and what they tap (real
        WeChat and WeCom know the phone's user). Sent to the login pages only."""
        steer: dict[str, str] = {}
        if self.openid is not None:
            steer[HEADER_OPENID] = self.openid
        if self.userid is not None:
            steer[HEADER_USERID] = self.userid
        if not self.consent:
            steer[HEADER_CONSENT] = "deny"
        if self.snapshot:
            steer[HEADER_SNAPSHOT] = "1"
        steer[HEADER_SCAN] = "1"  # a QR login page: scanned at once
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
