"""The seed's OAuth API on ``wechat.oauth``, against FakeWeChat over real sockets.

WeChat facts relied on (docs/wechat-protocol.md sections 5 and 6): the authorize URL is
``connect/oauth2/authorize?appid&redirect_uri(encoded)&response_type=code&scope&state
#wechat_redirect``; ``state`` is up to 128 bytes of [a-zA-Z0-9]; a code is single-use
(again: 40163), unknown codes answer 40029 and codes older than 5 minutes 42003; the
OAuth token is per user and lives 7200 s; the refresh token lives 30 days (then
42002); ``sns/userinfo`` needs ``snsapi_userinfo`` (else 48001); a snapshot-page
visitor gets ``is_snapshotuser: 1`` and a virtual openid.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from wechat_middleware import (
    InvalidCodeError,
    RefreshTokenExpiredError,
    ScopeError,
    WeChat,
)
from wechat_middleware.oauth import OAuth
from wechat_middleware.testing import FakeUser, FakeWeChat, Fault
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA
from wechat_middleware.user import WeChatUser

from .conftest import MakeWeChat

OAUTH_TOKEN = "sns/oauth2/access_token"
OAUTH_REFRESH = "sns/oauth2/refresh_token"
USERINFO = "sns/userinfo"
AUTH = "sns/auth"
CALLBACK = "https://example.com/wechat/oauth-callback?next=%2Fpage"
DAY = 86400


def stored(wechat: WeChat, openid: str) -> dict[str, Any] | None:
    """The raw store entry of a user's OAuth token, by the documented key."""
    raw = wechat.store.get(wechat.oauth.keys.oauth_token(openid))
    return None if raw is None else dict(json.loads(raw))


def keeping(wechat: WeChat) -> OAuth:
    """``wechat.oauth`` keeping each login's token, as an app that reads them later sets."""
    oauth = wechat.oauth
    assert isinstance(oauth, OAuth)
    oauth.keep_tokens = True
    return oauth


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


@pytest.fixture
def zhang(fake_wechat: FakeWeChat) -> FakeUser:
    return fake_wechat.add_user(
        FakeUser(
            openid="oZhangSan_0123456789abcdefgh",
            nickname="张三 🐼",
            headimgurl="https://thirdwx.qlogo.cn/mmopen/zhang/132",
            unionid="oUnionZhang-0123456789abcdef",
        )
    )


# --------------------------------------------------------------------------- authorize URLs


def test_generate_oauth_url_defaults_to_snsapi_userinfo_like_the_seed(
    make_wechat: MakeWeChat,
) -> None:
    url = make_wechat().oauth.generate_oauth_url(CALLBACK)
    assert query_of(url)["scope"] == ["snsapi_userinfo"]


def test_generate_oauth_url_is_base_asks_for_snsapi_base(make_wechat: MakeWeChat) -> None:
    url = make_wechat().oauth.generate_oauth_url(CALLBACK, is_base=True)
    assert query_of(url)["scope"] == ["snsapi_base"]


def test_oauth_url_ends_with_wechat_redirect_and_encodes_the_redirect_uri(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    # docs/wechat-protocol.md section 5.1: #wechat_redirect is required; redirect_uri must be
    # URL-encoded.
    url = make_wechat().oauth.generate_oauth_url(CALLBACK, state="abc123")
    assert url.startswith(f"{fake_wechat.open_base}/connect/oauth2/authorize?")
    assert url.endswith("#wechat_redirect")
    assert f"redirect_uri={quote(CALLBACK, safe='')}&" in url
    query = query_of(url)
    assert query["appid"] == [fake_wechat.app_id]
    assert query["response_type"] == ["code"]
    assert query["state"] == ["abc123"]


def test_oauth_url_is_accepted_by_the_authorize_page(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    # docs/wechat-protocol.md section 5.2: WeChat redirects to redirect_uri?code=CODE&state=STATE.
    url = make_wechat().oauth.generate_oauth_url(CALLBACK, is_base=True, state="s1")
    headers = {"User-Agent": ANDROID_WECHAT_UA}  # only WeChat's browser is given a code
    response = requests.get(url, headers=headers, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://example.com/wechat/oauth-callback?")
    assert query_of(location)["next"] == ["/page"]
    assert query_of(location)["state"] == ["s1"]
    assert query_of(location)["code"]


def test_generate_oauth_url_by_scope_uses_the_given_scope(make_wechat: MakeWeChat) -> None:
    oauth = make_wechat().oauth
    assert query_of(oauth.generate_oauth_url_by_scope(CALLBACK, "snsapi_base"))["scope"] == [
        "snsapi_base"
    ]
    assert query_of(oauth.generate_oauth_url_by_scope(CALLBACK, "snsapi_userinfo"))["scope"] == [
        "snsapi_userinfo"
    ]


def test_generate_oauth_url_by_scope_rejects_other_scopes(make_wechat: MakeWeChat) -> None:
    # snsapi_login belongs to website QR login (Open Platform), not to this page.
    with pytest.raises(ValueError, match="scope"):
        make_wechat().oauth.generate_oauth_url_by_scope(CALLBACK, "snsapi_login")


def test_generate_oauth_url_without_a_url_uses_the_configured_callback(
    make_wechat: MakeWeChat,
) -> None:
    url = make_wechat(public_url="https://shop.example.com").oauth.generate_oauth_url()
    assert query_of(url)["redirect_uri"] == ["https://shop.example.com/wechat/oauth-callback"]


def test_generate_oauth_url_without_any_url_is_a_value_error(make_wechat: MakeWeChat) -> None:
    with pytest.raises(ValueError, match="redirect"):
        make_wechat().oauth.generate_oauth_url()


@pytest.mark.parametrize(
    "url",
    [
        "/wechat/oauth-callback",
        "example.com/cb",
        "ftp://example.com/cb",
        "javascript:alert(1)",
        "https:///no-host",
        "https://example.com/a b",
        "https://example.com/\r\nSet-Cookie:x=1",
        "https://example.com/" + "a" * 5000,
    ],
)
def test_redirect_url_must_be_absolute_http(make_wechat: MakeWeChat, url: str) -> None:
    # docs/wechat-protocol.md section 5.1: redirect_uri is an absolute URL on the dashboard's OAuth
    # domain.
    with pytest.raises(ValueError, match="absolute"):
        make_wechat().oauth.generate_oauth_url(url)


@pytest.mark.parametrize("state", ["has space", "dash-ed", "中文", "a" * 129, "a&scope=x"])
def test_state_outside_128_alphanumerics_is_a_value_error(
    make_wechat: MakeWeChat, state: str
) -> None:
    # docs/wechat-protocol.md section 5.1: state is up to 128 bytes of a-zA-Z0-9.
    with pytest.raises(ValueError, match="state"):
        make_wechat().oauth.generate_oauth_url(CALLBACK, state=state)


def test_state_of_128_alphanumerics_is_accepted(make_wechat: MakeWeChat) -> None:
    state = "aZ9" * 42 + "xy"
    assert query_of(make_wechat().oauth.generate_oauth_url(CALLBACK, state=state))["state"] == [
        state
    ]


# --------------------------------------------------------------------------- code exchange


def test_get_oauth_access_token_returns_the_token_and_stores_it_under_the_openid(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    wechat = make_wechat()
    code = fake_wechat.issue_code(zhang.openid, "snsapi_userinfo")
    token = wechat.oauth.get_oauth_access_token(code)
    assert token["openid"] == zhang.openid
    assert token["scope"] == "snsapi_userinfo"
    assert token["unionid"] == zhang.unionid  # with snsapi_userinfo only (section 5.3)
    entry = stored(wechat, zhang.openid)
    assert entry is not None
    assert entry["access_token"] == token["access_token"]
    assert entry["refresh_token"] == token["refresh_token"]
    assert entry["scope"] == "snsapi_userinfo"
    assert entry["unionid"] == zhang.unionid
    assert entry["expires_at"] == pytest.approx(fake_wechat.now() + 7200, abs=5)


def test_get_user_base_info_gives_who_without_the_tokens(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    info = make_wechat().oauth.get_user_base_info(fake_wechat.issue_code(zhang.openid))
    assert info["openid"] == zhang.openid
    assert info["scope"] == "snsapi_base"
    assert "unionid" not in info  # WeChat sends it with snsapi_userinfo only (section 5.3)
    assert "access_token" not in info and "refresh_token" not in info


@pytest.mark.parametrize("code", ["", None, "x" * 513])
def test_missing_or_absurd_code_is_a_value_error_without_calling_wechat(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, code: Any
) -> None:
    with pytest.raises(ValueError, match="code"):
        make_wechat().oauth.get_oauth_access_token(code)
    assert fake_wechat.calls(OAUTH_TOKEN) == 0


def test_used_code_is_invalid_code_40163(make_wechat: MakeWeChat, fake_wechat: FakeWeChat) -> None:
    # docs/wechat-protocol.md section 5.2: a code can be used once.
    oauth = make_wechat().oauth
    code = fake_wechat.issue_code()
    oauth.get_oauth_access_token(code)
    with pytest.raises(InvalidCodeError) as caught:
        oauth.get_oauth_access_token(code)
    assert caught.value.errcode == 40163


def test_unknown_code_is_invalid_code_40029(make_wechat: MakeWeChat) -> None:
    with pytest.raises(InvalidCodeError) as caught:
        make_wechat().oauth.get_user_base_info("notACodeWeChatIssued")
    assert caught.value.errcode == 40029


def test_code_older_than_five_minutes_is_invalid_code_42003(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    # docs/wechat-protocol.md section 5.2: a code is valid 5 minutes.
    code = fake_wechat.issue_code()
    fake_wechat.advance(301)
    with pytest.raises(InvalidCodeError) as caught:
        make_wechat().oauth.login(code)
    assert caught.value.errcode == 42003


# --------------------------------------------------------------------------- user info


def test_get_user_info_returns_the_profile(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    info = make_wechat().oauth.get_user_info(
        fake_wechat.issue_code(zhang.openid, "snsapi_userinfo")
    )
    assert info["openid"] == zhang.openid
    assert info["nickname"] == zhang.nickname
    assert info["headimgurl"] == zhang.headimgurl
    assert info["unionid"] == zhang.unionid
    assert "access_token" not in info


def test_get_user_info_return_token_merges_the_token_into_the_profile(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    wechat = make_wechat()
    code = fake_wechat.issue_code(zhang.openid, "snsapi_userinfo")
    info = wechat.oauth.get_user_info(code, return_token=True)
    assert info["nickname"] == zhang.nickname
    entry = stored(wechat, zhang.openid)
    assert entry is not None
    assert info["access_token"] == entry["access_token"]
    assert info["refresh_token"] == entry["refresh_token"]
    assert info["expires_in"] == 7200


def test_get_user_info_force_token_update_refreshes_before_userinfo(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    # docs/wechat-protocol.md section 5.4: refresh_token gives a new access token for the same user.
    wechat = make_wechat()
    code = fake_wechat.issue_code(zhang.openid, "snsapi_userinfo")
    info = wechat.oauth.get_user_info(code, force_token_update=True, return_token=True)
    assert fake_wechat.calls(OAUTH_REFRESH) == 1
    assert info["nickname"] == zhang.nickname
    entry = stored(wechat, zhang.openid)
    assert entry is not None and entry["access_token"] == info["access_token"]


def test_get_user_info_by_options_takes_the_seeds_option_names(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    oauth = make_wechat().oauth
    camel = oauth.get_user_info_by_options(
        {"code": fake_wechat.issue_code(zhang.openid, "snsapi_userinfo"), "returnToken": True}
    )
    assert camel["nickname"] == zhang.nickname and "access_token" in camel
    snake = oauth.get_user_info_by_options(
        {
            "code": fake_wechat.issue_code(zhang.openid, "snsapi_userinfo"),
            "force_token_update": True,
            "lang": "en",
        }
    )
    assert snake["nickname"] == zhang.nickname and "access_token" not in snake
    assert fake_wechat.calls(OAUTH_REFRESH) == 1


def test_get_user_info_by_options_without_code_is_a_value_error(make_wechat: MakeWeChat) -> None:
    with pytest.raises(ValueError, match="code"):
        make_wechat().oauth.get_user_info_by_options({"returnToken": True})


def test_get_user_info_with_snsapi_base_is_scope_error_48001(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    # docs/wechat-protocol.md section 5.5: sns/userinfo needs snsapi_userinfo.
    with pytest.raises(ScopeError) as caught:
        make_wechat().oauth.get_user_info(fake_wechat.issue_code(scope="snsapi_base"))
    assert caught.value.errcode == 48001


def test_get_user_info_bad_lang_fails_before_spending_the_code(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    oauth = make_wechat().oauth
    code = fake_wechat.issue_code(scope="snsapi_userinfo")
    with pytest.raises(ValueError, match="lang"):
        oauth.get_user_info(code, lang="fr")
    assert fake_wechat.calls(OAUTH_TOKEN) == 0
    assert oauth.get_user_info(code)["openid"] == fake_wechat.default_openid


# --------------------------------------------------------------------------- stored tokens


def test_is_access_token_valid_for_a_fresh_login(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    oauth = keeping(make_wechat())
    user = oauth.login(fake_wechat.issue_code()).user
    assert user is not None
    assert oauth.is_access_token_valid(user.openid)


def test_is_access_token_valid_is_false_after_two_hours(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    # docs/wechat-protocol.md section 5.3: the OAuth access token lives expires_in = 7200 s.
    oauth = keeping(make_wechat())
    oauth.login(fake_wechat.issue_code())
    fake_wechat.advance(7201)
    assert not oauth.is_access_token_valid(fake_wechat.default_openid)


def test_is_access_token_valid_is_false_for_a_user_never_seen(make_wechat: MakeWeChat) -> None:
    assert not make_wechat().oauth.is_access_token_valid("oNeverLoggedIn")


def test_is_access_token_valid_remote_asks_sns_auth(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    # docs/wechat-protocol.md section 5.6: sns/auth answers errcode 0 for a valid OAuth token.
    oauth = keeping(make_wechat())
    oauth.login(fake_wechat.issue_code())
    assert oauth.is_access_token_valid(fake_wechat.default_openid, remote=True)
    assert fake_wechat.calls(AUTH) == 1


@pytest.mark.parametrize("openid", ["", "o/../../x", "o" * 129])
def test_malformed_openid_is_a_value_error(make_wechat: MakeWeChat, openid: str) -> None:
    oauth = make_wechat().oauth
    with pytest.raises(ValueError, match="openid"):
        oauth.is_access_token_valid(openid)
    with pytest.raises(ValueError, match="openid"):
        oauth.refresh_access_token(openid)


def test_refresh_access_token_after_expiry_stores_a_new_token(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    # docs/wechat-protocol.md section 5.4: refresh_token (30 days) gives a new 7200 s access token.
    wechat = make_wechat(store_url)
    openid = fake_wechat.default_openid
    old = wechat.oauth.get_oauth_access_token(fake_wechat.issue_code())["access_token"]
    fake_wechat.advance(7201)
    new = wechat.oauth.refresh_access_token(openid)
    assert new["access_token"] != old
    assert wechat.oauth.is_access_token_valid(openid, remote=True)
    entry = stored(wechat, openid)
    assert entry is not None and entry["access_token"] == new["access_token"]


def test_refresh_token_older_than_30_days_is_refresh_token_expired(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    # docs/wechat-protocol.md section 5.4: refresh tokens live 30 days; the entry lives as long, so
    # WeChat isn't asked.
    oauth = keeping(make_wechat(store_url))
    oauth.login(fake_wechat.issue_code())
    fake_wechat.advance(30 * DAY + 1)
    with pytest.raises(RefreshTokenExpiredError):
        oauth.refresh_access_token(fake_wechat.default_openid)
    assert fake_wechat.calls(OAUTH_REFRESH) == 0


def test_refreshing_does_not_extend_the_refresh_tokens_30_days(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    # docs/wechat-protocol.md section 5.4: a refresh answers with the same refresh token, which
    # keeps its 30 days.
    oauth = keeping(make_wechat())
    openid = fake_wechat.default_openid
    oauth.login(fake_wechat.issue_code())
    fake_wechat.advance(29 * DAY)
    oauth.refresh_access_token(openid)
    fake_wechat.advance(DAY + 1)
    with pytest.raises(RefreshTokenExpiredError):
        oauth.refresh_access_token(openid)
    assert fake_wechat.calls(OAUTH_REFRESH) == 1  # the second was known dead, not asked


def test_wechat_answering_42002_forgets_the_users_token(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    # docs/wechat-protocol.md section 6: 42002 refresh_token expired -> the user must log in again.
    wechat = make_wechat()
    openid = fake_wechat.default_openid
    keeping(wechat).login(fake_wechat.issue_code())
    fake_wechat.inject(OAUTH_REFRESH, Fault("errcode", 42002, errmsg="refresh_token expired"))
    with pytest.raises(RefreshTokenExpiredError) as caught:
        wechat.oauth.refresh_access_token(openid)
    assert caught.value.errcode == 42002
    assert stored(wechat, openid) is None


def test_refresh_access_token_for_a_user_never_seen_is_refresh_token_expired(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    with pytest.raises(RefreshTokenExpiredError):
        make_wechat().oauth.refresh_access_token("oNeverLoggedIn")
    assert fake_wechat.calls(OAUTH_REFRESH) == 0


def test_tokens_are_stored_per_openid(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser, store_url: str
) -> None:
    # docs/wechat-protocol.md section 5.3: the OAuth token is per user: one user's login must not
    # replace another's.
    wechat = make_wechat(store_url)
    other = fake_wechat.default_openid
    mine = wechat.oauth.get_oauth_access_token(fake_wechat.issue_code(zhang.openid))
    theirs = wechat.oauth.get_oauth_access_token(fake_wechat.issue_code(other))
    mine_entry, theirs_entry = stored(wechat, zhang.openid), stored(wechat, other)
    assert mine_entry is not None and mine_entry["access_token"] == mine["access_token"]
    assert theirs_entry is not None and theirs_entry["access_token"] == theirs["access_token"]
    wechat.oauth.refresh_access_token(zhang.openid)
    assert stored(wechat, other) == theirs_entry


def test_a_users_token_is_shared_with_other_workers_on_the_store(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser, store_url: str
) -> None:
    first = make_wechat(store_url)
    keeping(first).login(fake_wechat.issue_code(zhang.openid, "snsapi_userinfo"))
    second = make_wechat(first.store)
    assert second.oauth.get_user_info_by_openid(zhang.openid)["nickname"] == zhang.nickname


def test_get_user_info_by_openid_refreshes_an_expired_token(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    oauth = keeping(make_wechat())
    oauth.login(fake_wechat.issue_code(zhang.openid, "snsapi_userinfo"))
    fake_wechat.advance(7201)
    assert oauth.get_user_info_by_openid(zhang.openid)["nickname"] == zhang.nickname
    assert fake_wechat.calls(OAUTH_REFRESH) == 1


def test_get_user_info_by_openid_refreshes_once_when_wechat_rejects_the_token(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    # docs/wechat-protocol.md section 6: 42001 access_token expired -> refresh once, retry once.
    oauth = keeping(make_wechat())
    oauth.login(fake_wechat.issue_code(zhang.openid, "snsapi_userinfo"))
    fake_wechat.inject(USERINFO, Fault("errcode", 42001, errmsg="access_token expired"))
    assert oauth.get_user_info_by_openid(zhang.openid)["nickname"] == zhang.nickname
    assert fake_wechat.calls(OAUTH_REFRESH) == 1
    assert fake_wechat.calls(USERINFO) == 3  # login, rejected, retried


# --------------------------------------------------------------------------- login


def test_login_with_snsapi_base_gives_the_openid_without_calling_userinfo(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    result = make_wechat().oauth.login(fake_wechat.issue_code(scope="snsapi_base"))
    assert result.user == WeChatUser(fake_wechat.default_openid, "snsapi_base")
    assert not result.snapshot
    assert fake_wechat.calls(USERINFO) == 0


def test_login_with_snsapi_userinfo_gives_the_profile(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    result = make_wechat().oauth.login(fake_wechat.issue_code(zhang.openid, "snsapi_userinfo"))
    assert result.user == WeChatUser(
        openid=zhang.openid,
        scope="snsapi_userinfo",
        unionid=zhang.unionid,
        nickname=zhang.nickname,
        headimgurl=zhang.headimgurl,
    )


def test_login_keeps_the_users_token_only_when_the_app_asks(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    wechat = make_wechat()
    wechat.oauth.login(fake_wechat.issue_code(zhang.openid, "snsapi_userinfo"))
    assert stored(wechat, zhang.openid) is None
    with pytest.raises(RefreshTokenExpiredError):
        wechat.oauth.refresh_access_token(zhang.openid)
    keeping(wechat).login(fake_wechat.issue_code(zhang.openid, "snsapi_userinfo"))
    entry = stored(wechat, zhang.openid)
    assert entry is not None and entry["scope"] == "snsapi_userinfo"


def test_login_survives_userinfo_48001_with_the_base_user(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    # docs/wechat-protocol.md section 6: 48001 is a scope/account-type problem, not a reason to
    # refuse the proven openid.
    fake_wechat.inject(USERINFO, Fault("errcode", 48001, errmsg="api unauthorized"))
    result = make_wechat().oauth.login(fake_wechat.issue_code(zhang.openid, "snsapi_userinfo"))
    assert result.user == WeChatUser(zhang.openid, "snsapi_userinfo", unionid=zhang.unionid)


def test_login_survives_userinfo_being_unreachable(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.inject(USERINFO, Fault("status", 502, times=None))
    result = make_wechat().oauth.login(fake_wechat.issue_code(scope="snsapi_userinfo"))
    assert result.user is not None and result.user.openid == fake_wechat.default_openid
    assert result.user.nickname is None


def test_login_logs_no_tokens_or_codes_when_userinfo_fails(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    wechat = make_wechat()
    code = fake_wechat.issue_code(scope="snsapi_userinfo")
    fake_wechat.inject(USERINFO, Fault("errcode", 48001))
    with caplog.at_level(logging.DEBUG, logger="wechat_middleware"):
        keeping(wechat).login(code)
    entry = stored(wechat, fake_wechat.default_openid)
    assert entry is not None
    assert "userinfo failed" in caplog.text
    for secret in (code, entry["access_token"], entry["refresh_token"], fake_wechat.app_secret):
        assert secret not in caplog.text


def test_login_with_a_used_code_is_invalid_code(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    # docs/wechat-protocol.md section 6: 40163 -> fail the login (a reloaded callback page), never
    # loop.
    oauth = make_wechat().oauth
    code = fake_wechat.issue_code()
    oauth.login(code)
    with pytest.raises(InvalidCodeError):
        oauth.login(code)


def test_snapshot_login_logs_nobody_in_and_stores_nothing(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    # docs/wechat-protocol.md section 5.7: a snapshot visitor gets is_snapshotuser=1 and a virtual
    # openid: do not log in.
    wechat = make_wechat()
    # The fake gives a user one virtual openid; learn it without our OAuth storing anything.
    probe = wechat.client.oauth_access_token(
        fake_wechat.issue_code(scope="snsapi_userinfo", snapshot=True)
    )
    virtual = probe["openid"]
    result = wechat.oauth.login(fake_wechat.issue_code(scope="snsapi_userinfo", snapshot=True))
    assert result.user is None
    assert result.snapshot
    assert stored(wechat, virtual) is None
    assert stored(wechat, fake_wechat.default_openid) is None
    assert fake_wechat.calls(USERINFO) == 0


def test_unicode_nickname_survives_the_session_round_trip(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, zhang: FakeUser
) -> None:
    # WeChat sends raw UTF-8 (CJK, emoji) in nickname.
    user = make_wechat().oauth.login(fake_wechat.issue_code(zhang.openid, "snsapi_userinfo")).user
    assert user is not None
    cookie_payload = json.dumps(user.to_dict())
    assert WeChatUser.from_dict(json.loads(cookie_payload)) == user
    assert user.nickname == "张三 🐼"


# --------------------------------------------------------------------------- WeChatUser


def test_to_dict_omits_unset_fields() -> None:
    assert WeChatUser("oABC").to_dict() == {"openid": "oABC", "scope": "snsapi_base"}


def test_from_dict_without_scope_means_snsapi_base() -> None:
    assert WeChatUser.from_dict({"openid": "oABC"}) == WeChatUser("oABC", "snsapi_base")


def test_from_dict_ignores_unknown_keys_from_other_versions() -> None:
    assert WeChatUser.from_dict({"openid": "oABC", "sex": 1}) == WeChatUser("oABC")


def test_from_dict_accepts_an_openid_of_128_characters() -> None:
    # Real openids are 28 characters; 128 leaves room for other shapes, not for garbage.
    assert WeChatUser.from_dict({"openid": "o" * 128}) == WeChatUser("o" * 128)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "oABC",
        42,
        {},
        {"openid": None},
        {"openid": 1},
        {"openid": ""},
        {"openid": "o" * 129},
        {"openid": "x" * 1000},
        {"openid": "o ABC"},
        {"openid": "o<script>"},
        {"openid": ["oABC"]},
        {"openid": "oABC", "scope": "snsapi_login"},
        {"openid": "oABC", "scope": None},
        {"openid": "oABC", "unionid": 5},
        {"openid": "oABC", "unionid": ""},
        {"openid": "oABC", "nickname": 7},
        {"openid": "oABC", "nickname": ""},
        {"openid": "oABC", "nickname": "n" * 257},
        {"openid": "oABC", "headimgurl": "javascript:alert(1)"},
        {"openid": "oABC", "headimgurl": {"u": 1}},
    ],
)
def test_from_dict_returns_none_for_garbage(data: Any) -> None:
    assert WeChatUser.from_dict(data) is None


# --------------------------------------------------------------------------- wiring


def test_oauth_rejects_an_unknown_scope(make_wechat: MakeWeChat) -> None:
    wechat = make_wechat()
    with pytest.raises(ValueError, match="scope"):
        OAuth(wechat.client, wechat.store, scope="snsapi_login")


def test_wechat_oauth_uses_the_configured_scope(make_wechat: MakeWeChat) -> None:
    oauth = make_wechat(scope="snsapi_userinfo").oauth
    assert oauth.scope == "snsapi_userinfo"
    assert query_of(oauth.generate_oauth_url_by_scope(CALLBACK))["scope"] == ["snsapi_userinfo"]


def test_the_middlewares_login_of_an_official_account_is_its_oauth(
    make_wechat: MakeWeChat,
) -> None:
    wechat = make_wechat()
    assert wechat.login is wechat.oauth
    assert isinstance(wechat.oauth, OAuth)
