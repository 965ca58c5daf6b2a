"""Login the way real apps need it: per route, progressive scope, hooks, logout, SPA-aware.

With ``WECHAT_PROTECT=marked`` only marked routes need a login: Flask's
Flask's ``@login_required``, Starlette's ``@login_required``, FastAPI's
``Depends(require_wechat_user(...))``. ``snsapi_base`` logs in silently,
``snsapi_userinfo`` asks consent once and keeps the openid (docs/wechat-protocol.md
sections 5.1 and 5.5). A ``fetch`` gets ``401`` JSON, never a redirect to WeChat.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from wechat_middleware import WeChat
from wechat_middleware.testing import FakeUser, FakeWeChat
from wechat_middleware.testing.browser import WeChatBrowser
from wechat_middleware.user import WeChatUser

from .conftest import MakeWeChat
from .security.helpers import spent_code
from .support.marked_apps import serve

AUTHORIZE = "/connect/oauth2/authorize"
EXCHANGE = "sns/oauth2/access_token"


def who(user: WeChatUser | None) -> dict[str, Any]:
    if user is None:
        return {"openid": None}
    return {"openid": user.openid, "scope": user.scope, "nickname": user.nickname}


@pytest.fixture
def wechat(make_wechat: MakeWeChat) -> WeChat:
    return make_wechat(protect="marked")


@pytest.fixture
def browser(
    framework: str, wechat: WeChat, wechat_browser: WeChatBrowser, fake_wechat: FakeWeChat
) -> Iterator[WeChatBrowser]:
    fake_wechat.add_user(FakeUser(openid="oAliceAliceAliceAliceAlice01", nickname="Alice"))
    yield serve(wechat_browser, framework, wechat, who, openid="oAliceAliceAliceAliceAlice01")


def authorize_scopes(page: Any) -> list[str]:
    return [parse_qs(urlsplit(url).query)["scope"][0] for url in page.urls if AUTHORIZE in url]


# -- per-route protection -------------------------------------------------------------------


def test_a_public_page_stays_public_in_wechat(browser: WeChatBrowser) -> None:
    page = browser.get("/public")
    assert page.status == 200 and len(page.hops) == 1
    assert page.json() == {"openid": None}


def test_a_base_route_logs_in_silently(browser: WeChatBrowser) -> None:
    page = browser.get("/base")
    assert page.status == 200 and page.json()["openid"] == "oAliceAliceAliceAliceAlice01"
    assert authorize_scopes(page) == ["snsapi_base"]  # silent: no consent screen


def test_a_userinfo_route_upgrades_a_base_login_once_and_keeps_the_openid(
    browser: WeChatBrowser, fake_wechat: FakeWeChat
) -> None:
    assert browser.get("/base").json()["scope"] == "snsapi_base"
    page = browser.get("/profile")
    assert authorize_scopes(page) == ["snsapi_userinfo"]  # one consent
    assert page.json() == {
        "openid": "oAliceAliceAliceAliceAlice01",
        "scope": "snsapi_userinfo",
        "nickname": "Alice",
    }
    exchanges = fake_wechat.calls(EXCHANGE)
    again = browser.get("/profile")
    assert len(again.hops) == 1 and fake_wechat.calls(EXCHANGE) == exchanges
    base = browser.get("/base")  # never asks for consent after the upgrade
    assert len(base.hops) == 1 and base.json()["scope"] == "snsapi_userinfo"
    assert base.json()["nickname"] == "Alice"  # the profile is kept


# -- fetch and XHR ----------------------------------------------------------------------------


def test_a_fetch_to_a_protected_api_gets_401_json_with_a_login_url(browser: WeChatBrowser) -> None:
    answer = browser.get(
        "/api/data",
        headers={"Accept": "application/json", "Referer": "http://testserver/shop?item=3"},
        follow_redirects=False,
    )
    assert answer.status == 401
    body = answer.json()
    assert body["error"] == "login_required"
    assert body["login_url"] == "/wechat/login?next=/shop%3Fitem%3D3&scope=snsapi_base"
    landed = browser.get(body["login_url"])  # the page sends the user there
    assert urlsplit(landed.url).path == "/shop"
    after = browser.get("/api/data", headers={"Accept": "application/json"})
    assert after.status == 200 and after.json()["openid"] == "oAliceAliceAliceAliceAlice01"


def test_an_xhr_gets_401_even_when_it_accepts_html(browser: WeChatBrowser) -> None:
    answer = browser.get(
        "/api/data", headers={"X-Requested-With": "XMLHttpRequest"}, follow_redirects=False
    )
    assert answer.status == 401 and answer.json()["error"] == "login_required"


def test_a_fetch_from_another_site_comes_back_home(browser: WeChatBrowser) -> None:
    answer = browser.get(
        "/api/data",
        headers={"Accept": "application/json", "Referer": "https://evil.example/x"},
        follow_redirects=False,
    )
    assert answer.json()["login_url"] == "/wechat/login?next=/&scope=snsapi_base"


def test_outside_wechat_without_qr_login_a_marked_page_says_open_it_in_wechat(
    browser: WeChatBrowser,
) -> None:
    desktop = browser.new(user_agent="desktop")
    page = desktop.get("/base", follow_redirects=False)
    assert page.status == 403 and "open this page in WeChat" in page.text


# -- the login hook ------------------------------------------------------------------------------


def test_the_hook_runs_once_per_login_with_the_user(browser: WeChatBrowser, wechat: WeChat) -> None:
    seen: list[tuple[str, bool]] = []
    wechat.on_login(lambda user, is_new: seen.append((user.openid, is_new)))
    browser.get("/base")
    browser.get("/base")
    browser.get("/profile")  # the upgrade is a login of the same user
    assert seen == [("oAliceAliceAliceAliceAlice01", True), ("oAliceAliceAliceAliceAlice01", False)]


def test_an_async_hook_runs_too(browser: WeChatBrowser, wechat: WeChat) -> None:
    seen: list[str] = []

    @wechat.on_login
    async def remember(user: WeChatUser, is_new: bool) -> None:
        await asyncio.sleep(0)
        seen.append(user.openid)

    assert browser.get("/base").status == 200
    assert seen == ["oAliceAliceAliceAliceAlice01"]


def test_a_failing_hook_fails_the_login_and_keeps_nothing(
    browser: WeChatBrowser, wechat: WeChat, caplog: pytest.LogCaptureFixture
) -> None:
    @wechat.on_login
    def broken(user: WeChatUser, is_new: bool) -> None:
        raise RuntimeError("the user table is down")

    with caplog.at_level(logging.ERROR, logger="wechat_middleware"):
        page = browser.get("/base")
    assert page.status == 500 and "Login could not be completed" in page.text
    assert [r for r in caplog.records if "on_login hook failed" in r.getMessage()]
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
    assert browser.get("/public").json() == {"openid": None}  # nothing half-stored


# -- logout -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["origin", "sec-fetch-site"],
)
def test_a_cross_site_logout_is_refused(browser: WeChatBrowser, headers: dict[str, str]) -> None:
    browser.get("/base")
    out = browser.post("/wechat/logout", {}, headers=headers, follow_redirects=False)
    assert out.status == 403
    assert browser.get("/public").json()["openid"] == "oAliceAliceAliceAliceAlice01"


def test_logout_is_post_only(browser: WeChatBrowser) -> None:
    assert browser.get("/wechat/logout", follow_redirects=False).status == 405


def test_a_logged_out_user_is_not_logged_in_again_silently(
    make_wechat: MakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    """With WECHAT_PROTECT=all every page logs in: not the one the logout lands on."""
    from .support.apps import flask_app as catch_all

    browser = wechat_browser.wsgi(catch_all(make_wechat()))
    assert browser.get("/page").json()["openid"]
    out = browser.post("/wechat/logout?next=/page", {}, headers={"Origin": "http://testserver"})
    assert out.status == 200 and out.json()["openid"] is None
    assert len(out.hops) == 2  # the logout, the page: no trip to WeChat


# -- the back button and callbacks loaded twice -------------------------------------------------


def test_the_callback_loaded_again_lands_on_the_page_logged_in(
    browser: WeChatBrowser, fake_wechat: FakeWeChat
) -> None:
    page = browser.get("/base")
    callback = next(url for url in page.urls if "/wechat/oauth-callback" in url)
    exchanges = fake_wechat.calls(EXCHANGE)
    again = browser.get(callback)  # the back button, or WeChat loading it twice
    assert again.status == 200 and again.json()["openid"] == "oAliceAliceAliceAliceAlice01"
    assert fake_wechat.calls(EXCHANGE) == exchanges  # no third exchange


def test_a_used_code_shows_a_page_and_the_next_visit_logs_in(
    wechat: WeChat, wechat_browser: WeChatBrowser, fake_wechat: FakeWeChat
) -> None:
    """The code was spent elsewhere: a page with a link back, and the page it links to
    sends the browser to WeChat again (within the three-attempts cap)."""
    browser = serve(wechat_browser, "flask", wechat, who, openid="oAliceAliceAliceAliceAlice01")
    start = browser.get("/base", follow_redirects=False)
    login = browser.get(start.headers["Location"], follow_redirects=False)
    authorize = browser.get(login.headers["Location"], follow_redirects=False)
    callback = authorize.headers["Location"]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    spent_code(fake_wechat, code)
    failed = browser.get(callback)
    assert failed.status == 400 and "already used" in failed.text
    again = browser.get("/base")  # "Continue"
    assert again.status == 200 and again.json()["openid"] == "oAliceAliceAliceAliceAlice01"


def test_the_user_carries_unionid_when_wechat_sends_it(
    browser: WeChatBrowser, fake_wechat: FakeWeChat, wechat: WeChat
) -> None:
    fake_wechat.add_user(
        FakeUser(openid="oAliceAliceAliceAliceAlice01", nickname="Alice", unionid="uAlice0001")
    )
    seen: list[WeChatUser] = []
    wechat.on_login(lambda user, is_new: seen.append(user))
    browser.get("/profile")
    assert seen[0].unionid == "uAlice0001" and not seen[0].is_snapshotuser
    assert json.loads(json.dumps(seen[0].to_dict()))["unionid"] == "uAlice0001"


def test_right_after_logout_a_marked_page_offers_a_login_instead_of_a_silent_one(
    browser: WeChatBrowser,
) -> None:
    browser.get("/base")
    browser.post("/wechat/logout", {}, headers={"Origin": "http://testserver"})
    page = browser.get("/base", follow_redirects=False)
    assert page.status == 401 and "Please log in" in page.text
    assert "/wechat/login?next=/base" in page.text
