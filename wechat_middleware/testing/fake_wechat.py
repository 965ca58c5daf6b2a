# Over 300 lines as one job: the fake's state, clock, counters, faults and test API.
"""A faithful fake of WeChat's HTTP API, served by a real HTTP server on loopback.

Why a server and not mocks: the bugs that hurt in production live at the protocol edges
(a new classic token retiring the old one, the ticket being cached by WeChat, OAuth codes
being single-use, every error arriving as HTTP 200 with an ``errcode``). Mocks agree with
whatever the code under test assumes; this fake keeps WeChat's rules, speaks HTTP over real
sockets, and lets a test move its clock, count calls and inject faults.

One server answers for both WeChat hosts (``api.weixin.qq.com`` and ``open.weixin.qq.com``):
point ``WECHAT_API_BASE`` and ``WECHAT_OPEN_BASE`` at :attr:`FakeWeChat.base_url`.

It also stands in for the JS-SDK script (``res.wx.qq.com/open/js/jweixin-1.6.0.js``): point
``WECHAT_JSSDK_URL`` at :attr:`FakeWeChat.jssdk_url` and a real browser's ``wx.config`` is
checked against this fake's jsapi ticket, then fires ``wx.ready`` or ``wx.error`` as on a phone.

Only the standard library is used, so users can run it in their own test suites.

This module is the fake itself: its state, lock, clock, counters and faults, the routing
of requests, and the test API. WeChat's rules live in ``fake_tokens`` (global tokens and
tickets), ``fake_oauth`` (the login) and ``fake_jssdk`` (the JS-SDK stand-in); its
vocabulary and records in ``fake_records``; HTTP in ``fake_http``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .fake_http import HTTPService
from .fake_jssdk import CORS_PATHS, JSSDKStandIn, cors_preflight
from .fake_oauth import OAuthRules
from .fake_records import (
    CONFIG_FAIL,
    CONFIG_INVALID_SIGNATURE,
    CONFIG_INVALID_URL_DOMAIN,
    CONFIG_OK,
    ERRMSG,
    FAULT_KINDS,
    HEADER_CONSENT,
    HEADER_OPENID,
    HEADER_SNAPSHOT,
    HTML_TYPE,
    JS_TYPE,
    JSON_TYPE,
    LANGS,
    PATH_AUTH,
    PATH_AUTHORIZE,
    PATH_JSSDK_CONFIG,
    PATH_JSSDK_SCRIPT,
    PATH_OAUTH_REFRESH,
    PATH_OAUTH_TOKEN,
    PATH_QRCONNECT,
    PATH_STABLE_TOKEN,
    PATH_TICKET,
    PATH_TOKEN,
    PATH_USERINFO,
    SCOPE_BASE,
    SCOPE_USERINFO,
    SCOPES,
    STABLE_FORCE_INTERVAL,
    STABLE_RENEW_WINDOW,
    TICKET_OVERLAP,
    TICKET_TYPES,
    FakeUser,
    Fault,
    QueuedFault,
    Reply,
    Request,
    error_reply,
    json_reply,
    new_openid,
)
from .fake_tokens import TokenRules
from .lifetime import Closing

__all__ = ["FakeUser", "FakeWeChat", "Fault"]
# Re-exported: the fake's vocabulary has always been importable from this module.
__all__ += [
    "CONFIG_FAIL",
    "CONFIG_INVALID_SIGNATURE",
    "CONFIG_INVALID_URL_DOMAIN",
    "CONFIG_OK",
    "ERRMSG",
    "FAULT_KINDS",
    "HEADER_CONSENT",
    "HEADER_OPENID",
    "HEADER_SNAPSHOT",
    "HTML_TYPE",
    "JSON_TYPE",
    "JS_TYPE",
    "LANGS",
    "PATH_AUTH",
    "PATH_AUTHORIZE",
    "PATH_JSSDK_CONFIG",
    "PATH_JSSDK_SCRIPT",
    "PATH_OAUTH_REFRESH",
    "PATH_OAUTH_TOKEN",
    "PATH_QRCONNECT",
    "PATH_STABLE_TOKEN",
    "PATH_TICKET",
    "PATH_TOKEN",
    "PATH_USERINFO",
    "SCOPES",
    "SCOPE_BASE",
    "SCOPE_USERINFO",
    "STABLE_FORCE_INTERVAL",
    "STABLE_RENEW_WINDOW",
    "TICKET_OVERLAP",
    "TICKET_TYPES",
]

logger = logging.getLogger(__name__)


class _Route(NamedTuple):
    method: str
    handler: Callable[[Request], Reply]


class FakeWeChat(Closing):
    """WeChat's token, ticket and web-OAuth API with WeChat's rules, on 127.0.0.1.

    All state sits behind one lock; endpoint methods run with it held.
    """

    def __init__(
        self,
        app_id: str = "wx0123456789abcdef",
        app_secret: str = "fake-app-secret",  # noqa: S107 - a fake's published default
        *,
        token_ttl: int = 7200,
        ticket_ttl: int = 7200,
        code_ttl: int = 300,
        oauth_token_ttl: int = 7200,
        refresh_token_ttl: int = 30 * 86400,
        token_overlap: int = 300,
        jsapi_domains: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        web_app_id: str = "wxweb0123456789ab",
        web_app_secret: str = "fake-web-app-secret",  # noqa: S107 - a fake's published default
    ) -> None:
        """``jsapi_domains``: the dashboard's "JS interface safe domains" (host names, no
        port); ``wx.config`` on a page elsewhere fails with "config:invalid url domain".
        ``None`` accepts every host, which suits tests on loopback."""
        self.app_id = app_id
        self.app_secret = app_secret
        self.token_ttl = token_ttl
        self.ticket_ttl = ticket_ttl
        self.code_ttl = code_ttl
        self.oauth_token_ttl = oauth_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.token_overlap = token_overlap
        self.jsapi_domains: frozenset[str] | None = (
            None if jsapi_domains is None else frozenset(d.lower() for d in jsapi_domains)
        )
        self.host = host
        self.port = port
        # A website app (Open Platform) for desktop QR login: its own id, secret, openids.
        self.web_app_id = web_app_id
        self.web_app_secret = web_app_secret

        self._lock = threading.Lock()
        self._offset = 0.0
        self._counts: Counter[str] = Counter()
        self._faults: dict[str, deque[QueuedFault]] = {}

        self._tokens = TokenRules(self, self._now)
        self._oauth = OAuthRules(self, self._now)
        jssdk = JSSDKStandIn(self, self._tokens)

        default_user = FakeUser(openid=new_openid())
        self._oauth.users[default_user.openid] = default_user
        self.default_openid: str = default_user.openid

        self._routes: dict[str, _Route] = {
            PATH_TOKEN: _Route("GET", self._tokens.token),
            PATH_STABLE_TOKEN: _Route("POST", self._tokens.stable_token),
            PATH_TICKET: _Route("GET", self._tokens.ticket),
            PATH_AUTHORIZE: _Route("GET", self._oauth.authorize),
            PATH_QRCONNECT: _Route("GET", self._oauth.qrconnect),
            PATH_OAUTH_TOKEN: _Route("GET", self._oauth.access_token),
            PATH_OAUTH_REFRESH: _Route("GET", self._oauth.refresh_token),
            PATH_USERINFO: _Route("GET", self._oauth.userinfo),
            PATH_AUTH: _Route("GET", self._oauth.auth),
            PATH_JSSDK_SCRIPT: _Route("GET", jssdk.script),
            PATH_JSSDK_CONFIG: _Route("POST", jssdk.config),
        }

        self._http: HTTPService | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeWeChat:
        """Bind (a random free port by default) and serve from a daemon thread."""
        if self._http is not None:
            raise RuntimeError("FakeWeChat is already running")
        http = HTTPService(self._handle, self.host, self.port, name="FakeWeChat")
        self.port = http.port
        self._http = http.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open keep-alive connections and release the port."""
        http, self._http = self._http, None
        if http is not None:
            http.stop()

    def __enter__(self) -> FakeWeChat:
        return self.start()

    def close(self) -> None:
        """The same as :meth:`stop` (for ``with``)."""
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, serving both the API host and the open (OAuth) host."""
        if self._http is None:
            raise RuntimeError("FakeWeChat is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url

    @property
    def open_base(self) -> str:
        return self.base_url

    @property
    def jssdk_url(self) -> str:
        """The JS-SDK stand-in script, for ``WECHAT_JSSDK_URL``."""
        return f"{self.base_url}/{PATH_JSSDK_SCRIPT}"

    @property
    def jssdk_config_url(self) -> str:
        """Where the stand-in's ``wx.config`` sends its signature to be checked."""
        return f"{self.base_url}/{PATH_JSSDK_CONFIG}"

    # ----------------------------------------------------------------- clock

    def now(self) -> float:
        """The fake's clock: real time plus whatever :meth:`advance` added."""
        with self._lock:
            return self._now()

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward, so expiry can be tested without waiting."""
        if seconds < 0:
            raise ValueError("the fake's clock only moves forward")
        with self._lock:
            self._offset += seconds

    def _now(self) -> float:
        return time.time() + self._offset

    # ----------------------------------------------------------------- counters and faults

    def calls(self, path: str) -> int:
        """How many requests reached ``path`` (e.g. "cgi-bin/token"), faulted ones included."""
        with self._lock:
            return self._counts[path.lstrip("/")]

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    def inject(self, path: str, fault: Fault) -> None:
        """Queue a fault for ``path``; queued faults are served in order."""
        with self._lock:
            self._faults.setdefault(path.lstrip("/"), deque()).append(QueuedFault(fault))

    def clear_faults(self, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path.lstrip("/"), None)

    def _take_fault(self, path: str) -> Fault | None:
        queue = self._faults.get(path)
        if not queue:
            return None
        queued = queue[0]
        if queued.remaining is not None:
            queued.remaining -= 1
            if queued.remaining <= 0:
                queue.popleft()
        return queued.fault

    # ----------------------------------------------------------------- users and OAuth codes

    def add_user(self, user: FakeUser) -> FakeUser:
        """Register (or replace) a user; the authorize page logs users in by openid."""
        with self._lock:
            self._oauth.users[user.openid] = user
        return user

    def web_openid(self, openid: str) -> str:
        """The openid the website app (desktop QR login) sees for this user."""
        with self._lock:
            return self._oauth.web_openid(openid)

    def issue_code(
        self, openid: str | None = None, scope: str = SCOPE_BASE, *, snapshot: bool = False
    ) -> str:
        """An OAuth code as the authorize page would issue, without the browser round trip.

        An unknown openid gets a user created for it, as the authorize page does.
        """
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {sorted(SCOPES)}, not {scope!r}")
        with self._lock:
            return self._oauth.new_code(openid or self.default_openid, scope, snapshot)

    # ----------------------------------------------------------------- state, for assertions

    def valid_access_tokens(self) -> set[str]:
        """Global tokens (classic and stable) that an endpoint would accept right now."""
        with self._lock:
            return self._tokens.valid_tokens()

    def current_jsapi_ticket(self) -> str | None:
        """The jsapi ticket getticket would return now, or None if none is live."""
        with self._lock:
            return self._tokens.live_ticket("jsapi")

    def rotate_jsapi_ticket(self) -> None:
        """The next getticket issues a new ticket, as after a forced refresh.

        The replaced ticket still verifies signatures for a short overlap, as WeChat's does.
        """
        with self._lock:
            self._tokens.retire_ticket("jsapi")

    def revoke_jsapi_tickets(self) -> None:
        """The current and previous jsapi tickets verify no signature from now on, as if
        WeChat had expired them early (no overlap); the next getticket issues a new one.

        For testing an app that still signs with a ticket WeChat no longer accepts.
        """
        with self._lock:
            self._tokens.revoke_tickets("jsapi")

    def check_jsapi_signature(
        self, url: str, noncestr: str, timestamp: str | int, signature: str
    ) -> bool:
        """Would WeChat's JS-SDK accept this ``wx.config`` signature for this page?

        The fragment is cut from ``url`` as WeChat's client does, so a signature computed
        over a URL with ``#...`` fails here as it would in the phone.
        """
        with self._lock:
            return self._tokens.signature_valid(url, noncestr, timestamp, signature)

    def invalidate_access_tokens(self) -> None:
        """Every global token answers 40001 from now on, as when another deployment renewed."""
        with self._lock:
            self._tokens.revoke_all()

    def expire_access_tokens(self) -> None:
        """Every global token answers 42001 from now on."""
        with self._lock:
            self._tokens.expire_all()

    # ----------------------------------------------------------------- request dispatch

    def _handle(self, request: Request) -> Reply:
        """Count, apply a queued fault, route. Called by server threads, without the lock.

        A CORS preflight is the browser asking permission, not a call: it is answered
        without being counted or taking a fault.
        """
        if request.method == "OPTIONS" and request.path in CORS_PATHS:
            return cors_preflight(request)
        with self._lock:
            self._counts[request.path] += 1
            fault = self._take_fault(request.path)
        if fault is not None:
            if fault.kind != "latency":
                return self._fault_reply(fault)
            time.sleep(fault.value)  # never under the lock: other requests keep flowing
        route = self._routes.get(request.path)
        if route is None:
            return json_reply({"errcode": 40066, "errmsg": ERRMSG[40066]}, status=404)
        if request.method != route.method:
            return error_reply(43001 if route.method == "GET" else 43002)
        try:
            with self._lock:
                return route.handler(request)
        except Exception:
            logger.exception("FakeWeChat failed on %s", request.path)
            return json_reply({"errcode": -1, "errmsg": ERRMSG[-1]}, status=500)

    @staticmethod
    def _fault_reply(fault: Fault) -> Reply:
        if fault.kind == "status":
            status = int(fault.value)
            bodiless = status < 200 or status in (204, 304)  # HTTP forbids a body for these
            body = b"" if bodiless else f"{status} {fault.errmsg}".encode()
            return Reply(status, body, HTML_TYPE)
        if fault.kind == "errcode":
            return json_reply({"errcode": int(fault.value), "errmsg": fault.errmsg})
        if fault.kind == "malformed":
            return Reply(200, b'{"access_tok')
        return Reply(0, drop=True)
