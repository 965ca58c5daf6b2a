"""Specification of ``wechat_middleware.errors`` (docs/wechat-protocol.md section 6)."""

from __future__ import annotations

import pytest

from wechat_middleware.errors import (
    WECOM_MEANINGS,
    AppConfigError,
    InvalidCodeError,
    InvalidCredentialError,
    QuotaExceededError,
    RefreshTokenExpiredError,
    ScopeError,
    SystemBusyError,
    UserNotAuthorizedError,
    WeChatAPIError,
    WeChatError,
    WeChatUnavailableError,
    error_for,
    explain,
)

# docs/wechat-protocol.md section 6: every errcode we act on, and the type callers
# dispatch on. Codes that are "bug: raise" / "raise" get the plain WeChatAPIError.
ERRCODE_TABLE: list[tuple[int, type[WeChatAPIError]]] = [
    (-1, SystemBusyError),  # system busy: retry with backoff
    (40001, InvalidCredentialError),  # token invalid or not the latest: refresh once
    (40014, InvalidCredentialError),  # invalid access_token: as 40001
    (42001, InvalidCredentialError),  # access_token expired: as 40001
    (40002, WeChatAPIError),  # invalid grant_type: bug, raise
    (40003, WeChatAPIError),  # invalid openid: raise
    (40013, AppConfigError),  # invalid appid
    (40125, AppConfigError),  # invalid appsecret
    (40164, AppConfigError),  # caller IP not on the whitelist
    (89501, AppConfigError),  # IP waiting for admin confirmation
    (89503, AppConfigError),  # IP needs admin confirmation
    (40029, InvalidCodeError),  # invalid OAuth code: fail the login, no loop
    (40163, InvalidCodeError),  # OAuth code already used
    (42003, InvalidCodeError),  # OAuth code expired
    (42002, RefreshTokenExpiredError),  # refresh_token expired: log in again
    (41001, WeChatAPIError),  # access_token missing: bug, raise
    (45009, QuotaExceededError),  # daily quota reached: back off, no retries
    (45011, QuotaExceededError),  # calling too often: back off
    (48001, ScopeError),  # API not authorised for scope or account type
    (50001, UserNotAuthorizedError),  # user not authorised
    (50002, UserNotAuthorizedError),  # user restricted
]
ERRCODE_IDS = [str(code) for code, _ in ERRCODE_TABLE]
WECHAT_MESSAGE = "invalid something rid: 6560a1b2-0c3d4e5f-1a2b3c4d"


@pytest.mark.parametrize(("errcode", "expected"), ERRCODE_TABLE, ids=ERRCODE_IDS)
def test_error_for_maps_errcode_to_its_class(errcode: int, expected: type) -> None:
    """Callers act on the type (refresh, fail the login, back off), never on the message."""
    assert type(error_for(errcode, WECHAT_MESSAGE)) is expected


@pytest.mark.parametrize(("errcode", "expected"), ERRCODE_TABLE, ids=ERRCODE_IDS)
def test_error_for_keeps_the_errcode(errcode: int, expected: type) -> None:
    assert error_for(errcode, WECHAT_MESSAGE).errcode == errcode


@pytest.mark.parametrize(("errcode", "expected"), ERRCODE_TABLE, ids=ERRCODE_IDS)
def test_error_for_keeps_wechats_errmsg(errcode: int, expected: type) -> None:
    """Nothing WeChat said is lost (its errmsg carries the rid support asks for)."""
    error = error_for(errcode, WECHAT_MESSAGE)
    assert error.errmsg.startswith(WECHAT_MESSAGE)
    assert WECHAT_MESSAGE in str(error)


@pytest.mark.parametrize(("errcode", "expected"), ERRCODE_TABLE, ids=ERRCODE_IDS)
def test_error_for_returns_a_wechat_api_error(errcode: int, expected: type) -> None:
    error = error_for(errcode, WECHAT_MESSAGE)
    assert isinstance(error, WeChatAPIError)
    assert isinstance(error, WeChatError)


def test_error_for_keeps_errmsg_unchanged_for_a_code_without_advice() -> None:
    assert error_for(40001, WECHAT_MESSAGE).errmsg == WECHAT_MESSAGE


@pytest.mark.parametrize("errcode", [1, 40000, 40099, 99999, -2])
def test_error_for_unknown_code_is_a_plain_wechat_api_error(errcode: int) -> None:
    error = error_for(errcode, "something new")
    assert type(error) is WeChatAPIError
    assert (error.errcode, error.errmsg) == (errcode, "something new")


def test_error_str_shows_the_errcode() -> None:
    assert "40164" in str(error_for(40164, "invalid ip 1.2.3.4"))


def test_40164_message_says_ip_whitelist_in_plain_words() -> None:
    """40164: the calling server's IP is not on the app's IP whitelist; say so plainly."""
    error = error_for(40164, "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist")
    assert "IP whitelist" in error.errmsg
    assert "IP whitelist" in str(error)


@pytest.mark.parametrize("errcode", [89501, 89503])
def test_ip_confirmation_message_says_administrator_confirmation(errcode: int) -> None:
    """89501/89503: the IP needs the administrator's confirmation; say so plainly."""
    error = error_for(errcode, "ip need admin confirm")
    assert "IP" in error.errmsg
    assert "confirmation" in error.errmsg


def test_wecoms_42012_says_wx_agent_config_needs_the_apps_own_ticket() -> None:
    """WeCom's 42012 (docs/wecom-and-qrconnect.md section 1.2): "jsapi_ticket不可用" (no
    usable ticket); for wx.agentConfig the ticket must be the app's own, from
    ``ticket/get?type=agent_config``, and may not cross apps."""
    error = error_for(42012, "ticket no available", WECOM_MEANINGS)
    assert isinstance(error, AppConfigError)
    advice = explain(error, "wwcorp", WECOM_MEANINGS)
    assert "type=agent_config" in advice and "WECHAT_CORP_SECRET" in advice
    assert advice.endswith("(errcode 42012)")


def test_42012_means_nothing_on_an_official_account() -> None:
    """No Official Account document gives 42012 a meaning (corrections.md): it stays a
    plain API error there, not a guess."""
    assert type(error_for(42012, "something")) is WeChatAPIError


def test_unavailable_error_has_errcode_minus_one() -> None:
    """-1 is WeChat's "system busy": unreachable WeChat also means "try later"."""
    assert WeChatUnavailableError("connection refused").errcode == -1


def test_unavailable_error_keeps_its_message() -> None:
    error = WeChatUnavailableError("read timed out")
    assert error.errmsg == "read timed out"
    assert "read timed out" in str(error)


def test_unavailable_error_is_a_wechat_error() -> None:
    assert isinstance(WeChatUnavailableError("connection refused"), WeChatError)


def test_wechat_error_is_an_exception() -> None:
    with pytest.raises(WeChatError):
        raise error_for(45009, "reach max api daily quota limit")
