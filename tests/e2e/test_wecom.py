"""A WeCom app in a real browser: the example apps, unchanged, as a WeCom self-built app
(WECHAT_PROVIDER=wecom) in gunicorn and uvicorn, opened in Chromium with WeCom's
User-Agent, loading WeCom's official SDK (@wecom/jssdk from npm, unmodified).

The helper registers the page with ``ww.register`` (both signatures); WeCom's SDK asks
FakeWeCom's native side (``window.WeixinJSBridge``) for ``agentConfig`` (WeCom 3.0.24 and
later need nothing else), checked against the app's own ticket for the current URL, on
iOS too (docs/wecom-and-qrconnect.md section 1.5): a "ready" means the helper signed with
the right ticket, for the URL WeCom checks, after every route change. Outside WeCom, the
desktop web login's page is clicked like a scan (section 1.4).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from wechat_middleware.testing.fake_wecom import FakeWeCom
from wechat_middleware.testing.user_agents import DESKTOP_UA, WXWORK_ANDROID_UA, WXWORK_UA

from ..support.official_sdks import OfficialSDKs
from ..support.servers import SERVER_COMMANDS, AppServer, start_wecom_app
from .conftest import BrowserLog, OpenPage
from .test_spa import wait_ready

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PLATFORMS = {"ios": WXWORK_UA, "android": WXWORK_ANDROID_UA}
AGENT_TICKET = "cgi-bin/ticket/get"
SHARE = ["updateAppMessageShareData", "updateTimelineShareData"]  # the example page's
AGENT_API = "selectExternalContact"  # needs the app's identity (wx.agentConfig)


@pytest.fixture(scope="module", params=sorted(SERVER_COMMANDS))
def kind(request: pytest.FixtureRequest) -> str:
    """Each example app in its production server (the test id)."""
    return str(request.param)


@pytest.fixture(scope="module")
def wecom(kind: str) -> Iterator[FakeWeCom]:
    """A FakeWeCom per server, so each one's fetches are counted alone."""
    with FakeWeCom() as fake:
        yield fake


@pytest.fixture
def native_side(wecom: FakeWeCom) -> FakeWeCom:
    """Pages opened with WeCom's User-Agent get WeCom's bridge, checked by this fake."""
    return wecom


@pytest.fixture(scope="module")
def wecom_server(
    kind: str,
    wecom: FakeWeCom,
    official_sdks: OfficialSDKs,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AppServer]:
    """The example app as a WeCom app loading WeCom's SDK, its desktop web login on."""
    workdir = tmp_path_factory.mktemp(f"wecom-{kind}")
    env = {"WECHAT_DESKTOP_LOGIN": "true", "WECHAT_WECOM_JSSDK_URL": official_sdks.wecom_url}
    with start_wecom_app(kind, wecom, workdir, **env) as server:
        yield server


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_wx_config_and_agent_config_are_ready_on_every_route(
    platform: str,
    wecom_server: AppServer,
    wecom: FakeWeCom,
    open_page: OpenPage,
    browser_log: BrowserLog,
    screenshot_path: Path,
) -> None:
    page = open_page(user_agent=PLATFORMS[platform], mobile=True)
    page.goto(wecom_server.url("/spa/?from=share"), wait_until="load")  # through the login
    wait_ready(page, 1)
    assert page.text_content("#userid") == wecom.default_userid
    for step, link in enumerate(["SPA profile", "SPA home"], start=2):
        page.click(f"text={link}")  # history.pushState: no page load
        wait_ready(page, step)
    page.screenshot(path=str(screenshot_path), full_page=True)
    assert not [line for line in browser_log.lines if "invalid signature" in line]
    assert "JS-SDK config failed" not in wecom_server.log()
    assert wecom.calls(AGENT_TICKET) == 1  # every worker signs with the one app ticket


def signed_url(page: Page, apis: list[str]) -> str:
    """``wechatMiddleware.ready(apis)``'s outcome: "ready <signed url>" or "error ..."."""
    outcome: str = page.evaluate(
        """apis => wechatMiddleware.ready(apis).then(
            res => "ready " + res.url, err => "error " + err.message)""",
        apis,
    )
    return outcome


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_wecom_signs_the_current_url_after_a_route_change_on_every_platform(
    platform: str, wecom_server: AppServer, open_page: OpenPage
) -> None:
    page = open_page(user_agent=PLATFORMS[platform], mobile=True)
    page.goto(wecom_server.url("/spa/"), wait_until="load")
    wait_ready(page, 1)
    page.click("text=SPA profile")
    wait_ready(page, 2)

    assert signed_url(page, SHARE) == f"ready {page.url.split('#')[0]}"  # iOS too
    # WeCom 3.0.24+: the app's identity alone (agentConfig), once per URL.
    assert page.evaluate("() => WeixinJSBridge.__fake.count('agentConfig')") == 2
    assert page.evaluate("() => WeixinJSBridge.__fake.count('preVerifyJSAPI')") == 0


def test_an_agent_api_works_through_wecoms_sdk_once_registered(
    wecom_server: AppServer, open_page: OpenPage, wecom: FakeWeCom
) -> None:
    page = open_page(user_agent=WXWORK_ANDROID_UA, mobile=True)
    page.goto(wecom_server.url("/spa/"), wait_until="load")
    wait_ready(page, 1)  # the page asked for the share APIs
    page.evaluate("() => history.pushState({}, '', '/spa/orders')")  # a new URL: more APIs

    assert signed_url(page, [*SHARE, AGENT_API]) == f"ready {wecom_server.url('/spa/orders')}"
    outcome = page.evaluate(
        "api => ww[api]({}).then(res => res.errMsg, err => 'failed ' + err.errMsg)", AGENT_API
    )
    assert outcome == f"{AGENT_API}:ok"
    # On the same URL WeCom's registration is fixed: more APIs are refused, with the reason.
    assert signed_url(page, [*SHARE, AGENT_API, "openUserProfile"]).startswith(
        "error wechatMiddleware.ready: in WeCom, ask for every API"
    )


def test_a_desktop_browser_logs_in_by_wecoms_web_login(
    wecom_server: AppServer, wecom: FakeWeCom, open_page: OpenPage, screenshot_path: Path
) -> None:
    page = open_page(user_agent=DESKTOP_UA, mobile=False)
    page.goto(wecom_server.url("/account"), wait_until="load")  # a marked route
    assert "/wwlogin/sso/login" in page.url
    page.click("#scan")  # the member scans the QR code with WeCom
    page.wait_for_url(wecom_server.url("/account"))
    page.screenshot(path=str(screenshot_path), full_page=True)
    assert page.text_content("#userid") == wecom.default_userid
