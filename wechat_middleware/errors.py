"""Typed errors.

Callers act on a failure by its type, never by parsing a message: an invalid
credential means "refresh the token", an invalid OAuth code means "fail this login
without looping", a quota error means "back off". Every error WeChat returns keeps
its ``errcode`` and ``errmsg`` so nothing WeChat said is lost.
"""

from __future__ import annotations


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
    """The seed's manual-refresh rule: at most 5 unforced refreshes within 2 hours."""

    def __init__(self, errmsg: str) -> None:
        super().__init__(45009, errmsg)


_PLAIN_WORDS = {
    40013: "the app id (WECHAT_APP_ID) is not valid",
    40125: "the app secret (WECHAT_APP_SECRET) is not valid",
    40164: "this server's IP address is not on the app's IP whitelist "
    "(WeChat dashboard: Settings > Basic configuration > IP whitelist)",
    89501: "this server's IP address is waiting for the administrator's confirmation",
    89503: "this server's IP address needs the administrator's confirmation in WeChat",
    48001: "this API is not authorised for the app's account type or the OAuth scope",
}

_BY_CODE: dict[int, type[WeChatAPIError]] = {
    -1: SystemBusyError,
    40001: InvalidCredentialError,
    40014: InvalidCredentialError,
    42001: InvalidCredentialError,
    40029: InvalidCodeError,
    40163: InvalidCodeError,
    42003: InvalidCodeError,
    42002: RefreshTokenExpiredError,
    45009: QuotaExceededError,
    45011: QuotaExceededError,
    40013: AppConfigError,
    40125: AppConfigError,
    40164: AppConfigError,
    89501: AppConfigError,
    89503: AppConfigError,
    48001: ScopeError,
    50001: UserNotAuthorizedError,
    50002: UserNotAuthorizedError,
}


def error_for(errcode: int, errmsg: str) -> WeChatAPIError:
    """Build the typed error for an ``errcode`` WeChat returned."""
    cls = _BY_CODE.get(errcode, WeChatAPIError)
    plain = _PLAIN_WORDS.get(errcode)
    return cls(errcode, f"{errmsg} ({plain})" if plain else errmsg)


class CryptoError(ValueError):
    """A callback message failed its signature, decryption or parsing check.

    Every way an untrusted callback can be wrong raises this one type, so a handler
    needs one ``except`` to answer "reject". ``errcode`` is WXBizMsgCrypt's code
    (-40001 bad signature ... -40010 bad base64), as WeCom's own samples report it.
    """

    def __init__(self, errcode: int, message: str) -> None:
        super().__init__(f"{message} (WXBizMsgCrypt {errcode})")
        self.errcode = errcode
