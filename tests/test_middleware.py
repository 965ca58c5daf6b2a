"""The middleware end to end in-process, the same behaviour over WSGI and ASGI.

WeChat facts (docs/wechat-protocol.md sections 5 and 7): the authorize page redirects back to
``redirect_uri``
with ``code`` and ``state`` (``state`` only when the user refuses consent); a code is
single-use (40163) and expires after 5 minutes (42003); snapshot-page visitors get
``is_snapshotuser: 1`` and a virtual openid; WeChat's browser says ``MicroMessenger``.
None of the failures may log anyone in, answer 5xx, or loop the browser through OAuth.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA, DESKTOP_UA

from .conftest import MakeWeChat
from .security import helpers as security
from .support.apps import Answer, AppClient, app_client


@pytest.fixture(params=["wsgi", "asgi"])
def client(request: pytest.FixtureRequest, make_wechat: MakeWeChat) -> Iterator[AppClient]:
    with app_client(request.param, make_wechat()) as client:
        yield client


def authorize(location: str, **headers: str) -> str:
    """What WeChat's authorize page does: redirect to the callback (path and query)."""
    origin, callback = security.authorize(location, **headers)
    assert origin == "http://testserver"
    return callback


def log_in(client: AppClient, start: str = "/?a=1&b=2", **headers: str) -> Answer:
    to_wechat = client.get(start)
    assert to_wechat.status == 302 and to_wechat.location
    back = client.get(authorize(to_wechat.location, **headers))
    assert back.status == 302 and back.location == start
    return client.get(start)


def callback_query(client: AppClient, **params: str) -> str:
    """Start a login and build a callback URL with its real state, overridden by params."""
    to_wechat = client.get("/page")
    assert to_wechat.location
    query = parse_qs(urlsplit(to_wechat.location.split("#")[0]).query)
    values = {"state": query["state"][0], **params}
    return "/wechat/oauth-callback?" + "&".join(f"{k}={v}" for k, v in values.items() if v)


def assert_not_logged_in(client: AppClient) -> None:
    page = client.get("/api/me", accept="application/json")
    assert page.status == 200
    assert '"openid": null' in page.text or '"openid":null' in page.text


# -- the happy path --------------------------------------------------------------


def test_wechat_browser_logs_in_and_returns_to_the_page_it_asked_for(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    page = log_in(client)
    assert page.status == 200
    state = page.json()
    assert state["openid"] == fake_wechat.default_openid
    sig = state["signature"]
    assert isinstance(sig, dict)
    assert sig["url"] == "http://testserver/?a=1&b=2"
    assert fake_wechat.check_jsapi_signature(
        sig["url"], sig["nonceStr"], sig["timestamp"], sig["signature"]
    )


def test_authorize_url_carries_wechats_parameters(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    location = client.get("/x").location
    assert location is not None and location.startswith(fake_wechat.open_base)
    query = parse_qs(urlsplit(location.split("#")[0]).query)
    assert query["appid"] == [fake_wechat.app_id]
    assert query["redirect_uri"] == ["http://testserver/wechat/oauth-callback"]
    assert query["response_type"] == ["code"] and query["scope"] == ["snsapi_base"]
    assert len(query["state"][0]) == 32 and query["state"][0].isalnum()


def test_login_cookie_is_httponly_and_samesite_lax(client: AppClient) -> None:
    answer = client.get("/")
    cookie = answer.set_cookies[0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https adds Secure


def test_android_wechat_is_recognised(client: AppClient) -> None:
    assert client.get("/", ua=ANDROID_WECHAT_UA).status == 302


def test_plain_browser_sees_the_page_untouched(client: AppClient) -> None:
    page = client.get("/?a=1", ua=DESKTOP_UA)
    assert page.status == 200
    state = page.json()
    assert state["openid"] is None and state["is_wechat"] is False
    assert isinstance(state["signature"], dict)
    assert not page.set_cookies


def test_logged_in_browser_is_not_redirected_again(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    log_in(client)
    page = client.get("/second?x=1")
    assert page.status == 200
    assert page.json()["openid"] == fake_wechat.default_openid


def test_login_url_starts_a_login_that_returns_to_next(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    start = client.get("/wechat/login?next=/account%3Ftab%3D2", ua=DESKTOP_UA)
    assert start.status == 302 and start.location
    back = client.get(authorize(start.location), ua=DESKTOP_UA)
    assert back.location == "/account?tab=2"


# -- failure paths: a clear 4xx/5xx page, no login, no loop ---------------------


def test_declined_consent_shows_a_page_and_does_not_loop(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, request: pytest.FixtureRequest
) -> None:
    for kind in ("wsgi", "asgi"):
        with app_client(kind, make_wechat(scope="snsapi_userinfo")) as client:
            start = client.get("/page")
            assert start.location
            declined = client.get(authorize(start.location, **{"X-Fake-WeChat-Consent": "deny"}))
            assert declined.status == 403 and declined.location is None
            assert "cancelled" in declined.text
            assert client.get("/page").status == 200  # respected: not sent back to WeChat
            assert_not_logged_in(client)


def test_used_code_fails_the_login_without_a_loop(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    answer = client.get(callback_query(client, code=security.spent_code(fake_wechat)))
    assert answer.status == 400 and answer.location is None
    assert "already used" in answer.text
    assert_not_logged_in(client)


def test_forged_state_is_refused(client: AppClient, fake_wechat: FakeWeChat) -> None:
    answer = client.get(callback_query(client, state="forged0state", code=fake_wechat.issue_code()))
    assert answer.status == 400 and answer.location is None
    assert_not_logged_in(client)


def test_callback_without_any_login_started_is_refused(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    code = fake_wechat.issue_code()
    answer = client.get(f"/wechat/oauth-callback?code={code}&state=abc")
    assert answer.status == 400
    assert fake_wechat.calls("sns/oauth2/access_token") == 0  # the code was never spent


def test_replayed_callback_is_refused_even_with_the_old_cookie(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    start = client.get("/page")
    assert start.location
    cookie_before = client.cookie
    callback = authorize(start.location)
    assert client.get(callback).status == 302
    client.cookie = cookie_before  # an attacker replays the request as it was
    replay = client.get(callback)
    assert replay.status == 400 and replay.location is None
    assert "already used" in replay.text
    assert_not_logged_in(client)


def test_expired_session_cookie_is_ignored(make_wechat: MakeWeChat) -> None:
    wechat = make_wechat()
    old = security.signer(wechat, signer=security.SignedLongAgo).dumps({"u": {"openid": "o-old"}})
    for kind in ("wsgi", "asgi"):
        with app_client(kind, wechat) as client:
            client.cookie = old
            assert_not_logged_in(client)


def test_snapshot_page_visitor_is_not_logged_in_and_not_looped(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    for kind in ("wsgi", "asgi"):
        with app_client(kind, make_wechat(scope="snsapi_userinfo")) as client:
            start = client.get("/page")
            assert start.location
            back = client.get(authorize(start.location, **{"X-Fake-WeChat-Snapshot": "1"}))
            assert back.status == 302 and back.location == "/page"
            assert client.get("/page").status == 200  # not sent to OAuth again
            assert_not_logged_in(client)


def test_a_browser_that_keeps_failing_is_redirected_at_most_three_times(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    statuses = []
    for _ in range(5):
        start = client.get("/page")
        statuses.append(start.status)
        if start.location:
            client.get("/wechat/oauth-callback?code=c&state=forged0state")
    assert statuses == [302, 302, 302, 200, 200]


def test_userinfo_scope_keeps_the_profile_in_the_session(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    from wechat_middleware.testing import FakeUser

    fake_wechat.add_user(FakeUser(openid="o-profile-user", nickname="小明", unionid="u-1"))
    wechat = make_wechat(scope="snsapi_userinfo")
    for kind in ("wsgi", "asgi"):
        with app_client(kind, wechat) as client:
            log_in(client, "/me", **{"X-Fake-WeChat-Openid": "o-profile-user"})
            decision = security.session_user(wechat, client.cookie)
            assert decision is not None
            assert (decision.openid, decision.nickname, decision.unionid) == (
                "o-profile-user",
                "小明",
                "u-1",
            )
