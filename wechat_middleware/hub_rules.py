"""The token hub's rules, without I/O: what a request asks, and WeChat's own answer when
something is wrong with it.

The hub answers WeChat's (or WeCom's) token and ticket endpoints in their shapes, so any
SDK pointed at it as its API base works unchanged. :func:`read` turns a request into an
:class:`Ask` or a :class:`Refusal` with the errcode WeChat gives for that mistake (every
error is HTTP 200 with ``errcode``/``errmsg``, as WeChat answers); :func:`client_of`
finds the client whose key was given as the secret, comparing every key in constant
time. :mod:`wechat_middleware.hub` does the I/O.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .tokens import Kind

MAX_QUERY = 4096  # bytes of a query string; nothing WeChat takes comes close
MAX_PARAM = 512  # characters of one value: a token is about 160, a key at most 128
MAX_BODY = 4096  # bytes of a stable_token body
MAX_EXPIRES_IN = 7200  # WeChat's own lifetime of a token and a ticket

# The errcodes the hub answers with, as WeChat words them (docs/fake-beliefs.md B3-B6).
SYSTEM_ERROR = -1
TOO_OFTEN = 45011
WECHAT_WORDS = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40013: "invalid appid",
    40066: "invalid url",
    40097: "invalid args",
    40125: "invalid appsecret",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    43001: "require GET method",
    43002: "require POST method",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
}
# WeCom words some of them otherwise, and a wrong secret is its 40001 (a stale token 40014).
WECOM_WORDS = {
    **WECHAT_WORDS,
    -1: "system busy",
    40001: "invalid credential",
    40013: "invalid corpid",
    40014: "invalid access_token",
    41002: "corpid missing",
    41004: "corpsecret missing",
}


@dataclass(frozen=True)
class Endpoint:
    """One of the provider's endpoints the hub answers."""

    method: str
    kind: Kind  # what it hands out
    id_param: str = ""  # a token endpoint's: the app id's name and the secret's
    secret_param: str = ""
    grant_type: bool = False  # WeChat's token endpoints ask grant_type=client_credential
    json_body: bool = False  # stable_token: a JSON body, not a query
    ticket_type: str = ""  # the ``type`` a ticket endpoint requires ("": none)


@dataclass(frozen=True)
class Dialect:
    """What one provider's endpoints are, and its errcodes for a wrong key and a stale token."""

    endpoints: Mapping[str, Endpoint]
    wrong_key: int
    stale_token: int
    words: Mapping[int, str]
    token_has_errcode: bool  # WeCom's token answer carries errcode 0; WeChat's does not


WECHAT = Dialect(
    endpoints={
        "/cgi-bin/token": Endpoint("GET", "access_token", "appid", "secret", grant_type=True),
        "/cgi-bin/stable_token": Endpoint(
            "POST", "access_token", "appid", "secret", grant_type=True, json_body=True
        ),
        "/cgi-bin/ticket/getticket": Endpoint("GET", "jsapi_ticket", ticket_type="jsapi"),
    },
    wrong_key=40125,
    stale_token=40001,
    words=WECHAT_WORDS,
    token_has_errcode=False,
)
WECOM = Dialect(
    endpoints={
        "/cgi-bin/gettoken": Endpoint("GET", "access_token", "corpid", "corpsecret"),
        "/cgi-bin/get_jsapi_ticket": Endpoint("GET", "jsapi_ticket"),
        "/cgi-bin/ticket/get": Endpoint("GET", "agent_ticket", ticket_type="agent_config"),
    },
    wrong_key=40001,
    stale_token=40014,
    words=WECOM_WORDS,
    token_has_errcode=True,
)
DIALECTS = {"wechat": WECHAT, "wecom": WECOM}


@dataclass(frozen=True)
class Refusal:
    """WeChat's answer to a mistake: HTTP 200 and this errcode."""

    errcode: int
    detail: str = ""  # added to the errmsg: what the hub itself knows

    def body(self, dialect: Dialect) -> dict[str, Any]:
        words = dialect.words.get(self.errcode, "")
        errmsg = f"{words}: {self.detail}" if self.detail and words else words or self.detail
        return {"errcode": self.errcode, "errmsg": errmsg}


@dataclass(frozen=True)
class Ask:
    """What a well-formed request asks: a token (with the app id and key given) or a
    ticket (with the access token given). ``rejected``: the value the caller saw
    rejected; ``force``: stable_token's ``force_refresh``."""

    kind: Kind
    app_id: str = ""
    key: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    rejected: str = field(default="", repr=False)
    force: bool = False


def read(endpoint: Endpoint, method: str, query: str, body: bytes) -> Ask | Refusal:
    """What a request to ``endpoint`` asks, or WeChat's answer to what is wrong with it."""
    if method != endpoint.method:
        return Refusal(43001 if endpoint.method == "GET" else 43002)
    if len(query) > MAX_QUERY:
        return Refusal(40097, "query string too long")
    params = _first_values(query)
    if endpoint.json_body:
        loaded = _json_fields(body)
        if loaded is None:
            return Refusal(47001)
        params = loaded
    force = params.pop("force_refresh", False)
    if not all(isinstance(v, str) for v in params.values()) or not isinstance(force, bool):
        return Refusal(47001)
    if any(len(v) > MAX_PARAM for v in params.values()):
        return Refusal(40097, f"a parameter is over {MAX_PARAM} characters")
    rejected = params.get("rejected", "")
    if not endpoint.id_param:  # a ticket endpoint
        if not params.get("access_token"):
            return Refusal(41001)
        if endpoint.ticket_type and params.get("type") != endpoint.ticket_type:
            return Refusal(40097, f"type must be {endpoint.ticket_type}")
        return Ask(endpoint.kind, access_token=params["access_token"], rejected=rejected)
    if endpoint.grant_type and params.get("grant_type") != "client_credential":
        return Refusal(40002)
    app_id, key = params.get(endpoint.id_param, ""), params.get(endpoint.secret_param, "")
    if not app_id:
        return Refusal(41002)
    if not key:
        return Refusal(41004)
    return Ask(endpoint.kind, app_id=app_id, key=key, rejected=rejected, force=force)


def client_of(
    clients: Iterable[tuple[str, str]], app_id: str, ask: Ask, dialect: Dialect
) -> str | Refusal:
    """The name of the client whose key ``ask`` gives, or the refusal: a wrong app id
    (WeChat checks it first), else a wrong key. Every key is compared, in constant time,
    so the time taken tells nothing of which one came close."""
    if ask.app_id != app_id:
        return Refusal(40013)
    given = ask.key.encode("utf-8", "surrogateescape")
    found = ""
    for name, key in clients:
        if hmac.compare_digest(key.encode("utf-8"), given):
            found = name
    return found or Refusal(dialect.wrong_key)


def same(held: str, given: str) -> bool:
    """Whether a value given equals the one held, in constant time."""
    return hmac.compare_digest(held.encode("utf-8"), given.encode("utf-8", "surrogateescape"))


def expires_in(expires_at: float, now: float) -> int:
    """Seconds left of a credential, counted from the hub's own fetch, within 0..7200."""
    return max(0, min(MAX_EXPIRES_IN, int(expires_at - now)))


def answer(dialect: Dialect, kind: Kind, value: str, seconds: int) -> dict[str, Any]:
    """The success answer of a token or ticket endpoint, in the provider's shape."""
    if kind == "access_token":
        found: dict[str, Any] = {"access_token": value, "expires_in": seconds}
        return {"errcode": 0, "errmsg": "ok", **found} if dialect.token_has_errcode else found
    return {"errcode": 0, "errmsg": "ok", "ticket": value, "expires_in": seconds}


def _first_values(query: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, value)
    return values


def _json_fields(body: bytes) -> dict[str, Any] | None:
    """stable_token's JSON object, or ``None`` for anything else (47001)."""
    if len(body) > MAX_BODY:
        return None
    try:
        loaded = json.loads(body)
    except ValueError:  # UnicodeDecodeError too
        return None
    return loaded if isinstance(loaded, dict) else None
