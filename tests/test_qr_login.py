"""Desktop QR login through a website app (docs/wechat-protocol.md section 9,
docs/wecom-and-qrconnect.md section 2).

A browser outside WeChat cannot use WeChat's OAuth page; with ``WECHAT_WEB_APP_ID`` and
``WECHAT_WEB_APP_SECRET`` (an Open Platform website app) it is sent to
``connect/qrconnect`` (``snsapi_login``), and the code is exchanged with the website
app's credentials, never the Official Account's. The user then has the website app's
openid (another app, another openid) and the unionid both apps share.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from wechat_middleware import WeChat
from wechat_middleware.testing import FakeUser, FakeWeChat, Fault
from wechat_middleware.testing.browser import WeChatBrowser
from wechat_middleware.user import WeChatUser

from .conftest import MakeWeChat
from .support.marked_apps import serve
from .test_login import who

ALICE = "oAliceAliceAliceAliceAlice01"
QRCONNECT = "/connect/qrconnect"


def with_web_app(make_wechat: MakeWeChat, fake: FakeWeChat, **config: Any) -> WeChat:
    return make_wechat(web_app_id=fake.web_app_id, web_app_secret=fake.web_app_secret, **config)


@pytest.fixture
def desktop(
    framework: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat, wechat_browser: WeChatBrowser
) -> WeChatBrowser:
    fake_wechat.add_user(FakeUser(openid=ALICE, nickname="Alice", unionid="uAliceUnion0001"))
    wechat = with_web_app(make_wechat, fake_wechat, protect="marked")
    return serve(wechat_browser, framework, wechat, who, openid=ALICE, user_agent="desktop")


def test_a_desktop_browser_on_a_marked_route_logs_in_by_qr_code(
    desktop: WeChatBrowser, fake_wechat: FakeWeChat
) -> None:
    page = desktop.get("/profile")
    qr = next(url for url in page.urls if QRCONNECT in url)
    query = parse_qs(urlsplit(qr).query)
    assert query["appid"] == [fake_wechat.web_app_id] and query["scope"] == ["snsapi_login"]
    assert page.status == 200
    assert page.json() == {
        "openid": fake_wechat.web_openid(ALICE),
        "scope": "snsapi_login",
        "nickname": "Alice",
    }


def logins(
    make_wechat: MakeWeChat, fake: FakeWeChat, wechat_browser: WeChatBrowser, in_wechat_path: str
) -> tuple[WeChatUser, WeChatUser]:
    """Alice logs in by QR code on the desktop, then in WeChat on ``in_wechat_path``."""
    wechat = with_web_app(make_wechat, fake, protect="marked")
    seen: list[WeChatUser] = []
    wechat.on_login(lambda user, is_new: seen.append(user))
    desktop = serve(wechat_browser, "flask", wechat, who, openid=ALICE, user_agent="desktop")
    desktop.get("/base")
    phone = serve(wechat_browser, "flask", wechat, who, openid=ALICE)  # in WeChat
    phone.get(in_wechat_path)
    on_desktop, in_wechat = seen
    assert (on_desktop.via, in_wechat.via) == ("qrconnect", "oauth")
    assert on_desktop.openid != in_wechat.openid  # another app, another openid
    return on_desktop, in_wechat


def test_a_userinfo_login_in_wechat_carries_the_unionid_that_links_a_qr_login(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    """docs/wechat-protocol.md sections 5.3 and 9: the unionid comes with snsapi_userinfo
    (and with the website app's snsapi_login); it is the same for both apps."""
    fake_wechat.add_user(FakeUser(openid=ALICE, unionid="uAliceUnion0001"))
    on_desktop, in_wechat = logins(make_wechat, fake_wechat, wechat_browser, "/profile")
    assert on_desktop.unionid == in_wechat.unionid == "uAliceUnion0001"  # what links them


def test_a_silent_login_of_a_follower_gets_the_unionid_from_user_info(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    """docs/wechat-protocol.md section 5.9: snsapi_base gives no unionid, but with a
    website app to link to, the middleware asks cgi-bin/user/info, which names a
    follower's unionid."""
    fake_wechat.add_user(FakeUser(openid=ALICE, unionid="uAliceUnion0001", subscribe=1))
    on_desktop, in_wechat = logins(make_wechat, fake_wechat, wechat_browser, "/base")
    assert in_wechat.scope == "snsapi_base"
    assert on_desktop.unionid == in_wechat.unionid == "uAliceUnion0001"
    assert fake_wechat.calls("cgi-bin/user/info") == 1


def test_a_silent_login_of_someone_who_does_not_follow_has_no_unionid(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    """WeChat gives no unionid for snsapi_base, and cgi-bin/user/info nothing for a
    non-follower (section 5.9): only a route that asks snsapi_userinfo links them."""
    fake_wechat.add_user(FakeUser(openid=ALICE, unionid="uAliceUnion0001"))
    on_desktop, in_wechat = logins(make_wechat, fake_wechat, wechat_browser, "/base")
    assert on_desktop.unionid == "uAliceUnion0001" and in_wechat.unionid is None


def test_a_failing_user_info_still_logs_the_follower_in_without_a_unionid(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    """48001: an account without the user-management permission (section 6)."""
    fake_wechat.add_user(FakeUser(openid=ALICE, unionid="uAliceUnion0001", subscribe=1))
    fake_wechat.inject("cgi-bin/user/info", Fault("errcode", 48001, times=None))
    _, in_wechat = logins(make_wechat, fake_wechat, wechat_browser, "/base")
    assert in_wechat.unionid is None


def test_without_a_website_app_a_silent_login_asks_nothing_more(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    fake_wechat.add_user(FakeUser(openid=ALICE, unionid="uAliceUnion0001", subscribe=1))
    phone = serve(wechat_browser, "flask", make_wechat(protect="marked"), who, openid=ALICE)
    assert phone.get("/base").json()["openid"] == ALICE
    assert fake_wechat.calls("cgi-bin/user/info") == 0


def test_in_wechat_the_same_app_still_uses_wechat_oauth(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    wechat = with_web_app(make_wechat, fake_wechat, protect="marked")
    page = serve(wechat_browser, "flask", wechat, who).get("/base")
    assert not [url for url in page.urls if QRCONNECT in url]
    assert page.json()["openid"] == fake_wechat.default_openid


def test_with_protect_all_a_desktop_page_goes_to_the_qr_login(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    from .support.apps import flask_app

    wechat = with_web_app(make_wechat, fake_wechat)
    page = wechat_browser.wsgi(flask_app(wechat), user_agent="desktop").get("/page")
    assert [url for url in page.urls if QRCONNECT in url]
    assert page.json()["openid"] == fake_wechat.web_openid(fake_wechat.default_openid)


def qr_code(fake: FakeWeChat) -> str:
    """The code WeChat's QR page gives the website app once the phone scanned it."""
    params = {
        "appid": fake.web_app_id,
        "redirect_uri": "http://testserver/cb",
        "response_type": "code",
        "scope": "snsapi_login",
        "state": "s1",
        "scan": "1",
    }
    reply = requests.get(
        f"{fake.base_url}{QRCONNECT}", params=params, allow_redirects=False, timeout=5
    )
    return parse_qs(urlsplit(reply.headers["Location"]).query)["code"][0]


def test_a_qr_login_code_is_refused_with_the_official_accounts_credentials(
    fake_wechat: FakeWeChat,
) -> None:
    """The fake is as strict as WeChat: only the app that asked may exchange a code."""
    code = qr_code(fake_wechat)

    def exchange(appid: str, secret: str) -> dict[str, Any]:
        answer = requests.get(
            f"{fake_wechat.api_base}/sns/oauth2/access_token",
            params={
                "appid": appid,
                "secret": secret,
                "code": code,
                "grant_type": "authorization_code",
            },
            timeout=5,
        )
        data: dict[str, Any] = answer.json()
        return data

    assert exchange(fake_wechat.app_id, fake_wechat.app_secret)["errcode"] == 40029
    assert exchange(fake_wechat.web_app_id, fake_wechat.web_app_secret)["openid"]


@pytest.mark.parametrize(
    "params",
    [
        {"appid": "wx0123456789abcdef", "scope": "snsapi_login"},
        {"appid": "wxweb0123456789ab", "scope": "snsapi_base"},
    ],
    ids=["official-account-appid", "official-account-scope"],
)
def test_the_qr_page_refuses_an_official_accounts_app_id_or_scope(
    fake_wechat: FakeWeChat, params: dict[str, str]
) -> None:
    reply = requests.get(
        f"{fake_wechat.base_url}{QRCONNECT}",
        params={**params, "redirect_uri": "http://testserver/cb", "response_type": "code"},
        allow_redirects=False,
        timeout=5,
    )
    assert reply.status_code == 200 and "该链接无法访问" in reply.text


def test_a_qr_code_fed_to_an_in_wechat_login_is_refused(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    """A login that started in WeChat (its code is the Official Account's) given a QR
    login's code: the exchange with the Official Account's credentials fails."""
    wechat = with_web_app(make_wechat, fake_wechat, protect="marked")
    phone = serve(wechat_browser, "flask", wechat, who)
    start = phone.get("/wechat/login?next=/base", follow_redirects=False)
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    answer = phone.get(f"/wechat/oauth-callback?code={qr_code(fake_wechat)}&state={state}")
    assert answer.status == 400
    assert phone.get("/public").json() == {"openid": None}
