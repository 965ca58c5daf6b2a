"""FakeWeChat keeps WeChat's rules, checked over real sockets with real ``requests``.

Every other integration test trusts this fake; these tests are what earns that trust.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from wechat_middleware.testing import FakeUser, FakeWeChat, Fault
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA

from .support.tickets import sign

TOKEN = "cgi-bin/token"
STABLE = "cgi-bin/stable_token"
TICKET = "cgi-bin/ticket/getticket"
AUTHORIZE = "connect/oauth2/authorize"
OAUTH_TOKEN = "sns/oauth2/access_token"
OAUTH_REFRESH = "sns/oauth2/refresh_token"
USERINFO = "sns/userinfo"
AUTH = "sns/auth"
FOLLOWER_INFO = "cgi-bin/user/info"


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    """A fresh fake per test: state never leaks between behaviours."""
    with FakeWeChat() as server:
        yield server


# --------------------------------------------------------------------------- helpers


def get(fake: FakeWeChat, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{fake.base_url}/{path}", params=params, timeout=5)


def get_json(fake: FakeWeChat, path: str, **params: Any) -> dict[str, Any]:
    response = get(fake, path, **params)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def classic_token(fake: FakeWeChat, **overrides: str) -> dict[str, Any]:
    params = {"grant_type": "client_credential", "appid": fake.app_id, "secret": fake.app_secret}
    params.update(overrides)
    return get_json(fake, TOKEN, **params)


def stable_token(fake: FakeWeChat, force_refresh: bool = False, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "grant_type": "client_credential",
        "appid": fake.app_id,
        "secret": fake.app_secret,
        "force_refresh": force_refresh,
    }
    body.update(overrides)
    response = requests.post(f"{fake.base_url}/{STABLE}", json=body, timeout=5)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def ticket(fake: FakeWeChat, access_token: str, kind: str = "jsapi") -> dict[str, Any]:
    return get_json(fake, TICKET, access_token=access_token, type=kind)


def authorize(
    fake: FakeWeChat, headers: dict[str, str] | None = None, **overrides: str
) -> requests.Response:
    params = {
        "appid": fake.app_id,
        "redirect_uri": "https://app.example.com/wechat/oauth-callback",
        "response_type": "code",
        "scope": "snsapi_base",
        "state": "abc123",
    }
    params.update(overrides)
    return requests.get(
        f"{fake.base_url}/{AUTHORIZE}",
        params=params,
        headers={"User-Agent": ANDROID_WECHAT_UA, **(headers or {})},  # WeChat's browser
        allow_redirects=False,
        timeout=5,
    )


def redirect_query(response: requests.Response) -> dict[str, list[str]]:
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["Location"]).query)


def exchange(fake: FakeWeChat, code: str, **overrides: str) -> dict[str, Any]:
    params = {
        "appid": fake.app_id,
        "secret": fake.app_secret,
        "code": code,
        "grant_type": "authorization_code",
    }
    params.update(overrides)
    return get_json(fake, OAUTH_TOKEN, **params)


def refresh(fake: FakeWeChat, token: str, **overrides: str) -> dict[str, Any]:
    params = {"appid": fake.app_id, "grant_type": "refresh_token", "refresh_token": token}
    params.update(overrides)
    return get_json(fake, OAUTH_REFRESH, **params)


def userinfo(fake: FakeWeChat, access_token: str, openid: str, lang: str = "zh_CN") -> Any:
    return get_json(fake, USERINFO, access_token=access_token, openid=openid, lang=lang)


def errcode(body: dict[str, Any]) -> int:
    code: int = body.get("errcode", 0)
    return code


# --------------------------------------------------------------------------- lifecycle


def test_base_url_before_start_raises() -> None:
    with pytest.raises(RuntimeError):
        _ = FakeWeChat().base_url


def raw_exchange(fake: FakeWeChat, request: bytes) -> bytes:
    """Send ``request`` as is and read until the fake closes the connection."""
    with socket.create_connection((fake.host, fake.port), timeout=5) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


def test_a_chunked_body_is_refused_with_411_and_never_reaches_an_endpoint(
    fake: FakeWeChat,
) -> None:
    answer = raw_exchange(
        fake,
        b"POST /cgi-bin/stable_token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 411 ")
    assert b"\r\nConnection: close\r\n" in answer
    assert fake.calls(STABLE) == 0


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1_0", b"+1"])
def test_a_malformed_content_length_is_refused_with_400(fake: FakeWeChat, length: bytes) -> None:
    answer = raw_exchange(
        fake,
        b"POST /cgi-bin/stable_token HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + length
        + b"\r\n\r\n{}",
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert fake.calls(STABLE) == 0


def test_a_body_over_the_limit_is_refused_with_413_unread(fake: FakeWeChat) -> None:
    answer = raw_exchange(
        fake, b"POST /cgi-bin/stable_token HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert fake.calls(STABLE) == 0


@pytest.mark.parametrize("name", ["jssdk_stand_in.js", "wechat_bridge.js"])
def test_the_scripts_ship_inside_the_package(name: str) -> None:
    """Loaded with importlib.resources: a wheel must carry the .js files."""
    from importlib import resources

    script = resources.files("wechat_middleware.testing").joinpath(name)
    assert "use strict" in script.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- wire format


def test_errors_are_http_200_json_with_wechat_content_type(fake: FakeWeChat) -> None:
    response = get(fake, TOKEN, grant_type="client_credential", appid="wrong", secret="x")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; encoding=utf-8"
    assert response.json()["errcode"] == 40013
    assert response.json()["errmsg"].startswith("invalid appid rid: ")


def test_unknown_path_answers_404_invalid_url(fake: FakeWeChat) -> None:
    response = get(fake, "cgi-bin/nope")
    assert response.status_code == 404
    assert response.json()["errcode"] == 40066


def test_post_to_get_endpoint_answers_require_get(fake: FakeWeChat) -> None:
    response = requests.post(f"{fake.base_url}/{TOKEN}", timeout=5)
    assert response.json()["errcode"] == 43001


# --------------------------------------------------------------------------- classic token


def test_classic_token_returns_long_token_and_ttl(fake: FakeWeChat) -> None:
    body = classic_token(fake)
    assert len(body["access_token"]) >= 140
    assert body["expires_in"] == 7200
    assert "errcode" not in body
    assert body["access_token"] in fake.valid_access_tokens()


def test_classic_token_call_invalidates_previous_token_after_overlap(fake: FakeWeChat) -> None:
    old = classic_token(fake)["access_token"]
    new = classic_token(fake)["access_token"]
    fake.advance(299)
    assert errcode(ticket(fake, old)) == 0
    fake.advance(2)
    assert errcode(ticket(fake, old)) == 40001
    assert errcode(ticket(fake, new)) == 0


def test_classic_token_expires_after_ttl(fake: FakeWeChat) -> None:
    token = classic_token(fake)["access_token"]
    fake.advance(7200)
    assert errcode(ticket(fake, token)) == 42001


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"grant_type": "password"}, 40002),
        ({"appid": "wx_not_ours"}, 40013),
        ({"secret": "wrong"}, 40125),
        ({"appid": ""}, 41002),
        ({"secret": ""}, 41004),
    ],
)
def test_classic_token_validates_parameters(
    fake: FakeWeChat, overrides: dict[str, str], expected: int
) -> None:
    assert errcode(classic_token(fake, **overrides)) == expected
    assert fake.valid_access_tokens() == set()


# --------------------------------------------------------------------------- stable token


def test_stable_token_returns_current_token_with_remaining_lifetime(fake: FakeWeChat) -> None:
    first = stable_token(fake)
    fake.advance(1000)
    second = stable_token(fake)
    assert second["access_token"] == first["access_token"]
    assert first["expires_in"] == 7200
    assert second["expires_in"] == 6200


def test_stable_token_renews_in_last_300_seconds_and_old_stays_valid(fake: FakeWeChat) -> None:
    old = stable_token(fake)["access_token"]
    fake.advance(7200 - 299)
    new = stable_token(fake)
    assert new["access_token"] != old
    assert new["expires_in"] == 7200
    assert errcode(ticket(fake, old)) == 0
    fake.advance(300)
    assert errcode(ticket(fake, old)) == 42001


def test_stable_token_renews_after_expiry(fake: FakeWeChat) -> None:
    old = stable_token(fake)["access_token"]
    fake.advance(7201)
    assert stable_token(fake)["access_token"] != old


def test_stable_force_refresh_invalidates_previous_token_at_once(fake: FakeWeChat) -> None:
    old = stable_token(fake)["access_token"]
    new = stable_token(fake, force_refresh=True)["access_token"]
    assert new != old
    assert errcode(ticket(fake, old)) == 40001
    assert errcode(ticket(fake, new)) == 0


def test_stable_force_refresh_within_30_seconds_returns_current_token(fake: FakeWeChat) -> None:
    stable_token(fake)
    forced = stable_token(fake, force_refresh=True)["access_token"]
    fake.advance(10)
    assert stable_token(fake, force_refresh=True)["access_token"] == forced
    fake.advance(21)
    assert stable_token(fake, force_refresh=True)["access_token"] != forced


def test_stable_and_classic_tokens_do_not_invalidate_each_other(fake: FakeWeChat) -> None:
    stable = stable_token(fake)["access_token"]
    classic = classic_token(fake)["access_token"]
    classic_token(fake)  # retires `classic` after the overlap, and leaves `stable` alone
    fake.advance(301)
    assert errcode(ticket(fake, stable)) == 0
    assert errcode(ticket(fake, classic)) == 40001
    latest_classic = classic_token(fake)["access_token"]
    stable_token(fake, force_refresh=True)  # kills `stable`, and leaves classic tokens alone
    assert errcode(ticket(fake, stable)) == 40001
    assert errcode(ticket(fake, latest_classic)) == 0


def test_stable_token_rejects_get(fake: FakeWeChat) -> None:
    params = {"grant_type": "client_credential", "appid": fake.app_id, "secret": fake.app_secret}
    assert errcode(get_json(fake, STABLE, **params)) == 43002


def test_stable_token_rejects_form_body(fake: FakeWeChat) -> None:
    form = {"grant_type": "client_credential", "appid": fake.app_id, "secret": fake.app_secret}
    response = requests.post(f"{fake.base_url}/{STABLE}", data=form, timeout=5)
    assert response.json()["errcode"] == 47001


def test_stable_token_rejects_non_boolean_force_refresh(fake: FakeWeChat) -> None:
    assert errcode(stable_token(fake, force_refresh="yes")) == 47001  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"grant_type": "authorization_code"}, 40002),
        ({"appid": "wx_not_ours"}, 40013),
        ({"secret": "wrong"}, 40125),
        ({"appid": ""}, 41002),
    ],
)
def test_stable_token_validates_credentials(
    fake: FakeWeChat, overrides: dict[str, Any], expected: int
) -> None:
    assert errcode(stable_token(fake, **overrides)) == expected


# --------------------------------------------------------------------------- ticket


def test_ticket_success_has_errcode_zero_and_ttl(fake: FakeWeChat) -> None:
    body = ticket(fake, classic_token(fake)["access_token"])
    assert body["errcode"] == 0
    assert body["errmsg"] == "ok"
    assert body["expires_in"] == 7200
    assert body["ticket"] == fake.current_jsapi_ticket()


def test_ticket_is_cached_with_remaining_lifetime(fake: FakeWeChat) -> None:
    token = classic_token(fake)["access_token"]
    first = ticket(fake, token)
    fake.advance(600)
    second = ticket(fake, stable_token(fake)["access_token"])  # any valid token, same ticket
    assert second["ticket"] == first["ticket"]
    assert second["expires_in"] == 6600


def test_ticket_is_reissued_after_expiry(fake: FakeWeChat) -> None:
    first = ticket(fake, stable_token(fake)["access_token"])["ticket"]
    fake.advance(7200)
    assert fake.current_jsapi_ticket() is None
    second = ticket(fake, stable_token(fake)["access_token"])
    assert second["ticket"] != first
    assert second["expires_in"] == 7200


def test_wx_card_ticket_is_separate_from_jsapi(fake: FakeWeChat) -> None:
    token = classic_token(fake)["access_token"]
    assert ticket(fake, token, "wx_card")["ticket"] != ticket(fake, token)["ticket"]


def test_ticket_without_token_is_41001(fake: FakeWeChat) -> None:
    assert errcode(get_json(fake, TICKET, type="jsapi")) == 41001


def test_ticket_with_unknown_token_is_40001(fake: FakeWeChat) -> None:
    assert errcode(ticket(fake, "not-a-token")) == 40001


def test_ticket_with_invalidated_token_is_40001(fake: FakeWeChat) -> None:
    token = classic_token(fake)["access_token"]
    fake.invalidate_access_tokens()
    assert errcode(ticket(fake, token)) == 40001
    assert fake.valid_access_tokens() == set()


def test_ticket_with_expired_token_is_42001(fake: FakeWeChat) -> None:
    token = stable_token(fake)["access_token"]
    fake.expire_access_tokens()
    assert errcode(ticket(fake, token)) == 42001


def test_ticket_with_unknown_type_is_40097(fake: FakeWeChat) -> None:
    assert errcode(ticket(fake, classic_token(fake)["access_token"], "agent_config")) == 40097


# --------------------------------------------------------------------------- signatures


def test_check_jsapi_signature_accepts_correct_signature(fake: FakeWeChat) -> None:
    value = ticket(fake, classic_token(fake)["access_token"])["ticket"]
    url = "https://app.example.com/page?a=1"
    signature = sign(value, "nonce", "1414587457", url)
    assert fake.check_jsapi_signature(url, "nonce", 1414587457, signature)
    assert not fake.check_jsapi_signature(url, "other-nonce", 1414587457, signature)


def test_check_jsapi_signature_ignores_the_fragment_like_the_client(fake: FakeWeChat) -> None:
    value = ticket(fake, classic_token(fake)["access_token"])["ticket"]
    url = "https://app.example.com/page"
    assert fake.check_jsapi_signature(url + "#top", "n", "1", sign(value, "n", "1", url))
    assert not fake.check_jsapi_signature(
        url + "#top", "n", "1", sign(value, "n", "1", url + "#top")
    )


def test_previous_ticket_still_verifies_during_overlap_only(fake: FakeWeChat) -> None:
    old = ticket(fake, classic_token(fake)["access_token"])["ticket"]
    url = "https://app.example.com/"
    signature = sign(old, "n", "1", url)
    fake.advance(7200)
    ticket(fake, classic_token(fake)["access_token"])  # the next ticket
    assert fake.check_jsapi_signature(url, "n", "1", signature)
    fake.advance(300)
    assert not fake.check_jsapi_signature(url, "n", "1", signature)


def test_revoke_jsapi_tickets_stops_current_and_previous_verifying_at_once(
    fake: FakeWeChat,
) -> None:
    token = classic_token(fake)["access_token"]
    previous = ticket(fake, token)["ticket"]
    fake.rotate_jsapi_ticket()
    current = ticket(fake, token)["ticket"]
    url = "https://app.example.com/"
    signed = [sign(value, "n", "1", url) for value in (previous, current)]
    assert all(fake.check_jsapi_signature(url, "n", "1", s) for s in signed)  # the overlap

    fake.revoke_jsapi_tickets()

    assert not any(fake.check_jsapi_signature(url, "n", "1", s) for s in signed)
    assert fake.current_jsapi_ticket() is None


def test_after_revoke_jsapi_tickets_getticket_issues_a_new_ticket_that_verifies(
    fake: FakeWeChat,
) -> None:
    token = classic_token(fake)["access_token"]
    revoked = ticket(fake, token)["ticket"]
    card = ticket(fake, token, "wx_card")["ticket"]

    fake.revoke_jsapi_tickets()
    fresh = ticket(fake, token)

    url = "https://app.example.com/"
    assert fresh["ticket"] != revoked and fresh["expires_in"] == 7200
    assert fake.check_jsapi_signature(url, "n", "1", sign(fresh["ticket"], "n", "1", url))
    assert ticket(fake, token, "wx_card")["ticket"] == card  # only jsapi tickets are revoked


# --------------------------------------------------------------------------- authorize page


def test_authorize_redirects_with_code_and_state_keeping_existing_query(fake: FakeWeChat) -> None:
    response = authorize(fake, redirect_uri="https://app.example.com/cb?next=%2Fhome")
    location = response.headers["Location"]
    assert location.startswith("https://app.example.com/cb?next=%2Fhome&code=")
    query = redirect_query(response)
    assert query["state"] == ["abc123"]
    assert query["next"] == ["/home"]
    assert exchange(fake, query["code"][0])["openid"] == fake.default_openid


def test_authorize_omits_empty_state(fake: FakeWeChat) -> None:
    query = redirect_query(authorize(fake, state=""))
    assert "state" not in query
    assert "code" in query


def test_authorize_logs_in_header_openid_and_creates_unknown_user(fake: FakeWeChat) -> None:
    response = authorize(
        fake, headers={"X-Fake-WeChat-Openid": "oNewUser"}, scope="snsapi_userinfo"
    )
    body = exchange(fake, redirect_query(response)["code"][0])
    assert body["openid"] == "oNewUser"
    assert userinfo(fake, body["access_token"], "oNewUser")["nickname"] == "WeChat User"


def test_authorize_consent_denied_redirects_with_state_only(fake: FakeWeChat) -> None:
    response = authorize(fake, headers={"X-Fake-WeChat-Consent": "deny"}, scope="snsapi_userinfo")
    assert redirect_query(response) == {"state": ["abc123"]}


def test_authorize_consent_header_is_ignored_for_silent_base_scope(fake: FakeWeChat) -> None:
    response = authorize(fake, headers={"X-Fake-WeChat-Consent": "deny"}, scope="snsapi_base")
    assert "code" in redirect_query(response)


def test_authorize_snapshot_header_issues_snapshot_code(fake: FakeWeChat) -> None:
    response = authorize(fake, headers={"X-Fake-WeChat-Snapshot": "1"}, scope="snsapi_userinfo")
    body = exchange(fake, redirect_query(response)["code"][0])
    assert body["is_snapshotuser"] == 1
    assert body["openid"] != fake.default_openid


def test_authorize_accepts_force_popup(fake: FakeWeChat) -> None:
    assert "code" in redirect_query(authorize(fake, forcePopup="true"))


def test_authorize_outside_wechats_browser_only_says_to_open_it_in_wechat(
    fake: FakeWeChat,
) -> None:
    # WeChat's authorize page in another browser: "请在微信客户端打开链接", no redirect, no
    # code (docs/fake-beliefs.md, row of the authorize page outside WeChat).
    response = authorize(fake, {"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/124.0"})
    assert response.status_code == 200 and "请在微信客户端打开链接" in response.text
    assert "Location" not in response.headers


def test_authorize_with_its_parameters_out_of_order_is_refused(fake: FakeWeChat) -> None:
    # docs/corrections.md E: WeChat matches appid, redirect_uri, response_type, scope,
    # state in that order.
    params = [
        ("redirect_uri", "https://app.example.com/wechat/oauth-callback"),
        ("appid", fake.app_id),
        ("response_type", "code"),
        ("scope", "snsapi_base"),
        ("state", "abc123"),
    ]
    response = requests.get(
        f"{fake.base_url}/{AUTHORIZE}?{urlencode(params)}",
        headers={"User-Agent": ANDROID_WECHAT_UA},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 200 and "10003" in response.text


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://staging.example.com/wechat/oauth-callback",
        "https://example.com/wechat/oauth-callback",  # the parent domain is another host
        "https://sub.auth.example.test/wechat/oauth-callback",  # so is a subdomain
        "https://auth.example.test.evil.test/cb",
    ],
)
def test_authorize_refuses_a_redirect_uri_off_the_oauth_domain(redirect_uri: str) -> None:
    # docs/fake-beliefs.md E11: WeChat matches the full host name of redirect_uri
    # against the dashboard's web-OAuth domain and shows 10003 otherwise.
    with FakeWeChat(oauth_domain="auth.example.test") as fake:
        response = authorize(fake, redirect_uri=redirect_uri)
    assert response.status_code == 200
    assert "10003" in response.text and "redirect_uri 参数错误" in response.text
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://auth.example.test/wechat/oauth-callback",
        "http://AUTH.example.test:8443/any/path?next=1",  # any port, any path, any case
    ],
)
def test_authorize_on_the_oauth_domain_redirects_back(redirect_uri: str) -> None:
    with FakeWeChat(oauth_domain="auth.example.test") as fake:
        assert redirect_query(authorize(fake, redirect_uri=redirect_uri))["code"]


def test_an_oauth_domain_with_a_port_matches_that_port_only() -> None:
    # The sandbox account registers "127.0.0.1:8080" (host and port).
    with FakeWeChat(oauth_domain="127.0.0.1:8080") as fake:
        assert redirect_query(authorize(fake, redirect_uri="http://127.0.0.1:8080/cb"))["code"]
        refused = authorize(fake, redirect_uri="http://127.0.0.1:9090/cb")
    assert "10003" in refused.text and "Location" not in refused.headers


def test_without_an_oauth_domain_every_host_is_accepted(fake: FakeWeChat) -> None:
    assert fake.oauth_domain is None
    assert redirect_query(authorize(fake, redirect_uri="https://anywhere.example/cb"))["code"]


def test_the_oauth_domain_can_be_set_on_a_running_fake(fake: FakeWeChat) -> None:
    fake.oauth_domain = "auth.example.test"
    assert "10003" in authorize(fake).text


def qr_login(fake: FakeWeChat, redirect_uri: str) -> requests.Response:
    params = {
        "appid": fake.web_app_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "snsapi_login",
        "state": "s1",
    }
    return requests.get(
        f"{fake.base_url}/connect/qrconnect",
        params=params,
        headers={"X-Fake-WeChat-Scan": "1"},
        allow_redirects=False,
        timeout=5,
    )


def test_the_qr_page_refuses_a_redirect_uri_off_the_website_apps_domain() -> None:
    # docs/fake-beliefs.md H8: the website app has its own callback domain.
    with FakeWeChat(web_oauth_domain="auth.example.test") as fake:
        refused = qr_login(fake, "https://staging.example.com/wechat/oauth-callback")
        accepted = qr_login(fake, "https://auth.example.test/wechat/oauth-callback")
        # The Official Account's domain is not the website app's: no check there.
        assert redirect_query(authorize(fake))["code"]
    assert refused.status_code == 200 and "Location" not in refused.headers
    assert "10003" in refused.text and "redirect_uri 参数错误" in refused.text
    assert redirect_query(accepted)["code"]


def test_a_qr_login_code_lives_ten_minutes_where_an_oauth_code_lives_five(
    fake: FakeWeChat,
) -> None:
    # docs/wecom-and-qrconnect.md section 2.2: a website app's code expires after 10
    # minutes; an Official Account's after 5 (docs/wechat-protocol.md section 5.2).
    params = {
        "appid": fake.web_app_id,
        "redirect_uri": "https://app.example.com/cb",
        "response_type": "code",
        "scope": "snsapi_login",
        "state": "s1",
    }
    scanned = requests.get(
        f"{fake.base_url}/connect/qrconnect",
        params=params,
        headers={"X-Fake-WeChat-Scan": "1"},
        allow_redirects=False,
        timeout=5,
    )
    qr_code = redirect_query(scanned)["code"][0]
    oauth_code = redirect_query(authorize(fake))["code"][0]
    fake.advance(400)

    web = {"appid": fake.web_app_id, "secret": fake.web_app_secret}
    assert exchange(fake, oauth_code)["errcode"] == 42003
    assert "access_token" in exchange(fake, qr_code, **web)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"appid": "wx_not_ours"}, "10003"),
        ({"appid": ""}, "10012"),
        ({"redirect_uri": ""}, "10011"),
        ({"redirect_uri": "/relative/callback"}, "10003"),
        ({"redirect_uri": "ftp://app.example.com/cb"}, "10003"),
        ({"scope": ""}, "10010"),
        ({"scope": "snsapi_login"}, "10005"),
        ({"response_type": "token"}, "response_type"),
        ({"state": "has-dash"}, "state"),
        ({"state": "a" * 129}, "state"),
    ],
)
def test_authorize_errors_render_an_html_page_with_status_200(
    fake: FakeWeChat, overrides: dict[str, Any], expected: str
) -> None:
    response = authorize(fake, **overrides)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert expected in response.text
    assert "Location" not in response.headers


def test_authorize_accepts_state_of_128_alphanumerics(fake: FakeWeChat) -> None:
    assert redirect_query(authorize(fake, state="a" * 128))["state"] == ["a" * 128]


# --------------------------------------------------------------------------- code exchange


def test_oauth_code_exchange_returns_token_fields(fake: FakeWeChat) -> None:
    body = exchange(fake, fake.issue_code(scope="snsapi_userinfo"))
    assert body["openid"] == fake.default_openid
    assert body["scope"] == "snsapi_userinfo"
    assert body["expires_in"] == 7200
    assert body["access_token"] and body["refresh_token"]
    assert "is_snapshotuser" not in body
    assert "unionid" not in body


def test_a_userinfo_exchange_carries_the_unionid_of_a_bound_user(fake: FakeWeChat) -> None:
    fake.add_user(FakeUser(openid="oWithUnion", unionid="oUnion123"))
    body = exchange(fake, fake.issue_code("oWithUnion", "snsapi_userinfo"))
    assert body["unionid"] == "oUnion123"


def test_a_base_exchange_never_carries_the_unionid(fake: FakeWeChat) -> None:
    """docs/wechat-protocol.md section 5.3: unionid only when the scope is snsapi_userinfo."""
    fake.add_user(FakeUser(openid="oWithUnion", unionid="oUnion123"))
    body = exchange(fake, fake.issue_code("oWithUnion", "snsapi_base"))
    assert "unionid" not in body
    assert "unionid" not in refresh(fake, body["refresh_token"])


def test_oauth_code_is_single_use(fake: FakeWeChat) -> None:
    code = fake.issue_code()
    assert errcode(exchange(fake, code)) == 0
    assert errcode(exchange(fake, code)) == 40163


def test_oauth_unknown_code_is_40029(fake: FakeWeChat) -> None:
    assert errcode(exchange(fake, "bogus")) == 40029


def test_oauth_missing_code_is_41008(fake: FakeWeChat) -> None:
    assert errcode(exchange(fake, "")) == 41008


def test_oauth_code_expires_after_code_ttl(fake: FakeWeChat) -> None:
    code = fake.issue_code()
    fake.advance(300)
    assert errcode(exchange(fake, code)) == 42003


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"grant_type": "client_credential"}, 40002),
        ({"appid": "wx_not_ours"}, 40013),
        ({"secret": "wrong"}, 40125),
        ({"secret": ""}, 41004),
    ],
)
def test_oauth_exchange_validates_app_parameters(
    fake: FakeWeChat, overrides: dict[str, str], expected: int
) -> None:
    code = fake.issue_code()
    assert errcode(exchange(fake, code, **overrides)) == expected
    assert errcode(exchange(fake, code)) == 0  # a rejected request does not burn the code


def test_snapshot_code_gives_virtual_openid_and_flag(fake: FakeWeChat) -> None:
    body = exchange(fake, fake.issue_code(scope="snsapi_userinfo", snapshot=True))
    assert body["is_snapshotuser"] == 1
    assert body["openid"] != fake.default_openid
    assert body["openid"].startswith("o") and len(body["openid"]) == 28


def test_issue_code_rejects_unknown_scope(fake: FakeWeChat) -> None:
    with pytest.raises(ValueError):
        fake.issue_code(scope="snsapi_login")


# --------------------------------------------------------------------------- refresh


def test_refresh_token_issues_new_access_token(fake: FakeWeChat) -> None:
    first = exchange(fake, fake.issue_code(scope="snsapi_userinfo"))
    renewed = refresh(fake, first["refresh_token"])
    assert renewed["access_token"] != first["access_token"]
    assert renewed["openid"] == first["openid"]
    assert renewed["scope"] == "snsapi_userinfo"
    assert renewed["refresh_token"] == first["refresh_token"]
    assert userinfo(fake, renewed["access_token"], first["openid"])["openid"] == first["openid"]


def test_refresh_token_unknown_is_40030(fake: FakeWeChat) -> None:
    assert errcode(refresh(fake, "bogus")) == 40030


def test_refresh_token_expires_after_30_days(fake: FakeWeChat) -> None:
    refresh_token = exchange(fake, fake.issue_code())["refresh_token"]
    fake.advance(30 * 86400)
    assert errcode(refresh(fake, refresh_token)) == 42002


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"grant_type": "authorization_code"}, 40002),
        ({"appid": "wx_not_ours"}, 40013),
        ({"refresh_token": ""}, 41003),
    ],
)
def test_refresh_token_validates_parameters(
    fake: FakeWeChat, overrides: dict[str, str], expected: int
) -> None:
    refresh_token = exchange(fake, fake.issue_code())["refresh_token"]
    assert errcode(refresh(fake, refresh_token, **overrides)) == expected


# --------------------------------------------------------------------------- userinfo


def test_userinfo_returns_profile_and_chinese_nickname_round_trips(fake: FakeWeChat) -> None:
    fake.add_user(FakeUser(openid="oZhang", nickname="张三", city="深圳", unionid="oU1", sex=1))
    body = exchange(fake, fake.issue_code("oZhang", "snsapi_userinfo"))
    response = get(fake, USERINFO, access_token=body["access_token"], openid="oZhang")
    assert "张三".encode() in response.content  # raw UTF-8, not \u escapes
    profile = response.json()
    assert profile == {
        "openid": "oZhang",
        "nickname": "张三",
        "sex": 1,
        "province": "",
        "city": "深圳",
        "country": "",
        "headimgurl": "https://thirdwx.qlogo.cn/mmopen/fake/132",
        "privilege": [],
        "unionid": "oU1",
    }


def test_userinfo_with_base_scope_is_48001(fake: FakeWeChat) -> None:
    body = exchange(fake, fake.issue_code(scope="snsapi_base"))
    assert errcode(userinfo(fake, body["access_token"], body["openid"])) == 48001


def test_userinfo_for_snapshot_user_is_48001(fake: FakeWeChat) -> None:
    body = exchange(fake, fake.issue_code(scope="snsapi_userinfo", snapshot=True))
    assert errcode(userinfo(fake, body["access_token"], body["openid"])) == 48001


# --------------------------------------------------------------------------- cgi-bin/user/info
# docs/wechat-protocol.md section 5.9: a follower's record, with the global token.


def follower_info(fake: FakeWeChat, openid: str, **overrides: str) -> dict[str, Any]:
    params = {"access_token": classic_token(fake)["access_token"], "openid": openid}
    params.update(overrides)
    return get_json(fake, FOLLOWER_INFO, **params)


def test_user_info_of_a_follower_carries_the_unionid(fake: FakeWeChat) -> None:
    fake.add_user(FakeUser(openid="oFollower", unionid="oUnion123", subscribe=1))
    body = follower_info(fake, "oFollower", lang="zh_CN")
    assert body["subscribe"] == 1 and body["openid"] == "oFollower"
    assert body["unionid"] == "oUnion123"
    assert set(body) == {
        "subscribe",
        "openid",
        "language",
        "subscribe_time",
        "unionid",
        "remark",
        "groupid",
        "tagid_list",
        "subscribe_scene",
        "qr_scene",
        "qr_scene_str",
    }
    assert "nickname" not in body  # no nickname or avatar since 2021-12-27


def test_user_info_of_a_follower_of_an_unbound_account_has_no_unionid(fake: FakeWeChat) -> None:
    fake.add_user(FakeUser(openid="oFollower", subscribe=1))
    assert "unionid" not in follower_info(fake, "oFollower")


def test_user_info_of_someone_who_does_not_follow_says_subscribe_0_and_nothing_else(
    fake: FakeWeChat,
) -> None:
    fake.add_user(FakeUser(openid="oVisitor", unionid="oUnion123"))
    assert follower_info(fake, "oVisitor") == {"subscribe": 0, "openid": "oVisitor"}


def test_user_info_refuses_an_openid_of_another_app(fake: FakeWeChat) -> None:
    web_openid = fake.web_openid(fake.default_openid)  # the website app's openid
    assert errcode(follower_info(fake, web_openid)) == 40003
    assert errcode(follower_info(fake, "")) == 41009


@pytest.mark.parametrize(("token", "expected"), [("", 41001), ("not-a-token", 40001)])
def test_user_info_needs_a_live_global_token(fake: FakeWeChat, token: str, expected: int) -> None:
    body = get_json(fake, FOLLOWER_INFO, access_token=token, openid=fake.default_openid)
    assert errcode(body) == expected


def test_userinfo_with_other_openid_is_40003(fake: FakeWeChat) -> None:
    body = exchange(fake, fake.issue_code(scope="snsapi_userinfo"))
    assert errcode(userinfo(fake, body["access_token"], "oSomeoneElse")) == 40003


def test_userinfo_with_expired_token_is_42001(fake: FakeWeChat) -> None:
    body = exchange(fake, fake.issue_code(scope="snsapi_userinfo"))
    fake.advance(7200)
    assert errcode(userinfo(fake, body["access_token"], body["openid"])) == 42001


def test_userinfo_rejects_a_global_token_with_40001(fake: FakeWeChat) -> None:
    global_token = classic_token(fake)["access_token"]
    assert errcode(userinfo(fake, global_token, fake.default_openid)) == 40001


def test_userinfo_rejects_unknown_lang_with_40097(fake: FakeWeChat) -> None:
    body = exchange(fake, fake.issue_code(scope="snsapi_userinfo"))
    assert errcode(userinfo(fake, body["access_token"], body["openid"], lang="fr")) == 40097
    assert errcode(userinfo(fake, body["access_token"], body["openid"], lang="en")) == 0


def test_userinfo_without_openid_is_41009(fake: FakeWeChat) -> None:
    body = exchange(fake, fake.issue_code(scope="snsapi_userinfo"))
    assert errcode(get_json(fake, USERINFO, access_token=body["access_token"])) == 41009


# --------------------------------------------------------------------------- sns/auth


def test_sns_auth_is_ok_for_valid_token(fake: FakeWeChat) -> None:
    body = exchange(fake, fake.issue_code())
    assert get_json(fake, AUTH, access_token=body["access_token"], openid=body["openid"]) == {
        "errcode": 0,
        "errmsg": "ok",
    }


def test_sns_auth_with_wrong_openid_is_40003(fake: FakeWeChat) -> None:
    body = exchange(fake, fake.issue_code())
    assert errcode(get_json(fake, AUTH, access_token=body["access_token"], openid="oX")) == 40003


def test_sns_auth_with_expired_token_is_42001(fake: FakeWeChat) -> None:
    body = exchange(fake, fake.issue_code())
    fake.advance(7200)
    reply = get_json(fake, AUTH, access_token=body["access_token"], openid=body["openid"])
    assert errcode(reply) == 42001


def test_sns_auth_with_unknown_token_is_40001(fake: FakeWeChat) -> None:
    assert errcode(get_json(fake, AUTH, access_token="bogus", openid=fake.default_openid)) == 40001


# --------------------------------------------------------------------------- faults


def test_latency_fault_delays_then_answers_normally(fake: FakeWeChat) -> None:
    fake.inject(TOKEN, Fault("latency", 0.3))
    started = time.monotonic()
    body = classic_token(fake)
    assert time.monotonic() - started >= 0.3
    assert "access_token" in body


def test_latency_fault_does_not_block_other_requests(fake: FakeWeChat) -> None:
    fake.inject(TICKET, Fault("latency", 0.5))
    slow = threading.Thread(target=get, args=(fake, TICKET))
    slow.start()
    time.sleep(0.05)
    started = time.monotonic()
    classic_token(fake)
    assert time.monotonic() - started < 0.3
    slow.join()


def test_status_fault_answers_that_http_status(fake: FakeWeChat) -> None:
    fake.inject(TOKEN, Fault("status", 502))
    response = get(fake, TOKEN)
    assert response.status_code == 502
    assert response.text


def test_errcode_fault_answers_that_errcode(fake: FakeWeChat) -> None:
    fake.inject(TOKEN, Fault("errcode", -1, errmsg="system busy"))
    assert classic_token(fake) == {"errcode": -1, "errmsg": "system busy"}


def test_malformed_fault_answers_truncated_json(fake: FakeWeChat) -> None:
    fake.inject(TOKEN, Fault("malformed"))
    response = get(fake, TOKEN)
    assert response.text == '{"access_tok'
    with pytest.raises(ValueError):
        response.json()


def test_drop_fault_closes_connection_without_response(fake: FakeWeChat) -> None:
    fake.inject(TOKEN, Fault("drop"))
    with pytest.raises(requests.ConnectionError):
        get(fake, TOKEN)
    assert "access_token" in classic_token(fake)  # the server is fine afterwards


def test_faults_are_consumed_in_order(fake: FakeWeChat) -> None:
    fake.inject(TOKEN, Fault("errcode", -1, times=2))
    fake.inject(TOKEN, Fault("errcode", 45009))
    assert [errcode(classic_token(fake)) for _ in range(4)] == [-1, -1, 45009, 0]


def test_fault_without_times_lasts_until_cleared(fake: FakeWeChat) -> None:
    fake.inject(TOKEN, Fault("errcode", 45011, times=None))
    assert [errcode(classic_token(fake)) for _ in range(3)] == [45011] * 3
    fake.clear_faults(TOKEN)
    assert errcode(classic_token(fake)) == 0


def test_faults_apply_only_to_their_path(fake: FakeWeChat) -> None:
    fake.inject(TICKET, Fault("errcode", -1))
    assert errcode(classic_token(fake)) == 0


def test_clear_faults_without_path_clears_every_path(fake: FakeWeChat) -> None:
    fake.inject(TOKEN, Fault("errcode", -1))
    fake.inject("/" + STABLE, Fault("errcode", -1))
    fake.clear_faults()
    assert errcode(classic_token(fake)) == 0
    assert errcode(stable_token(fake)) == 0


def test_fault_rejects_unknown_kind_and_zero_times() -> None:
    with pytest.raises(ValueError):
        Fault("explode")
    with pytest.raises(ValueError):
        Fault("errcode", -1, times=0)


# --------------------------------------------------------------------------- counters and clock


def test_calls_count_per_path_including_faulted_requests(fake: FakeWeChat) -> None:
    fake.inject(TOKEN, Fault("errcode", -1))
    classic_token(fake)
    classic_token(fake)
    stable_token(fake)
    authorize(fake)
    assert fake.calls(TOKEN) == 2
    assert fake.calls("/" + STABLE) == 1
    assert fake.calls(AUTHORIZE) == 1
    assert fake.calls(TICKET) == 0


def test_reset_counts_zeroes_every_counter(fake: FakeWeChat) -> None:
    classic_token(fake)
    fake.reset_counts()
    assert fake.calls(TOKEN) == 0


def test_advance_moves_the_fake_clock_forward_only(fake: FakeWeChat) -> None:
    before = fake.now()
    fake.advance(3600)
    assert fake.now() - before >= 3600
    with pytest.raises(ValueError):
        fake.advance(-1)


def test_default_user_exists_with_realistic_openid(fake: FakeWeChat) -> None:
    assert fake.default_openid.startswith("o")
    assert len(fake.default_openid) == 28


# --------------------------------------------------------------------------- concurrency


def test_fifty_concurrent_requests_are_all_served(fake: FakeWeChat) -> None:
    token = classic_token(fake)["access_token"]
    fake.reset_counts()
    with ThreadPoolExecutor(max_workers=50) as pool:
        tickets = list(pool.map(lambda _: ticket(fake, token)["ticket"], range(50)))
        tokens = list(pool.map(lambda _: classic_token(fake)["access_token"], range(50)))
    assert len(set(tickets)) == 1  # one cached ticket, however many ask at once
    assert len(set(tokens)) == 50
    assert fake.calls(TICKET) == 50
    assert fake.calls(TOKEN) == 50


def test_rotate_jsapi_ticket_makes_the_next_getticket_issue_a_new_one(fake: FakeWeChat) -> None:
    token = classic_token(fake)["access_token"]
    first = ticket(fake, token)["ticket"]
    fake.rotate_jsapi_ticket()
    second = ticket(fake, token)["ticket"]
    assert second != first and fake.current_jsapi_ticket() == second
