"""End to end in a real browser: the example apps, WeChat's OAuth and the JS-SDK.

Headless Chromium, with WeChat's User-Agent on iOS and on Android, opens an example app
(Flask under gunicorn, Starlette under uvicorn) and follows every redirect itself: to
FakeWeChat's authorize page, back to the app's OAuth callback, back to the page. The page
loads the official jweixin-1.6.0.js, whose configuration asks WeChat's bridge (the fake's),
as the phone asks WeChat, whether the app's signature is right for this page. A desktop
browser is not sent to OAuth. Each test saves a screenshot under test-artifacts/e2e/.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA, DESKTOP_UA, IOS_WECHAT_UA

from ..support.servers import AppServer
from .conftest import OpenPage

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request

pytestmark = pytest.mark.slow

WECHAT_USER_AGENTS = {"wechat-ios": IOS_WECHAT_UA, "wechat-android": ANDROID_WECHAT_UA}

PAGE = "/?a=1&b=2"
AUTHORIZE_PATH = "/connect/oauth2/authorize"
CALLBACK_PATH = "/wechat/oauth-callback"
CONFIG_CHECK = "fake/jssdk/config"
# The example pages say "loading" until wx.ready, wx.error, or no wx at all.
SETTLED = "() => document.getElementById('wx-status').textContent !== 'loading'"


@dataclass(frozen=True)
class Visit:
    """What the browser went through to show a page, and what the page showed."""

    navigations: list[str]  # every top-level document request, redirects included
    landed: str  # the address bar at the end
    openid: str
    wx_status: str
    config_checks: int  # wx.config signature checks the fake answered meanwhile


def visit(page: Page, url: str, fake: FakeWeChat, screenshot: Path) -> Visit:
    """Open ``url``, let the browser follow its redirects, wait for the JS-SDK's verdict."""
    navigations: list[str] = []

    def on_request(request: Request) -> None:
        if request.is_navigation_request() and request.frame == page.main_frame:
            navigations.append(request.url)

    checks_before = fake.calls(CONFIG_CHECK)
    page.on("request", on_request)
    page.goto(url, wait_until="load")
    page.wait_for_function(SETTLED)
    page.screenshot(path=str(screenshot), full_page=True)
    return Visit(
        navigations=navigations,
        landed=page.url,
        openid=page.text_content("#openid") or "",
        wx_status=page.text_content("#wx-status") or "",
        config_checks=fake.calls(CONFIG_CHECK) - checks_before,
    )


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@pytest.fixture(params=sorted(WECHAT_USER_AGENTS))
def wechat_visit(
    request: pytest.FixtureRequest,
    app_server: AppServer,
    fake: FakeWeChat,
    open_page: OpenPage,
    screenshot_path: Path,
) -> Visit:
    """A first visit to ``/?a=1&b=2`` in WeChat's browser (iOS or Android: its test id)."""
    page = open_page(user_agent=WECHAT_USER_AGENTS[request.param], mobile=True)
    return visit(page, app_server.url(PAGE), fake, screenshot_path)


@pytest.fixture
def desktop_visit(
    app_server: AppServer, fake: FakeWeChat, open_page: OpenPage, screenshot_path: Path
) -> Visit:
    """A first visit to ``/?a=1&b=2`` in desktop Chrome."""
    page = open_page(user_agent=DESKTOP_UA, mobile=False)
    return visit(page, app_server.url(PAGE), fake, screenshot_path)


# --------------------------------------------------------------------------- WeChat's browser


def test_wechat_browser_goes_through_wechat_oauth_and_lands_logged_in_and_ready(
    wechat_visit: Visit, app_server: AppServer, fake: FakeWeChat
) -> None:
    # The page, WeChat's authorize page (on the fake), the app's callback, the page again.
    hops = [urlsplit(url) for url in wechat_visit.navigations]
    assert [(hop.netloc, hop.path) for hop in hops] == [
        (app_server.netloc, "/"),
        (urlsplit(fake.base_url).netloc, AUTHORIZE_PATH),
        (app_server.netloc, CALLBACK_PATH),
        (app_server.netloc, "/"),
    ]
    # The page it asked for. (The address bar may end in #wechat_redirect: a browser
    # carries the authorize URL's fragment over the redirects that name none. The server
    # never sees it, and the JS-SDK checks the URL without it.)
    assert urlsplit(wechat_visit.landed).netloc == app_server.netloc
    assert path_and_query(wechat_visit.landed) == PAGE
    assert wechat_visit.openid == fake.default_openid  # the user WeChat logged in
    assert wechat_visit.wx_status == "ready"  # the signature passed WeChat's check
    assert wechat_visit.config_checks == 1


# --------------------------------------------------------------------------- desktop browser


def test_desktop_browser_is_not_sent_to_wechat_oauth_and_sees_the_jssdk_result(
    desktop_visit: Visit, app_server: AppServer
) -> None:
    assert desktop_visit.navigations == [app_server.url(PAGE)]
    assert desktop_visit.landed == app_server.url(PAGE)
    assert desktop_visit.openid == ""  # no logged-in user
    # The official jweixin works only inside WeChat (it waits for WeChat's bridge, which a
    # desktop browser never has): the helper says so at once, and nothing is checked.
    assert desktop_visit.wx_status == (
        "error: not in WeChat's browser: the JS-SDK works only inside WeChat (or WeCom)"
    )
    assert desktop_visit.config_checks == 0
