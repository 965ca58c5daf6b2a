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

This module is the fake's routes and test API, on :class:`~.fake_api.FakeTencentAPI` (the
lock, clock, counters and faults). WeChat's rules live in ``fake_tokens``
(global tokens and tickets), ``fake_oauth`` (the login) and ``fake_jssdk`` (the JS-SDK
stand-in); its vocabulary and records in ``fake_records``; HTTP in ``fake_http``.
"""

from __future__ import annotations

from collections.abc import Iterable

from .fake_api import FakeTencentAPI, Route
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
    PATH_FOLLOWER_INFO,
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
    Reply,
    error_reply,
    new_openid,
)
from .fake_tokens import TokenRules

# docs/wechat-protocol.md section 5.5: sns/userinfo answers a ``headimgurl``, an image on
# WeChat's image host whose last path segment is the size (132: 132x132). The fake serves
# one avatar of its own, so a page showing a user's avatar works offline
# (docs/fake-beliefs.md G8); ``FakeWeChat.avatar_url`` is where.
PATH_AVATAR = "mmopen/fake/132"
AVATAR_TYPE = "image/svg+xml"
AVATAR = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="132" height="132" viewBox="0 0 132 132">'
    b'<rect width="132" height="132" fill="#07c160"/>'
    b'<circle cx="66" cy="52" r="24" fill="#fff"/>'
    b'<path d="M22 132c0-26 20-44 44-44s44 18 44 44z" fill="#fff"/></svg>'
)

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
    "PATH_FOLLOWER_INFO",
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


class FakeWeChat(FakeTencentAPI):
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
        ip_whitelist: Iterable[str] | None = None,
        oauth_domain: str | None = None,
        web_oauth_domain: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        web_app_id: str = "wxweb0123456789ab",
        web_app_secret: str = "fake-web-app-secret",  # noqa: S107 - a fake's published default
    ) -> None:
        """``jsapi_domains``: the dashboard's "JS interface safe domains" (host names, no
        port); ``wx.config`` on a page elsewhere fails with "config:invalid url domain".
        ``None`` accepts every host, which suits tests on loopback.

        ``ip_whitelist``: the dashboard's IP whitelist; a token call (classic or stable)
        from another address answers 40164. ``None`` (the default) keeps no whitelist.
        On loopback, hosts are told apart by source address: Linux routes all of
        127.0.0.0/8 to ``lo``, so a client bound to 127.0.0.2 is another host.

        ``oauth_domain``: the dashboard's web-OAuth domain ("网页授权域名"); the authorize
        page refuses a ``redirect_uri`` on another host with WeChat's 10003 page
        "redirect_uri 参数错误", so a test can show an app off that domain cannot log in
        (and one behind an OAuth relay on it can). ``web_oauth_domain`` is the website
        app's callback domain ("授权回调域"), checked alike by the QR login page. A host
        name matches any port; ``host:port`` that port only. ``None`` (the default) checks
        nothing. Both may be changed on a running fake."""
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
        self.ip_whitelist: frozenset[str] | None = (
            None if ip_whitelist is None else frozenset(ip_whitelist)
        )
        self.oauth_domain = oauth_domain
        self.web_oauth_domain = web_oauth_domain
        super().__init__(host, port)
        # A website app (Open Platform) for desktop QR login: its own id, secret, openids.
        self.web_app_id = web_app_id
        self.web_app_secret = web_app_secret

        self._tokens = TokenRules(self, self._now)
        self._oauth = OAuthRules(self, self._now, self._tokens)
        self._jssdk = jssdk = JSSDKStandIn(self, self._tokens)

        default_user = FakeUser(openid=new_openid())
        self._oauth.users[default_user.openid] = default_user
        self.default_openid: str = default_user.openid

        self._routes = {
            PATH_TOKEN: Route("GET", self._tokens.token),
            PATH_STABLE_TOKEN: Route("POST", self._tokens.stable_token),
            PATH_TICKET: Route("GET", self._tokens.ticket),
            PATH_AUTHORIZE: Route("GET", self._oauth.authorize),
            PATH_QRCONNECT: Route("GET", self._oauth.qrconnect),
            PATH_OAUTH_TOKEN: Route("GET", self._oauth.access_token),
            PATH_OAUTH_REFRESH: Route("GET", self._oauth.refresh_token),
            PATH_USERINFO: Route("GET", self._oauth.userinfo),
            PATH_AUTH: Route("GET", self._oauth.auth),
            PATH_FOLLOWER_INFO: Route("GET", self._oauth.follower_info),
            PATH_JSSDK_SCRIPT: Route("GET", jssdk.script),
            PATH_JSSDK_CONFIG: Route("POST", jssdk.config),
            PATH_AVATAR: Route("GET", lambda request: Reply(200, AVATAR, AVATAR_TYPE)),
        }

        self._preflight = dict.fromkeys(CORS_PATHS, cors_preflight)

    def bridge_script(self, *, delay_ms: int = -1) -> str:
        """WeChat's native side (``window.WeixinJSBridge``) for a test browser to install
        before the page's scripts, as WeChat's client does: the official JS-SDK runs
        against it unmodified, its checks decided by this fake. With ``delay_ms`` >= 0 it
        arrives that much later, announced by ``WeixinJSBridgeReady``."""
        return self._jssdk.bridge_script(delay_ms=delay_ms)

    @property
    def avatar_url(self) -> str:
        """An avatar image this fake serves, for a ``FakeUser(headimgurl=...)`` whose
        avatar a page should be able to load (the default ``headimgurl`` is on WeChat's
        image host, out of reach offline)."""
        return f"{self.base_url}/{PATH_AVATAR}"

    @property
    def jssdk_config_url(self) -> str:
        """Where the stand-in's ``wx.config`` sends its signature to be checked."""
        return f"{self.base_url}/{PATH_JSSDK_CONFIG}"

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

    def _wrong_method(self, route: Route) -> Reply:
        return error_reply(43001 if route.method == "GET" else 43002)
