"""Typed errors.

Callers act on a failure by its type, never by parsing a message: an invalid
credential means "refresh the token", an invalid OAuth code means "fail this login
without looping", a quota error means "back off". Every error WeChat returns keeps
its ``errcode`` and ``errmsg`` so nothing WeChat said is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class ConfigError(ValueError):
    """The configuration is missing or malformed; the message names the setting."""


class ForeignURLError(ValueError):
    """A URL that is not of this site's own origin was given to be signed."""


class StoreError(RuntimeError):
    """The token store cannot be used (unreachable, corrupt or unwritable)."""


class WeChatError(Exception):
    """Base class of every failure talking to WeChat.

    ``errcode`` is WeChat's own code when WeChat answered, and -1 (WeChat's "system
    busy") when it could not be reached or answered garbage: both mean "try later".
    """

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatUnavailableError(WeChatError):
    """WeChat could not be reached, timed out, answered 5xx or malformed JSON."""

    def __init__(self, errmsg: str) -> None:
        super().__init__(-1, errmsg)


class CredentialPendingError(WeChatUnavailableError):
    """The token or ticket is being fetched and a page did not wait for it any longer
    (``WECHAT_PAGE_WAIT``): the page renders without a signature meanwhile."""


class WeChatAPIError(WeChatError):
    """WeChat answered with ``errcode != 0``."""


class SystemBusyError(WeChatAPIError):
    """-1: WeChat is busy; transient, retried with backoff."""


class InvalidCredentialError(WeChatAPIError):
    """40001/40014/42001: the access token is invalid, not the latest, or expired."""


class InvalidCodeError(WeChatAPIError):
    """40029/40163/42003: the OAuth ``code`` is bad, already used or expired."""


class RefreshTokenExpiredError(WeChatAPIError):
    """42002: the OAuth refresh token expired; the user must log in again."""


class QuotaExceededError(WeChatAPIError):
    """45009/45011: daily quota reached or calling too often; back off, do not retry."""


class AppConfigError(WeChatAPIError):
    """40013/40125/40164/89501/89503: fix the app id, secret or IP whitelist."""


class ScopeError(WeChatAPIError):
    """48001: the API is not authorised for this scope or account type."""


class UserNotAuthorizedError(WeChatAPIError):
    """50001/50002: the user has not authorised the app or is restricted."""


class RefreshLimitError(WeChatError):
    """wechat-jssdk's manual-refresh rule: at most 5 unforced refreshes within 2 hours."""

    def __init__(self, errmsg: str) -> None:
        super().__init__(45009, errmsg)


@dataclass(frozen=True)
class _Meaning:
    """What one errcode means: the class callers act on, the words an error message
    adds, and what the person running the app should do (``{app_id}`` and ``{ip}``
    are filled in)."""

    error: type[WeChatAPIError]
    plain: str | None = None
    advice: str | None = None


_REJECTED = (
    "WeChat rejected the access token: another deployment of this app may be fetching "
    "tokens too (share one store, or use WECHAT_TOKEN_ENDPOINT=stable)"
)
_CONFIRM = "ask the administrator to confirm it in WeChat, or add it to the IP whitelist"
_WHITELIST = "this server's IP address is not on the app's IP whitelist " + (
    "(WeChat dashboard: Settings > Basic configuration > IP whitelist)"
)

#: The one table of the errcodes the library acts on (docs/wechat-protocol.md section 6).
MEANINGS: dict[int, _Meaning] = {
    -1: _Meaning(SystemBusyError),
    40001: _Meaning(InvalidCredentialError, advice=_REJECTED),
    40014: _Meaning(InvalidCredentialError, advice=_REJECTED),
    42001: _Meaning(InvalidCredentialError, advice=_REJECTED),
    40029: _Meaning(InvalidCodeError),
    40163: _Meaning(InvalidCodeError),
    42003: _Meaning(InvalidCodeError),
    42002: _Meaning(RefreshTokenExpiredError),
    45009: _Meaning(
        QuotaExceededError,
        advice="WeChat's daily quota for this call is used up: wait until tomorrow, and "
        "share tokens through one store so that workers do not each fetch their own",
    ),
    45011: _Meaning(
        QuotaExceededError,
        advice="calls to WeChat are too frequent: wait a minute and try again",
    ),
    40013: _Meaning(
        AppConfigError,
        "the app id (WECHAT_APP_ID) is not valid",
        "the app id is wrong: WeChat knows no app WECHAT_APP_ID={app_id}; copy the AppID "
        "from the WeChat dashboard (Settings > Basic configuration)",
    ),
    40125: _Meaning(
        AppConfigError,
        "the app secret (WECHAT_APP_SECRET) is not valid",
        "the app secret is wrong: WECHAT_APP_SECRET is not the AppSecret of {app_id} "
        "(WeChat dashboard: Settings > Basic configuration; after a reset only the new "
        "one works)",
    ),
    40164: _Meaning(
        AppConfigError,
        _WHITELIST,
        "{ip} is not on the IP whitelist: add it in the WeChat dashboard "
        "(Settings > Basic configuration > IP whitelist)",
    ),
    89501: _Meaning(
        AppConfigError,
        "this server's IP address is waiting for the administrator's confirmation",
        "{ip} is waiting for the administrator's confirmation: " + _CONFIRM,
    ),
    89503: _Meaning(
        AppConfigError,
        "this server's IP address needs the administrator's confirmation in WeChat",
        "calls from {ip} need the administrator's confirmation: " + _CONFIRM,
    ),
    48001: _Meaning(
        ScopeError,
        "this API is not authorised for the app's account type or the OAuth scope",
        "this API is not authorised for the account: the JS-SDK needs an Official "
        "Account with the JS interface permission",
    ),
    50001: _Meaning(UserNotAuthorizedError),
    50002: _Meaning(UserNotAuthorizedError),
}


#: The ``errmsg`` WeChat sends with an errcode of ``MEANINGS``, where it is known
#: (docs/wechat-protocol.md section 6; 40164's names the IP WeChat saw). Shown in
#: docs/troubleshooting.md (``scripts/errcode-table``); the library never matches on it.
WECHAT_SAYS: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40014: "invalid access_token",
    42001: "access_token expired",
    40029: "invalid code",
    40163: "code been used",
    42003: "code expired",
    42002: "refresh_token expired",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    40013: "invalid appid",
    40125: "invalid appsecret",
    40164: "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist",
    48001: "api unauthorized",
    50001: "user unauthorized",
    50002: "user limited",
}


_WECOM_WRONG_CREDENTIAL = (
    "the app's secret is wrong: WECHAT_CORP_SECRET must be the Secret of app "
    "WECHAT_AGENT_ID in corp {app_id} (WeCom admin: App Management > the app > Secret; "
    "after a reset only the new one works)"
)
_WECOM_REJECTED = (
    "WeCom rejected the access token (revoked or expired early); the library fetches "
    "a new one and retries once"
)

#: WeCom's errcodes (docs/wecom-and-qrconnect.md section 1.2). Several numbers mean
#: something else than on an Official Account (40001: a bad secret, not a bad token;
#: 50001: a redirect domain, not a user), so each provider has its own table.
WECOM_MEANINGS: dict[int, _Meaning] = {
    -1: _Meaning(SystemBusyError),
    40001: _Meaning(AppConfigError, "the app's secret is not valid", _WECOM_WRONG_CREDENTIAL),
    40091: _Meaning(
        AppConfigError, "the secret is not valid for this corp", _WECOM_WRONG_CREDENTIAL
    ),
    40013: _Meaning(
        AppConfigError,
        "the corp id (WECHAT_CORP_ID) is not valid",
        "the corp id is wrong: WeCom knows no corp WECHAT_CORP_ID={app_id}; copy it from "
        "the WeCom admin (My Company > Company Information > Corp ID)",
    ),
    40056: _Meaning(
        AppConfigError,
        "the AgentId (WECHAT_AGENT_ID) is not valid",
        "the AgentId is wrong: WECHAT_AGENT_ID must be the AgentId shown on the app's page "
        "in the WeCom admin (App Management)",
    ),
    40014: _Meaning(InvalidCredentialError, advice=_WECOM_REJECTED),
    42001: _Meaning(InvalidCredentialError, advice=_WECOM_REJECTED),
    42012: _Meaning(
        AppConfigError,
        "the jsapi_ticket is not usable (not this app's, or not made by the right call)",
        "WeCom found no usable ticket: wx.agentConfig needs the app's own ticket "
        "(cgi-bin/ticket/get?type=agent_config, fetched with the token of app "
        "WECHAT_AGENT_ID), and a ticket never works for another app: WECHAT_CORP_SECRET "
        "must be the Secret of app WECHAT_AGENT_ID",
    ),
    40029: _Meaning(InvalidCodeError),
    45009: _Meaning(
        QuotaExceededError,
        advice="WeCom's frequency limit for this call is reached: wait (a minute-limit "
        "block lasts 60 s, an hour-limit block an hour) and share tokens through one store",
    ),
    45033: _Meaning(
        QuotaExceededError,
        advice="too many concurrent calls to WeCom: wait a moment and try again",
    ),
    48002: _Meaning(
        ScopeError,
        "this API is not permitted for the app",
        "the app may not call this API: check the app's permissions in the WeCom admin",
    ),
    50001: _Meaning(
        AppConfigError,
        "the redirect URL's domain is not a trusted domain of this app",
        "the login's redirect URL is not on the app's trusted domain: set it in the WeCom "
        "admin (App Management > the app > Web Authorization and JS-SDK), exactly the "
        "host and port of WECHAT_PUBLIC_URL",
    ),
    60020: _Meaning(
        AppConfigError,
        "this server's IP address is not a trusted IP of the app",
        "{ip} is not a trusted IP of the app: add it in the WeCom admin (App Management > "
        "the app > Trusted IPs)",
    ),
}


#: WeCom's ``errmsg`` for an errcode of ``WECOM_MEANINGS``, where it is known (WeCom adds
#: ", hint: [...], from ip: ..., more info at ..."); 42012's is the client's, from
#: ``wx.agentConfig`` ("agentConfig:fail_ticket no available more info at ...").
WECOM_SAYS: dict[int, str] = {
    -1: "system busy",
    40001: "invalid credential",
    40013: "invalid corpid",
    40056: "invalid agentid",
    40014: "invalid access_token",
    42001: "access_token expired",
    42012: "ticket no available",
    40029: "invalid code",
    45009: "api freq out of limit",
    48002: "api forbidden",
    60020: "not allow to access from your ip",
}


def error_for(
    errcode: int, errmsg: str, meanings: dict[int, _Meaning] = MEANINGS
) -> WeChatAPIError:
    """Build the typed error for an ``errcode`` WeChat (or, with ``WECOM_MEANINGS``,
    WeCom) returned."""
    meaning = meanings.get(errcode)
    if meaning is None:
        return WeChatAPIError(errcode, errmsg)
    plain = meaning.plain
    return meaning.error(errcode, f"{errmsg} ({plain})" if plain else errmsg)


def explain(exc: Exception, app_id: str = "", meanings: dict[int, _Meaning] = MEANINGS) -> str:
    """What went wrong and what to do, for the person running the app.

    The errcode decides the advice; WeChat's errmsg ("invalid ip 1.2.3.4 ipv6 ...,
    not in whitelist rid: ...") is only read for the IP address WeChat saw.
    """
    if not isinstance(exc, WeChatError):
        return str(exc)
    if exc.errcode == -1:
        return f"WeChat could not be reached or answered garbage: {exc.errmsg}"
    meaning = meanings.get(exc.errcode)
    if meaning is None or meaning.advice is None:
        return f"WeChat answered errcode {exc.errcode}: {exc.errmsg}"
    seen = re.search(r"(?:invalid|from) ip:? ([0-9A-Fa-f.:]+)", exc.errmsg)
    ip = f"this server's IP {seen.group(1).rstrip(',')}" if seen else "this server's IP"
    return meaning.advice.format(app_id=app_id, ip=ip) + f" (errcode {exc.errcode})"


class CryptoError(ValueError):
    """A callback message failed its signature, decryption or parsing check.

    Every way an untrusted callback can be wrong raises this one type, so a handler
    needs one ``except`` to answer "reject". ``errcode`` is WXBizMsgCrypt's code
    (-40001 bad signature ... -40010 bad base64), as WeCom's own samples report it.
    """

    def __init__(self, errcode: int, message: str) -> None:
        super().__init__(f"{message} (WXBizMsgCrypt {errcode})")
        self.errcode = errcode
