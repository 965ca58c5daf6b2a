# Over 300 lines as one job: the fakes' shared vocabulary, WeChat's and WeCom's.
"""FakeWeChat's vocabulary: WeChat's paths, codes and wording, and the records the fake keeps.

Public (re-exported by :mod:`wechat_middleware.testing.fake_wechat`): the ``PATH_*``,
``SCOPE_*``, ``HEADER_*`` and ``CONFIG_*`` names, ``ERRMSG``, :class:`FakeUser` and
:class:`Fault`. The rest is what the fake's modules share: a request and a reply as the
HTTP layer hands them over, the state records, and the shapes WeChat answers in.

FakeWeCom's vocabulary is at the end: the ``PATH_WECOM_*`` names, ``HEADER_USERID``,
WeCom's errcodes and wording (``WECOM_ERRMSG``), the ticket limits, and the shapes WeCom
answers in.
"""

from __future__ import annotations

import html
import json
import math
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

from ..errors import WECHAT_SAYS, WECOM_SAYS

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
PATH_FOLLOWER_INFO = "cgi-bin/user/info"  # a follower's record, with the global token
# The JS-SDK stand-in: the script, and the check its wx.config asks for (WeChat's client does
# this check in-app; a desktop browser needs an HTTP endpoint, answered with CORS headers).
PATH_JSSDK_SCRIPT = "open/js/jweixin-1.6.0.js"
PATH_JSSDK_CONFIG = "fake/jssdk/config"

# The authorize link's parameters, in the order WeChat matches them (docs/corrections.md E).
AUTHORIZE_ORDER = ("appid", "redirect_uri", "response_type", "scope", "state")
WECHAT_UA_MARK = "micromessenger"  # in WeChat's (and WeCom's) browser's User-Agent

SCOPE_BASE = "snsapi_base"
SCOPE_USERINFO = "snsapi_userinfo"
SCOPES = frozenset({SCOPE_BASE, SCOPE_USERINFO})
SCOPE_LOGIN = "snsapi_login"  # a website app's QR login
LANGS = frozenset({"zh_CN", "zh_TW", "en"})
TICKET_TYPES = frozenset({"jsapi", "wx_card"})
FAULT_KINDS = frozenset({"latency", "status", "errcode", "malformed", "drop"})

# Timing rules WeChat applies that are not constructor options.
WEB_CODE_TTL = 600.0  # a website app's (QR login) code: 10 minutes, not the OA's 5
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
    **WECHAT_SAYS,  # the library's own record of WeChat's words
    40002: "invalid grant_type",
    40003: "invalid openid",
    40030: "invalid refresh_token",
    40066: "invalid url",
    40097: "invalid args",
    40164: "invalid ip {ip}, not in whitelist",
    41001: "access_token missing",
    41002: "appid missing",
    41003: "refresh_token missing",
    41004: "appsecret missing",
    41008: "missing code",
    41009: "missing openid",
    43001: "require GET method",
    43002: "require POST method",
    47001: "data format error",
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
    """A WeChat user the fake can log in through the authorize page.

    ``unionid``: set when the Official Account is bound to an Open Platform account.
    ``subscribe``: 1 for a follower of the Official Account (``cgi-bin/user/info``).
    """

    openid: str
    nickname: str = "WeChat User"
    headimgurl: str = "https://thirdwx.qlogo.cn/mmopen/fake/132"
    unionid: str | None = None
    subscribe: int = 0
    subscribe_time: int = 0
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
    client: str = ""  # the peer's address (WeChat's IP whitelist is checked against it)

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


def error_reply(errcode: int, **words: str) -> Reply:
    """WeChat's error shape: HTTP 200, an errcode, and an errmsg ending in a request id
    (``words`` fill the errmsg's blanks, such as 40164's ``{ip}``)."""
    rid = "-".join(secrets.token_hex(4) for _ in range(3))
    errmsg = ERRMSG[errcode].format(**words)
    return json_reply({"errcode": errcode, "errmsg": f"{errmsg} rid: {rid}"})


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
    unionid: str | None  # only for snsapi_userinfo (and the website app's snsapi_login)
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
    ip_whitelist: frozenset[str] | None
    oauth_domain: str | None
    web_oauth_domain: str | None
    host: str
    port: int
    default_openid: str
    web_app_id: str
    web_app_secret: str


# --------------------------------------------------------------------------- WeCom's vocabulary
# FakeWeCom (fake_wecom.py) speaks for qyapi.weixin.qq.com, open.weixin.qq.com and
# login.work.weixin.qq.com from one server (docs/wecom-and-qrconnect.md section 1).

PATH_WECOM_TOKEN = "cgi-bin/gettoken"  # noqa: S105 - a URL, not a password
PATH_WECOM_JSAPI_TICKET = "cgi-bin/get_jsapi_ticket"  # the corp ticket, for wx.config
PATH_WECOM_AGENT_TICKET = "cgi-bin/ticket/get"  # ?type=agent_config, for wx.agentConfig
PATH_WECOM_USERINFO = "cgi-bin/auth/getuserinfo"
PATH_WECOM_LEGACY_USERINFO = "cgi-bin/user/getuserinfo"  # the old capitalised names
PATH_WECOM_USERDETAIL = "cgi-bin/auth/getuserdetail"
PATH_WECOM_AUTHORIZE = PATH_AUTHORIZE  # the same page, on the same host, as WeChat's
PATH_WECOM_SSO = "wwlogin/sso/login"  # desktop web login (QR code)
# The stand-in's wx.agentConfig check (the WeCom client does it in-app; see PATH_JSSDK_CONFIG).
PATH_WECOM_AGENT_CONFIG = "fake/jssdk/agent_config"

SCOPE_PRIVATEINFO = "snsapi_privateinfo"
WECOM_SCOPES = frozenset({SCOPE_BASE, SCOPE_PRIVATEINFO})
LOGIN_TYPE_CORP_APP = "CorpApp"  # a self-built app's desktop login
AGENT_TICKET_TYPE = "agent_config"
WXWORK_MARK = "wxwork"  # in the WeCom browser's User-Agent (MicroMessenger is there too)

# Header a test browser uses to pick the WeCom member on the authorize and SSO pages.
HEADER_USERID = "x-fake-wecom-userid"

# Hourly limits on JS-SDK tickets (section 1.2), counted over the last hour of the fake's clock.
CORP_TICKETS_PER_CORP_HOUR = 400
CORP_TICKETS_PER_AGENT_HOUR = 100
AGENT_TICKETS_PER_AGENT_HOUR = 100  # section 1.5: not stated separately; the fake applies it

# WeCom's words for its errcodes: English where an errmsg was seen in public (40001,
# 40014, 42001, 40029, 45009), else Tencent's Chinese meaning (WxJava's WxCpErrorMsgEnum)
# in English. 43001/43002 are WeChat's: WeCom's answer to a wrong method is not documented.
WECOM_ERRMSG: dict[int, str] = {
    **WECOM_SAYS,  # the library's own record of WeCom's words
    40003: "invalid userid",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    41008: "missing code",
    43001: "require GET method",
    43002: "require POST method",
    50001: "redirect_url not in the trusted domains of the app behind this access_token",
    60011: "no privilege to access/modify contact/party/agent",
    84014: "user_ticket expired",
    84015: "invalid user_ticket",
    84090: "user_ticket missing",
    91040: "invalid ticket type",
}
WECOM_JSON_TYPE = "application/json; charset=UTF-8"
WECOM_HELP = "https://open.work.weixin.qq.com/devtool/query?e="

# What wx.agentConfig's fail() carries, shaped as the WeCom client reports it
# ("agentConfig:invalid signature more info at ...?e=40093", section 1.2).
AGENT_CONFIG_OK = "agentConfig:ok"
AGENT_CONFIG_NOT_WECOM = "agentConfig:fail,not in wxwork"  # the fake's words: none published


def agent_config_error(words: str, errcode: int) -> str:
    return f"agentConfig:{words} more info at {WECOM_HELP}{errcode}"


def wecom_error_reply(errcode: int, detail: str = "") -> Reply:
    """WeCom's error shape: HTTP 200, an errcode, and an errmsg with a hint and a help link."""
    hint = f"{int(time.time())}_{secrets.randbelow(100)}_{secrets.token_hex(16)}"
    words = WECOM_ERRMSG[errcode] + (f" {detail}" if detail else "")
    errmsg = f"{words}, hint: [{hint}], from ip: 127.0.0.1, more info at {WECOM_HELP}{errcode}"
    reply = json_reply({"errcode": errcode, "errmsg": errmsg})
    return Reply(reply.status, reply.body, WECOM_JSON_TYPE)


def wecom_json_reply(payload: dict[str, Any]) -> Reply:
    """A WeCom answer: ``errcode`` 0 and ``errmsg`` "ok" first, as WeCom writes them."""
    reply = json_reply({"errcode": 0, "errmsg": "ok", **payload})
    return Reply(reply.status, reply.body, WECOM_JSON_TYPE)


class WeComSettings(Protocol):
    """What FakeWeCom's rule modules read of their :class:`FakeWeCom`."""

    corp_id: str
    agents: dict[str, str]  # agent id -> that app's secret
    token_ttl: int
    ticket_ttl: int
    code_ttl: int
    user_ticket_ttl: int
    trusted_domains: frozenset[str] | None
    default_userid: str
    legacy_field_names: bool
