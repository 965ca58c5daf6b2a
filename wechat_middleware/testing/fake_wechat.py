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
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import html
import json
import logging
import math
import secrets
import socket
import string
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["FakeUser", "FakeWeChat", "Fault"]

logger = logging.getLogger(__name__)

# Path keys, as used by calls() and inject(): the URL path without its leading slash.
# (S105: "token" in these names is a URL, not a password.)
PATH_TOKEN = "cgi-bin/token"  # noqa: S105
PATH_STABLE_TOKEN = "cgi-bin/stable_token"  # noqa: S105
PATH_TICKET = "cgi-bin/ticket/getticket"
PATH_AUTHORIZE = "connect/oauth2/authorize"
PATH_OAUTH_TOKEN = "sns/oauth2/access_token"  # noqa: S105
PATH_OAUTH_REFRESH = "sns/oauth2/refresh_token"
PATH_USERINFO = "sns/userinfo"
PATH_AUTH = "sns/auth"
# The JS-SDK stand-in: the script, and the check its wx.config asks for (WeChat's client does
# this check in-app; a desktop browser needs an HTTP endpoint, answered with CORS headers).
PATH_JSSDK_SCRIPT = "open/js/jweixin-1.6.0.js"
PATH_JSSDK_CONFIG = "fake/jssdk/config"

SCOPE_BASE = "snsapi_base"
SCOPE_USERINFO = "snsapi_userinfo"
SCOPES = frozenset({SCOPE_BASE, SCOPE_USERINFO})
LANGS = frozenset({"zh_CN", "zh_TW", "en"})
TICKET_TYPES = frozenset({"jsapi", "wx_card"})
FAULT_KINDS = frozenset({"latency", "status", "errcode", "malformed", "drop"})

# Timing rules WeChat applies that are not constructor options.
STABLE_RENEW_WINDOW = 300.0  # a normal stable_token call renews within the last 5 minutes
STABLE_FORCE_INTERVAL = 30.0  # force_refresh renews at most once per 30 seconds
TICKET_OVERLAP = 300.0  # a retired jsapi ticket still verifies signatures for 5 minutes

# Header names a test browser uses to steer the authorize page.
HEADER_OPENID = "x-fake-wechat-openid"
HEADER_CONSENT = "x-fake-wechat-consent"
HEADER_SNAPSHOT = "x-fake-wechat-snapshot"

# WeChat's own wording, so logs and error messages read like production.
ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40030: "invalid refresh_token",
    40066: "invalid url",
    40097: "invalid args",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41002: "appid missing",
    41003: "refresh_token missing",
    41004: "appsecret missing",
    41008: "missing code",
    41009: "missing openid",
    42001: "access_token expired",
    42002: "refresh_token expired",
    42003: "code expired",
    43001: "require GET method",
    43002: "require POST method",
    47001: "data format error",
    48001: "api unauthorized",
}

# WeChat sends this exact header (``encoding``, not ``charset``): clients must cope with it.
JSON_TYPE = "application/json; encoding=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
JS_TYPE = "application/javascript; charset=utf-8"

# What wx.config's result carries in ``errMsg``, in the JS-SDK's own words.
CONFIG_OK = "config:ok"
CONFIG_INVALID_SIGNATURE = "config:invalid signature"
CONFIG_INVALID_URL_DOMAIN = "config:invalid url domain"
CONFIG_FAIL = "config:fail"

# A page on another origin (the app's port) calls the config check: allow it, without cookies.
_CORS_PATHS = frozenset({PATH_JSSDK_CONFIG})
_CORS_HEADERS: tuple[tuple[str, str], ...] = (("Access-Control-Allow-Origin", "*"),)
_CORS_PREFLIGHT_MAX_AGE = "600"

_ALNUM = string.ascii_letters + string.digits
_OPENID_ALPHABET = _ALNUM + "-_"
_MAX_BODY = 1 << 20  # nothing WeChat accepts comes close; refuse to buffer more


# --------------------------------------------------------------------------- public data


@dataclass
class FakeUser:
    """A WeChat user the fake can log in through the authorize page."""

    openid: str
    nickname: str = "WeChat User"
    headimgurl: str = "https://thirdwx.qlogo.cn/mmopen/fake/132"
    unionid: str | None = None
    sex: int = 0
    province: str = ""
    city: str = ""
    country: str = ""


@dataclass
class Fault:
    """A failure to serve instead of (or, for latency, before) the normal answer.

    ``value`` means seconds for ``latency``, the HTTP status for ``status`` and the errcode
    for ``errcode``. ``times`` is how many requests it applies to (``None``: until cleared).
    """

    kind: str
    value: float | int = 0
    times: int | None = 1
    errmsg: str = "fault injected"

    def __post_init__(self) -> None:
        # Fail at the test's line, not later inside a server thread.
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {sorted(FAULT_KINDS)}")
        if self.times is not None and self.times < 1:
            raise ValueError("Fault.times must be at least 1, or None for 'until cleared'")
        if self.kind == "latency" and self.value < 0:
            raise ValueError("latency must not be negative")


# --------------------------------------------------------------------------- internal records


@dataclass(frozen=True)
class _Request:
    """What an endpoint needs from an HTTP request, independent of the server classes."""

    method: str
    path: str  # without the leading slash: the key for routes, counters and faults
    query: dict[str, str]  # first value of each parameter
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def arg(self, name: str) -> str:
        """A query parameter, or "" when absent (WeChat treats both as missing)."""
        return self.query.get(name, "")


@dataclass(frozen=True)
class _Reply:
    """What to write back; ``drop`` means close the connection without writing anything."""

    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False


class _Route(NamedTuple):
    method: str
    handler: Callable[[_Request], _Reply]


@dataclass
class _GlobalToken:
    """A global access token. After ``revoked_at`` it answers 40001, after ``expires_at`` 42001."""

    value: str
    kind: str  # "classic" or "stable": the two are isolated from each other
    expires_at: float
    revoked_at: float = math.inf


@dataclass
class _Ticket:
    value: str
    expires_at: float


@dataclass(frozen=True)
class _Grant:
    """What an OAuth code, access token or refresh token stands for."""

    openid: str  # as the app sees it: a virtual openid for snapshot users
    scope: str
    snapshot: bool
    unionid: str | None


@dataclass
class _Code:
    grant: _Grant
    expires_at: float
    used: bool = False


@dataclass
class _Expiring:
    """An OAuth access token or refresh token."""

    grant: _Grant
    expires_at: float


@dataclass
class _QueuedFault:
    fault: Fault
    remaining: int | None = field(init=False)

    def __post_init__(self) -> None:
        self.remaining = self.fault.times


# --------------------------------------------------------------------------- reply helpers


def _json(payload: dict[str, Any], status: int = 200) -> _Reply:
    # ensure_ascii=False: real WeChat sends raw UTF-8, which is what breaks naive decoders.
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def _error(errcode: int) -> _Reply:
    """WeChat's error shape: HTTP 200, an errcode, and an errmsg ending in a request id."""
    rid = "-".join(secrets.token_hex(4) for _ in range(3))
    return _json({"errcode": errcode, "errmsg": f"{ERRMSG[errcode]} rid: {rid}"})


def _html(status: int, title: str, text: str, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h2>{html.escape(title)}</h2><p>{html.escape(text)}</p></body></html>"
    )
    return _Reply(status, page.encode("utf-8"), HTML_TYPE, headers)


def _authorize_error_page(errcode: int, message: str) -> _Reply:
    """WeChat shows OAuth parameter errors as an HTML page with status 200, not a redirect."""
    return _html(200, "Oops! Something went wrong:(", f"{errcode} {message}")


def _cors(reply: _Reply) -> _Reply:
    """The reply, readable by a script on any origin (no cookies are involved)."""
    return dataclasses.replace(reply, headers=reply.headers + _CORS_HEADERS)


def _cors_preflight(request: _Request) -> _Reply:
    """Allow the stand-in's cross-origin ``POST`` with a JSON body."""
    headers = [
        *_CORS_HEADERS,
        ("Access-Control-Allow-Methods", "POST, OPTIONS"),
        (
            "Access-Control-Allow-Headers",
            request.headers.get("access-control-request-headers") or "Content-Type",
        ),
        ("Access-Control-Max-Age", _CORS_PREFLIGHT_MAX_AGE),
    ]
    # Chrome's Private Network Access asks this before a public page may call loopback.
    if request.headers.get("access-control-request-private-network", "").lower() == "true":
        headers.append(("Access-Control-Allow-Private-Network", "true"))
    return _Reply(204, b"", "text/plain", tuple(headers))


def _random_alnum(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _new_openid() -> str:
    """Shaped like a real openid: 'o' and 27 characters of [A-Za-z0-9_-]."""
    return "o" + "".join(secrets.choice(_OPENID_ALPHABET) for _ in range(27))


def _append_query(url: str, params: list[tuple[str, str]]) -> str:
    """Add parameters to a URL, keeping its existing query and fragment."""
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _is_absolute_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_valid_state(state: str) -> bool:
    return len(state) <= 128 and all(ch in _ALNUM for ch in state)


def _first_values(query: str) -> dict[str, str]:
    """Parse a query string; a repeated parameter keeps its first value."""
    values: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, value)
    return values


def _jsapi_signature(ticket: str, noncestr: str, timestamp: str, url: str) -> str:
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's algorithm


# The JS-SDK stand-in. Like jweixin-1.6.0.js it defines window.wx (and window.jWeixin) with
# config/ready/error and the common APIs. wx.config asks the fake whether WeChat would accept
# the signature for this page (location.href without its #fragment), then fires wx.ready or
# wx.error({errMsg}); handlers registered before or after the result both fire, and with
# debug: true the result is also alert()ed, as the real SDK does. The APIs do nothing but
# answer success/complete with "<name>:ok"; wx.__fake lets a test see state and calls.
_JSSDK_SCRIPT = """/* FakeWeChat: a stand-in for jweixin-1.6.0.js, for tests only. */
(function (window) {
  "use strict";
  var CONFIG_ENDPOINT = __CONFIG_ENDPOINT__;
  var CONFIG_TIMEOUT_MS = 10000;
  var state = "idle";  // idle | pending | ready | error
  var lastError = null;
  var generation = 0;  // a later wx.config supersedes an earlier one still in flight
  var readyHandlers = [];
  var errorHandlers = [];
  var calls = [];
  var APIS = [
    "checkJsApi", "updateAppMessageShareData", "updateTimelineShareData",
    "onMenuShareTimeline", "onMenuShareAppMessage", "onMenuShareQQ", "onMenuShareWeibo",
    "onMenuShareQZone", "startRecord", "stopRecord", "onVoiceRecordEnd", "playVoice",
    "pauseVoice", "stopVoice", "onVoicePlayEnd", "uploadVoice", "downloadVoice",
    "translateVoice", "chooseImage", "previewImage", "uploadImage", "downloadImage",
    "getLocalImgData", "getNetworkType", "openLocation", "getLocation", "hideOptionMenu",
    "showOptionMenu", "hideMenuItems", "showMenuItems", "hideAllNonBaseMenuItem",
    "showAllNonBaseMenuItem", "closeWindow", "scanQRCode", "chooseWXPay",
    "openProductSpecificView", "addCard", "chooseCard", "openCard", "openAddress"
  ];

  function call(fn, arg) {
    try { fn(arg); } catch (e) { setTimeout(function () { throw e; }, 0); }
  }

  function settle(gen, debug, errMsg) {
    if (gen !== generation) { return; }
    if (debug) { try { window.alert(JSON.stringify({ errMsg: errMsg })); } catch (e) {} }
    var i;
    if (errMsg === "config:ok") {
      state = "ready";
      lastError = null;
      for (i = 0; i < readyHandlers.length; i++) { call(readyHandlers[i]); }
    } else {
      state = "error";
      lastError = { errMsg: errMsg };
      for (i = 0; i < errorHandlers.length; i++) { call(errorHandlers[i], lastError); }
    }
  }

  function config(cfg) {
    cfg = cfg || {};
    var gen = ++generation;
    var debug = !!cfg.debug;
    state = "pending";
    var xhr = new XMLHttpRequest();
    xhr.open("POST", CONFIG_ENDPOINT, true);
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.timeout = CONFIG_TIMEOUT_MS;
    xhr.onload = function () {
      var errMsg = "config:fail";
      try {
        var res = JSON.parse(xhr.responseText);
        if (xhr.status === 200 && res && typeof res.errMsg === "string") { errMsg = res.errMsg; }
      } catch (e) {}
      settle(gen, debug, errMsg);
    };
    xhr.onerror = xhr.ontimeout = xhr.onabort = function () { settle(gen, debug, "config:fail"); };
    xhr.send(JSON.stringify({
      appId: cfg.appId,
      timestamp: cfg.timestamp,
      nonceStr: cfg.nonceStr,
      signature: cfg.signature,
      url: window.location.href.split("#")[0],
      jsApiList: cfg.jsApiList || [],
      openTagList: cfg.openTagList || []
    }));
  }

  function ready(fn) {
    if (typeof fn !== "function") { return; }
    readyHandlers.push(fn);
    if (state === "ready") { setTimeout(function () { call(fn); }, 0); }
  }

  function error(fn) {
    if (typeof fn !== "function") { return; }
    errorHandlers.push(fn);
    if (state === "error") {
      var res = lastError;
      setTimeout(function () { call(fn, res); }, 0);
    }
  }

  function api(name) {
    return function (options) {
      options = options || {};
      calls.push({ api: name, options: options });
      var res = { errMsg: name + ":ok" };
      if (name === "checkJsApi") {
        res.checkResult = {};
        var list = options.jsApiList || [];
        for (var i = 0; i < list.length; i++) {
          res.checkResult[list[i]] = APIS.indexOf(list[i]) >= 0;
        }
      }
      setTimeout(function () {
        if (typeof options.success === "function") { call(options.success, res); }
        if (typeof options.complete === "function") { call(options.complete, res); }
      }, 0);
    };
  }

  var wx = { config: config, ready: ready, error: error };
  for (var i = 0; i < APIS.length; i++) { wx[APIS[i]] = api(APIS[i]); }
  wx.miniProgram = {
    getEnv: function (fn) { if (typeof fn === "function") { call(fn, { miniprogram: false }); } },
    navigateTo: api("miniProgram.navigateTo"),
    navigateBack: api("miniProgram.navigateBack"),
    switchTab: api("miniProgram.switchTab"),
    reLaunch: api("miniProgram.reLaunch"),
    redirectTo: api("miniProgram.redirectTo"),
    postMessage: api("miniProgram.postMessage")
  };
  wx.__fake = {
    configEndpoint: CONFIG_ENDPOINT,
    state: function () { return state; },
    calls: calls
  };
  window.wx = window.jWeixin = wx;
})(window);
"""


# --------------------------------------------------------------------------- the fake


class FakeWeChat:
    """WeChat's token, ticket and web-OAuth API with WeChat's rules, on 127.0.0.1.

    All state sits behind one lock; endpoint methods (``_ep_*``) run with it held.
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

        self._lock = threading.Lock()
        self._offset = 0.0
        self._counts: Counter[str] = Counter()
        self._faults: dict[str, deque[_QueuedFault]] = {}

        self._global_tokens: dict[str, _GlobalToken] = {}
        self._stable_current: _GlobalToken | None = None
        self._stable_forced_at: float | None = None
        self._tickets: dict[str, _Ticket] = {}  # current ticket per type
        self._previous_tickets: dict[str, _Ticket] = {}  # the one it replaced, per type

        self._users: dict[str, FakeUser] = {}
        self._snapshot_openids: dict[str, str] = {}  # real openid -> its virtual openid
        self._codes: dict[str, _Code] = {}
        self._oauth_tokens: dict[str, _Expiring] = {}
        self._refresh_tokens: dict[str, _Expiring] = {}

        default_user = FakeUser(openid=_new_openid())
        self._users[default_user.openid] = default_user
        self.default_openid: str = default_user.openid

        self._routes: dict[str, _Route] = {
            PATH_TOKEN: _Route("GET", self._ep_token),
            PATH_STABLE_TOKEN: _Route("POST", self._ep_stable_token),
            PATH_TICKET: _Route("GET", self._ep_ticket),
            PATH_AUTHORIZE: _Route("GET", self._ep_authorize),
            PATH_OAUTH_TOKEN: _Route("GET", self._ep_oauth_access_token),
            PATH_OAUTH_REFRESH: _Route("GET", self._ep_oauth_refresh_token),
            PATH_USERINFO: _Route("GET", self._ep_userinfo),
            PATH_AUTH: _Route("GET", self._ep_auth),
            PATH_JSSDK_SCRIPT: _Route("GET", self._ep_jssdk_script),
            PATH_JSSDK_CONFIG: _Route("POST", self._ep_jssdk_config),
        }

        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeWeChat:
        """Bind (a random free port by default) and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeWeChat is already running")
        server = _Server((self.host, self.port), self)
        self.port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},  # keeps stop() fast
            name=f"FakeWeChat:{self.port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open keep-alive connections and release the port."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeWeChat:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, serving both the API host and the open (OAuth) host."""
        if self._server is None:
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
            self._faults.setdefault(path.lstrip("/"), deque()).append(_QueuedFault(fault))

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
            self._users[user.openid] = user
        return user

    def issue_code(
        self, openid: str | None = None, scope: str = SCOPE_BASE, *, snapshot: bool = False
    ) -> str:
        """An OAuth code as the authorize page would issue, without the browser round trip.

        An unknown openid gets a user created for it, as the authorize page does.
        """
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {sorted(SCOPES)}, not {scope!r}")
        with self._lock:
            return self._new_code(openid or self.default_openid, scope, snapshot)

    def _user(self, openid: str) -> FakeUser:
        """The user with this openid, created on first sight (tests name users freely)."""
        user = self._users.get(openid)
        if user is None:
            user = self._users[openid] = FakeUser(openid=openid)
        return user

    def _new_code(self, openid: str, scope: str, snapshot: bool) -> str:
        user = self._user(openid)
        if snapshot:
            # A snapshot visitor is seen under a virtual openid with no profile and no unionid.
            virtual = self._snapshot_openids.setdefault(openid, _new_openid())
            grant = _Grant(virtual, scope, snapshot=True, unionid=None)
        else:
            grant = _Grant(openid, scope, snapshot=False, unionid=user.unionid)
        code = _random_alnum(32)
        self._codes[code] = _Code(grant, self._now() + self.code_ttl)
        return code

    # ----------------------------------------------------------------- state, for assertions

    def valid_access_tokens(self) -> set[str]:
        """Global tokens (classic and stable) that an endpoint would accept right now."""
        with self._lock:
            now = self._now()
            return {
                value
                for value, token in self._global_tokens.items()
                if self._global_token_errcode(token, now) == 0
            }

    def current_jsapi_ticket(self) -> str | None:
        """The jsapi ticket getticket would return now, or None if none is live."""
        with self._lock:
            ticket = self._tickets.get("jsapi")
            if ticket is None or ticket.expires_at <= self._now():
                return None
            return ticket.value

    def rotate_jsapi_ticket(self) -> None:
        """The next getticket issues a new ticket, as after a forced refresh.

        The replaced ticket still verifies signatures for a short overlap, as WeChat's does.
        """
        with self._lock:
            ticket = self._tickets.pop("jsapi", None)
            if ticket is not None:
                self._previous_tickets["jsapi"] = ticket

    def check_jsapi_signature(
        self, url: str, noncestr: str, timestamp: str | int, signature: str
    ) -> bool:
        """Would WeChat's JS-SDK accept this ``wx.config`` signature for this page?

        The fragment is cut from ``url`` as WeChat's client does, so a signature computed
        over a URL with ``#...`` fails here as it would in the phone.
        """
        with self._lock:
            return self._jsapi_signature_valid(url, noncestr, timestamp, signature)

    def _jsapi_signature_valid(
        self, url: str, noncestr: str, timestamp: str | int, signature: str
    ) -> bool:
        """:meth:`check_jsapi_signature` with the lock already held."""
        page_url = url.split("#", 1)[0]
        now = self._now()
        tickets = [
            ticket
            for ticket in (self._tickets.get("jsapi"), self._previous_tickets.get("jsapi"))
            if ticket is not None and now < ticket.expires_at + TICKET_OVERLAP
        ]
        return any(
            hmac.compare_digest(
                _jsapi_signature(ticket.value, noncestr, str(timestamp), page_url).encode(),
                signature.encode(),
            )
            for ticket in tickets
        )

    def invalidate_access_tokens(self) -> None:
        """Every global token answers 40001 from now on, as when another deployment renewed."""
        with self._lock:
            now = self._now()
            for token in self._global_tokens.values():
                token.revoked_at = min(token.revoked_at, now)

    def expire_access_tokens(self) -> None:
        """Every global token answers 42001 from now on."""
        with self._lock:
            now = self._now()
            for token in self._global_tokens.values():
                token.expires_at = min(token.expires_at, now)

    # ----------------------------------------------------------------- request dispatch

    def _handle(self, request: _Request) -> _Reply:
        """Count, apply a queued fault, route. Called by server threads, without the lock.

        A CORS preflight is the browser asking permission, not a call: it is answered
        without being counted or taking a fault.
        """
        if request.method == "OPTIONS" and request.path in _CORS_PATHS:
            return _cors_preflight(request)
        with self._lock:
            self._counts[request.path] += 1
            fault = self._take_fault(request.path)
        if fault is not None:
            if fault.kind != "latency":
                return self._fault_reply(fault)
            time.sleep(fault.value)  # never under the lock: other requests keep flowing
        route = self._routes.get(request.path)
        if route is None:
            return _json({"errcode": 40066, "errmsg": ERRMSG[40066]}, status=404)
        if request.method != route.method:
            return _error(43001 if route.method == "GET" else 43002)
        try:
            with self._lock:
                return route.handler(request)
        except Exception:
            logger.exception("FakeWeChat failed on %s", request.path)
            return _json({"errcode": -1, "errmsg": ERRMSG[-1]}, status=500)

    @staticmethod
    def _fault_reply(fault: Fault) -> _Reply:
        if fault.kind == "status":
            status = int(fault.value)
            bodiless = status < 200 or status in (204, 304)  # HTTP forbids a body for these
            body = b"" if bodiless else f"{status} {fault.errmsg}".encode()
            return _Reply(status, body, HTML_TYPE)
        if fault.kind == "errcode":
            return _json({"errcode": int(fault.value), "errmsg": fault.errmsg})
        if fault.kind == "malformed":
            return _Reply(200, b'{"access_tok')
        return _Reply(0, drop=True)

    # ----------------------------------------------------------------- shared checks

    def _app_credentials_error(self, appid: str, secret: str) -> _Reply | None:
        if not appid:
            return _error(41002)
        if appid != self.app_id:
            return _error(40013)
        if not secret:
            return _error(41004)
        if secret != self.app_secret:
            return _error(40125)
        return None

    def _global_token_errcode(self, token: _GlobalToken, now: float) -> int:
        if now >= token.revoked_at:
            return 40001
        if now >= token.expires_at:
            return 42001
        return 0

    def _global_token_error(self, value: str) -> _Reply | None:
        if not value:
            return _error(41001)
        token = self._global_tokens.get(value)
        errcode = 40001 if token is None else self._global_token_errcode(token, self._now())
        return _error(errcode) if errcode else None

    def _new_global_token(self, kind: str, now: float) -> _GlobalToken:
        token = _GlobalToken(secrets.token_urlsafe(120), kind, now + self.token_ttl)
        self._global_tokens[token.value] = token
        return token

    @staticmethod
    def _token_reply(token: _GlobalToken, now: float) -> _Reply:
        return _json({"access_token": token.value, "expires_in": round(token.expires_at - now)})

    def _check_oauth_token(self, value: str, openid: str) -> _Grant | _Reply:
        """The grant behind a live OAuth access token issued to ``openid``, or the error."""
        if not value:
            return _error(41001)
        if not openid:
            return _error(41009)
        record = self._oauth_tokens.get(value)
        if record is None:
            return _error(40001)
        if self._now() >= record.expires_at:
            return _error(42001)
        if openid != record.grant.openid:
            return _error(40003)
        return record.grant

    def _oauth_grant_reply(self, grant: _Grant, refresh_token: str) -> _Reply:
        access_token = secrets.token_urlsafe(80)
        self._oauth_tokens[access_token] = _Expiring(grant, self._now() + self.oauth_token_ttl)
        payload: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": self.oauth_token_ttl,
            "refresh_token": refresh_token,
            "openid": grant.openid,
            "scope": grant.scope,
        }
        if grant.snapshot:
            payload["is_snapshotuser"] = 1
        if grant.unionid:
            payload["unionid"] = grant.unionid
        return _json(payload)

    # ----------------------------------------------------------------- endpoints (lock held)

    def _ep_token(self, request: _Request) -> _Reply:
        """Classic token: every call issues a new one and retires the previous ones."""
        if request.arg("grant_type") != "client_credential":
            return _error(40002)
        error = self._app_credentials_error(request.arg("appid"), request.arg("secret"))
        if error:
            return error
        now = self._now()
        for token in self._global_tokens.values():
            if token.kind == "classic":
                token.revoked_at = min(token.revoked_at, now + self.token_overlap)
        return self._token_reply(self._new_global_token("classic", now), now)

    def _ep_stable_token(self, request: _Request) -> _Reply:
        """Stable token: shared while it lives; force_refresh renews, at most every 30 s."""
        try:
            body = json.loads(request.body)
        except ValueError:
            return _error(47001)
        if not isinstance(body, dict):
            return _error(47001)
        grant_type, appid, secret = (body.get(k, "") for k in ("grant_type", "appid", "secret"))
        force = body.get("force_refresh", False)
        if not all(isinstance(v, str) for v in (grant_type, appid, secret)):
            return _error(47001)
        if not isinstance(force, bool):
            return _error(47001)
        if grant_type != "client_credential":
            return _error(40002)
        error = self._app_credentials_error(appid, secret)
        if error:
            return error

        now = self._now()
        current = self._stable_current
        if current is not None and self._global_token_errcode(current, now) == 0:
            if force:
                last = self._stable_forced_at
                if last is not None and now - last < STABLE_FORCE_INTERVAL:
                    return self._token_reply(current, now)  # too soon: current, unchanged
            elif current.expires_at - now > STABLE_RENEW_WINDOW:
                return self._token_reply(current, now)
        # Here a new token is due: forced, near or past expiry, or the current one is dead.
        if force:
            self._stable_forced_at = now
            if current is not None:
                current.revoked_at = min(current.revoked_at, now)
        # A normal renewal leaves the old token valid until its own expiry.
        self._stable_current = self._new_global_token("stable", now)
        return self._token_reply(self._stable_current, now)

    def _ep_ticket(self, request: _Request) -> _Reply:
        """JS-SDK ticket: one per app and type, cached by WeChat until it expires."""
        error = self._global_token_error(request.arg("access_token"))
        if error:
            return error
        kind = request.arg("type")
        if kind not in TICKET_TYPES:
            return _error(40097)
        now = self._now()
        ticket = self._tickets.get(kind)
        if ticket is None or now >= ticket.expires_at:
            if ticket is not None:
                self._previous_tickets[kind] = ticket
            ticket = self._tickets[kind] = _Ticket(secrets.token_urlsafe(64), now + self.ticket_ttl)
        return _json(
            {
                "errcode": 0,
                "errmsg": "ok",
                "ticket": ticket.value,
                "expires_in": round(ticket.expires_at - now),
            }
        )

    def _ep_authorize(self, request: _Request) -> _Reply:
        """The OAuth page: log a user in and 302 back with ``code`` (and ``state``)."""
        appid = request.arg("appid")
        redirect_uri = request.arg("redirect_uri")
        scope = request.arg("scope")
        state = request.arg("state")
        if not appid:
            return _authorize_error_page(10012, "appid cannot be empty")
        if appid != self.app_id:
            return _authorize_error_page(10003, "redirect_uri does not match the appid's domain")
        if not redirect_uri:
            return _authorize_error_page(10011, "redirect_uri cannot be empty")
        if not _is_absolute_http_url(redirect_uri):
            return _authorize_error_page(10003, "redirect_uri must be an absolute http(s) URL")
        if request.arg("response_type") != "code":
            return _authorize_error_page(-1, "response_type must be code")
        if not scope:
            return _authorize_error_page(10010, "scope cannot be empty")
        if scope not in SCOPES:
            return _authorize_error_page(10005, f"no permission for scope {scope}")
        if not _is_valid_state(state):
            return _authorize_error_page(-1, "state must be at most 128 bytes of [a-zA-Z0-9]")

        openid = request.headers.get(HEADER_OPENID) or self.default_openid
        denied = (
            scope == SCOPE_USERINFO and request.headers.get(HEADER_CONSENT, "").lower() == "deny"
        )
        params: list[tuple[str, str]] = []
        if not denied:
            snapshot = request.headers.get(HEADER_SNAPSHOT) == "1"
            params.append(("code", self._new_code(openid, scope, snapshot)))
        if state:
            params.append(("state", state))
        location = _append_query(redirect_uri, params)
        return _html(302, "Redirecting", location, headers=(("Location", location),))

    def _ep_oauth_access_token(self, request: _Request) -> _Reply:
        """Exchange a code, once, for a per-user OAuth token."""
        if request.arg("grant_type") != "authorization_code":
            return _error(40002)
        error = self._app_credentials_error(request.arg("appid"), request.arg("secret"))
        if error:
            return error
        value = request.arg("code")
        if not value:
            return _error(41008)
        code = self._codes.get(value)
        if code is None:
            return _error(40029)
        if code.used:
            return _error(40163)
        if self._now() >= code.expires_at:
            return _error(42003)
        code.used = True
        refresh_token = secrets.token_urlsafe(80)
        self._refresh_tokens[refresh_token] = _Expiring(
            code.grant, self._now() + self.refresh_token_ttl
        )
        return self._oauth_grant_reply(code.grant, refresh_token)

    def _ep_oauth_refresh_token(self, request: _Request) -> _Reply:
        """A new OAuth access token from a refresh token, which itself keeps its 30 days."""
        appid = request.arg("appid")
        if not appid:
            return _error(41002)
        if appid != self.app_id:
            return _error(40013)
        if request.arg("grant_type") != "refresh_token":
            return _error(40002)
        value = request.arg("refresh_token")
        if not value:
            return _error(41003)
        record = self._refresh_tokens.get(value)
        if record is None:
            return _error(40030)
        if self._now() >= record.expires_at:
            return _error(42002)
        return self._oauth_grant_reply(record.grant, value)

    def _ep_userinfo(self, request: _Request) -> _Reply:
        """The profile, for snsapi_userinfo grants of real (non-snapshot) users only."""
        lang = request.arg("lang") or "zh_CN"
        if lang not in LANGS:
            return _error(40097)
        grant = self._check_oauth_token(request.arg("access_token"), request.arg("openid"))
        if isinstance(grant, _Reply):
            return grant
        if grant.snapshot or grant.scope != SCOPE_USERINFO:
            return _error(48001)
        user = self._user(grant.openid)
        payload: dict[str, Any] = {
            "openid": user.openid,
            "nickname": user.nickname,
            "sex": user.sex,
            "province": user.province,
            "city": user.city,
            "country": user.country,
            "headimgurl": user.headimgurl,
            "privilege": [],
        }
        if user.unionid:
            payload["unionid"] = user.unionid
        return _json(payload)

    def _ep_auth(self, request: _Request) -> _Reply:
        """Is this OAuth access token valid for this openid?"""
        grant = self._check_oauth_token(request.arg("access_token"), request.arg("openid"))
        if isinstance(grant, _Reply):
            return grant
        return _json({"errcode": 0, "errmsg": "ok"})

    def _ep_jssdk_script(self, request: _Request) -> _Reply:
        """The JS-SDK stand-in, asking this fake (by the host the browser used) to check."""
        host = request.headers.get("host") or f"{self.host}:{self.port}"
        endpoint = json.dumps(f"http://{host}/{PATH_JSSDK_CONFIG}")
        script = _JSSDK_SCRIPT.replace("__CONFIG_ENDPOINT__", endpoint)
        return _Reply(200, script.encode("utf-8"), JS_TYPE, (("Cache-Control", "no-store"),))

    def _ep_jssdk_config(self, request: _Request) -> _Reply:
        """Would WeChat accept this ``wx.config`` on this page? ``{"errMsg": "config:..."}``.

        The body is what the stand-in sends: ``appId``, ``timestamp``, ``nonceStr``,
        ``signature`` and ``url`` (the page's ``location.href`` without its fragment).
        """
        return _cors(_json({"errMsg": self._jssdk_config_result(request.body)}))

    def _jssdk_config_result(self, raw: bytes) -> str:
        try:
            body = json.loads(raw)
        except ValueError:
            return CONFIG_FAIL
        if not isinstance(body, dict):
            return CONFIG_FAIL
        # The app id selects the account, whose safe domains must list the page's host.
        url = body.get("url")
        if body.get("appId") != self.app_id or not isinstance(url, str):
            return CONFIG_INVALID_URL_DOMAIN
        page = urlsplit(url)
        if page.scheme not in ("http", "https") or not page.hostname:
            return CONFIG_INVALID_URL_DOMAIN
        if self.jsapi_domains is not None and page.hostname not in self.jsapi_domains:
            return CONFIG_INVALID_URL_DOMAIN
        # Nothing to verify is a signature that does not verify.
        timestamp = body.get("timestamp")  # a number in JS; a string is accepted too
        nonce, signature = body.get("nonceStr"), body.get("signature")
        if isinstance(timestamp, bool) or not isinstance(timestamp, (str, int)):
            return CONFIG_INVALID_SIGNATURE
        if not (isinstance(nonce, str) and isinstance(signature, str)):
            return CONFIG_INVALID_SIGNATURE
        if not self._jsapi_signature_valid(url, nonce, timestamp, signature):
            return CONFIG_INVALID_SIGNATURE
        return CONFIG_OK


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    """A threading server that knows its fake and can cut its connections on stop."""

    daemon_threads = True  # a thread stuck in a latency fault must not block exit
    block_on_close = False
    request_queue_size = 128  # 50+ clients connect at once in tests; 5 would drop SYNs

    def __init__(self, address: tuple[str, int], fake: FakeWeChat) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_open_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (or stop() cutting them off) is routine for a test server.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP into a ``_Request`` for the fake and writes its ``_Reply`` back."""

    protocol_version = "HTTP/1.1"  # keep-alive, as clients with connection pools expect
    server_version = "FakeWeChat/1.0"
    timeout = 30  # idle keep-alive connections end on their own
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def setup(self) -> None:
        super().setup()
        self._server().track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server().untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log; test output stays readable."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def _server(self) -> _Server:
        assert isinstance(self.server, _Server)
        return self.server

    def _serve(self) -> None:
        target = urlsplit(self.path)
        request = _Request(
            method=self.command,
            path=target.path.lstrip("/"),
            query=_first_values(target.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self._read_body(),
        )
        reply = self._server().fake._handle(request)
        if reply.drop:
            self._drop_connection()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.status >= 200 and reply.status != 204:  # HTTP forbids it on 1xx and 204
            self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _drop_connection(self) -> None:
        """Close without a byte of response, like a reset or a dead upstream."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _read_body(self) -> bytes:
        """Read the body so a keep-alive connection stays in step; b"" if unusable."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked_body()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY:
            self.close_connection = True  # cannot find the next request: end after replying
            return b""
        return self.rfile.read(length) if length else b""

    def _read_chunked_body(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        try:
            while True:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # skip trailers
                    return b"".join(chunks)
                total += size
                if total > _MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)  # the CRLF closing the chunk
        except ValueError:
            self.close_connection = True
            return b""
