"""WeChatClient over real sockets against FakeWeChat: each endpoint and its failures.

WeChat facts (docs/wechat-protocol.md sections 2-6): errors come back as HTTP 200 with ``errcode !=
0``;
an OAuth ``code`` is single use, so its exchange is never retried; only transient
failures (network, 5xx, malformed JSON, -1 busy) are retried; quota errors never.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from wechat_middleware import (
    AppConfigError,
    InvalidCodeError,
    QuotaExceededError,
    ScopeError,
    SystemBusyError,
    WeChatAPIError,
    WeChatUnavailableError,
)
from wechat_middleware.client import WeChatClient
from wechat_middleware.redaction import redact
from wechat_middleware.testing import FakeUser, FakeWeChat, Fault
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA


@pytest.fixture
def client(fake_wechat: FakeWeChat) -> Iterator[WeChatClient]:
    client = WeChatClient(
        fake_wechat.app_id,
        fake_wechat.app_secret,
        api_base=fake_wechat.api_base,
        open_base=fake_wechat.open_base,
        timeout=2.0,
        backoff=0.01,
    )
    yield client
    client.close()


def test_classic_token(client: WeChatClient, fake_wechat: FakeWeChat) -> None:
    answer = client.get_access_token()
    assert answer["access_token"] in fake_wechat.valid_access_tokens()
    assert answer["expires_in"] == 7200


def test_stable_token_is_a_json_post(client: WeChatClient, fake_wechat: FakeWeChat) -> None:
    first = client.get_stable_access_token()
    assert client.get_stable_access_token()["access_token"] == first["access_token"]
    assert fake_wechat.calls("cgi-bin/stable_token") == 2


def test_stable_token_force_refresh_issues_a_new_token(
    client: WeChatClient, fake_wechat: FakeWeChat
) -> None:
    first = client.get_stable_access_token()["access_token"]
    fake_wechat.advance(31)
    second = client.get_stable_access_token(force_refresh=True)["access_token"]
    assert second != first
    assert first not in fake_wechat.valid_access_tokens()


def test_jsapi_ticket(client: WeChatClient, fake_wechat: FakeWeChat) -> None:
    token = client.get_stable_access_token()["access_token"]
    answer = client.get_jsapi_ticket(token)
    assert answer["ticket"] == fake_wechat.current_jsapi_ticket()


def test_authorize_url_has_wechats_parameters_in_order_and_the_fragment(
    client: WeChatClient,
) -> None:
    url = client.authorize_url("https://example.com/cb?x=1&y=2", "snsapi_userinfo", "abc123")
    assert url.endswith("#wechat_redirect")
    parts = urlsplit(url)
    assert parts.path == "/connect/oauth2/authorize"
    assert [k for k, _ in parse_qsl(parts.query)] == [
        "appid",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
    ]
    assert dict(parse_qsl(parts.query))["redirect_uri"] == "https://example.com/cb?x=1&y=2"
    assert "redirect_uri=https%3A%2F%2Fexample.com%2Fcb%3Fx%3D1%26y%3D2" in url


def test_authorize_page_redirects_back_with_a_code_the_client_can_exchange(
    client: WeChatClient, fake_wechat: FakeWeChat
) -> None:
    url = client.authorize_url("http://127.0.0.1:9/cb", "snsapi_base", "s1")
    headers = {"User-Agent": ANDROID_WECHAT_UA}  # the page gives codes to WeChat's browser
    response = requests.get(url.split("#")[0], headers=headers, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    query = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
    assert query["state"] == "s1"
    answer = client.oauth_access_token(query["code"])
    assert answer["openid"] == fake_wechat.default_openid


def test_userinfo_round_trips_unicode(client: WeChatClient, fake_wechat: FakeWeChat) -> None:
    fake_wechat.add_user(FakeUser(openid="o-chinese-user", nickname="微信用户"))
    code = fake_wechat.issue_code("o-chinese-user", scope="snsapi_userinfo")
    token = client.oauth_access_token(code)
    info = client.userinfo(token["access_token"], token["openid"])
    assert info["nickname"] == "微信用户"


def test_userinfo_needs_the_userinfo_scope(client: WeChatClient, fake_wechat: FakeWeChat) -> None:
    token = client.oauth_access_token(fake_wechat.issue_code(scope="snsapi_base"))
    with pytest.raises(ScopeError):
        client.userinfo(token["access_token"], token["openid"])


def test_userinfo_rejects_an_unknown_language(client: WeChatClient) -> None:
    with pytest.raises(ValueError):
        client.userinfo("t", "o", lang="fr")


def test_refresh_token_gives_a_new_oauth_token(
    client: WeChatClient, fake_wechat: FakeWeChat
) -> None:
    token = client.oauth_access_token(fake_wechat.issue_code())
    fresh = client.oauth_refresh_token(token["refresh_token"])
    assert fresh["openid"] == token["openid"]
    assert fresh["access_token"] != token["access_token"]


def test_oauth_token_valid(client: WeChatClient, fake_wechat: FakeWeChat) -> None:
    token = client.oauth_access_token(fake_wechat.issue_code())
    assert client.oauth_token_valid(token["access_token"], token["openid"])
    assert not client.oauth_token_valid(token["access_token"], "o-someone-else")
    fake_wechat.advance(7201)
    assert not client.oauth_token_valid(token["access_token"], token["openid"])


def test_used_code_raises_invalid_code_and_is_not_retried(
    client: WeChatClient, fake_wechat: FakeWeChat
) -> None:
    code = fake_wechat.issue_code()
    client.oauth_access_token(code)
    with pytest.raises(InvalidCodeError) as caught:
        client.oauth_access_token(code)
    assert caught.value.errcode == 40163
    assert fake_wechat.calls("sns/oauth2/access_token") == 2


def test_code_exchange_is_not_retried_even_on_a_transient_failure(
    client: WeChatClient, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.inject("sns/oauth2/access_token", Fault("status", 502))
    with pytest.raises(WeChatUnavailableError):
        client.oauth_access_token(fake_wechat.issue_code())
    assert fake_wechat.calls("sns/oauth2/access_token") == 1


@pytest.mark.parametrize(
    ("errcode", "error"),
    [
        (40164, AppConfigError),
        (40125, AppConfigError),
        (45009, QuotaExceededError),
        (45011, QuotaExceededError),
        (99999, WeChatAPIError),
    ],
)
def test_errcodes_become_typed_errors_without_retry(
    client: WeChatClient, fake_wechat: FakeWeChat, errcode: int, error: type[Exception]
) -> None:
    fake_wechat.inject("cgi-bin/token", Fault("errcode", errcode, errmsg="from wechat"))
    with pytest.raises(error) as caught:
        client.get_access_token()
    assert isinstance(caught.value, WeChatAPIError)
    assert caught.value.errcode == errcode
    assert "from wechat" in caught.value.errmsg
    assert fake_wechat.calls("cgi-bin/token") == 1


def test_wrong_secret_is_reported_as_an_app_config_error(fake_wechat: FakeWeChat) -> None:
    client = WeChatClient(fake_wechat.app_id, "wrong-secret", api_base=fake_wechat.api_base)
    with pytest.raises(AppConfigError) as caught:
        client.get_access_token()
    assert caught.value.errcode == 40125
    assert "wrong-secret" not in str(caught.value)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", 500),
        Fault("status", 503),
        Fault("malformed"),
        Fault("drop"),
        Fault("errcode", -1),
    ],
    ids=["500", "503", "malformed-json", "connection-drop", "system-busy"],
)
def test_transient_failure_is_retried_and_then_succeeds(
    client: WeChatClient, fake_wechat: FakeWeChat, fault: Fault
) -> None:
    fake_wechat.inject("cgi-bin/token", fault)
    assert client.get_access_token()["access_token"]
    assert fake_wechat.calls("cgi-bin/token") == 2


def test_retries_are_bounded(client: WeChatClient, fake_wechat: FakeWeChat) -> None:
    fake_wechat.inject("cgi-bin/token", Fault("errcode", -1, times=None))
    with pytest.raises(SystemBusyError):
        client.get_access_token()
    assert fake_wechat.calls("cgi-bin/token") == 1 + client.retries


def test_slow_wechat_times_out(fake_wechat: FakeWeChat) -> None:
    client = WeChatClient(
        fake_wechat.app_id,
        fake_wechat.app_secret,
        api_base=fake_wechat.api_base,
        timeout=0.2,
        retries=0,
    )
    fake_wechat.inject("cgi-bin/token", Fault("latency", 1.0))
    with pytest.raises(WeChatUnavailableError, match="cgi-bin/token"):
        client.get_access_token()


def test_unreachable_host_error_does_not_leak_the_secret() -> None:
    client = WeChatClient(
        "wx0123456789abcdef",
        "very-secret-value",
        api_base="http://127.0.0.1:9",
        retries=0,
        timeout=1.0,
    )
    with pytest.raises(WeChatUnavailableError) as caught:
        client.get_access_token()
    assert "very-secret-value" not in str(caught.value)
    assert "very-secret-value" not in repr(client)


def test_redact_hides_secrets_tokens_and_codes() -> None:
    text = "GET /x?appid=wx1&secret=s3cr3t&code=c0de&access_token=t0k&ticket=t1ck&rejected=r3j"
    cleaned = redact(text)
    for secret in ("s3cr3t", "c0de", "t0k", "t1ck", "r3j"):  # rejected=: a hub follower's
        assert secret not in cleaned
    assert "appid=wx1" in cleaned
