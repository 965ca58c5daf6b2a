"""FakeWeChat's vocabulary: WeChat's paths, codes and wording, and the records the fake keeps.

Public (re-exported by :mod:`wechat_middleware.testing.fake_wechat`): the ``PATH_*``,
``SCOPE_*``, ``HEADER_*`` and ``CONFIG_*`` names, ``ERRMSG``, :class:`FakeUser` and
:class:`Fault`. The rest is what the fake's modules share: a request and a reply as the
HTTP layer hands them over, the state records, and the shapes WeChat answers in.
"""

from __future__ import annotations

import html
import json
import math
import secrets
import string
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

# Path keys, as used by calls() and inject(): the URL path without its leading slash.
# (S105: "token" in these names is a URL, not a password.)
PATH_TOKEN = "cgi-bin/token"  # noqa: S105
PATH_STABLE_TOKEN = "cgi-bin/stable_token"  # noqa: S105
PATH_TICKET = "cgi-bin/ticket/getticket"
PATH_AUTHORIZE = "connect/oauth2/authorize"
PATH_QRCONNECT = "connect/qrconnect"  # a website app's QR login page
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
SCOPE_LOGIN = "snsapi_login"  # a website app's QR login
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
HEADER_SCAN = "x-fake-wechat-scan"  # "1": the QR code is scanned at once (no page)

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

_ALNUM = string.ascii_letters + string.digits
_OPENID_ALPHABET = _ALNUM + "-_"


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


# --------------------------------------------------------------------------- one exchange


@dataclass(frozen=True)
class Request:
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
class Reply:
    """What to write back; ``drop`` means close the connection without writing anything."""

    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False


def first_values(query: str) -> dict[str, str]:
    """Parse a query string; a repeated parameter keeps its first value."""
    values: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, value)
    return values


def json_reply(payload: dict[str, Any], status: int = 200) -> Reply:
    # ensure_ascii=False: real WeChat sends raw UTF-8, which is what breaks naive decoders.
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def error_reply(errcode: int) -> Reply:
    """WeChat's error shape: HTTP 200, an errcode, and an errmsg ending in a request id."""
    rid = "-".join(secrets.token_hex(4) for _ in range(3))
    return json_reply({"errcode": errcode, "errmsg": f"{ERRMSG[errcode]} rid: {rid}"})


def html_reply(
    status: int, title: str, text: str, headers: tuple[tuple[str, str], ...] = ()
) -> Reply:
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h2>{html.escape(title)}</h2><p>{html.escape(text)}</p></body></html>"
    )
    return Reply(status, page.encode("utf-8"), HTML_TYPE, headers)


def random_alnum(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def new_openid() -> str:
    """Shaped like a real openid: 'o' and 27 characters of [A-Za-z0-9_-]."""
    return "o" + "".join(secrets.choice(_OPENID_ALPHABET) for _ in range(27))


def is_alnum(text: str) -> bool:
    return all(ch in _ALNUM for ch in text)


# --------------------------------------------------------------------------- state records


@dataclass
class GlobalToken:
    """A global access token. After ``revoked_at`` it answers 40001, after ``expires_at`` 42001."""

    value: str
    kind: str  # "classic" or "stable": the two are isolated from each other
    expires_at: float
    revoked_at: float = math.inf


@dataclass
class Ticket:
    value: str
    expires_at: float


@dataclass(frozen=True)
class Grant:
    """What an OAuth code, access token or refresh token stands for."""

    openid: str  # as the app sees it: a virtual openid for snapshot users
    scope: str
    snapshot: bool
    unionid: str | None
    app: str = "oa"  # "oa" (the Official Account) or "web" (the website app): who may exchange


@dataclass
class Code:
    grant: Grant
    expires_at: float
    used: bool = False


@dataclass
class Expiring:
    """An OAuth access token or refresh token."""

    grant: Grant
    expires_at: float


@dataclass
class QueuedFault:
    fault: Fault
    remaining: int | None = field(init=False)

    def __post_init__(self) -> None:
        self.remaining = self.fault.times


class FakeSettings(Protocol):
    """What the fake's rule modules read of their :class:`FakeWeChat` (its settings),
    so they need not import it."""

    app_id: str
    app_secret: str
    token_ttl: int
    ticket_ttl: int
    code_ttl: int
    oauth_token_ttl: int
    refresh_token_ttl: int
    token_overlap: int
    jsapi_domains: frozenset[str] | None
    host: str
    port: int
    default_openid: str
    web_app_id: str
    web_app_secret: str
