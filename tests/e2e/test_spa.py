"""Single-page apps in a real browser: ``wx`` works on every route, on iOS and Android.

The example apps' ``/spa/`` changes routes with ``history.pushState``; the page loads
only the browser helper (``request.wechat.jssdk_tags``). The fake's JS-SDK stand-in
checks ``wx.config`` the way WeChat does (docs/wechat-protocol.md section 4.4): with an
iOS User-Agent only a signature of the landing URL passes, with Android only one of the
current URL. So a "ready" after each route change proves the helper signed the URL the
platform checks. When WeChat refuses, the helper reports and the server's log says why
in one line (section 4.6).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA, IOS_WECHAT_UA

from ..support.servers import AppServer
from .conftest import BrowserLog, OpenPage

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PLATFORMS = {"ios": IOS_WECHAT_UA, "android": ANDROID_WECHAT_UA}
SETTLED = "() => document.getElementById('wx-status').textContent !== 'loading'"


def ready_count(page: Page) -> int:
    return int(page.text_content("#wx-ready-count") or "0")


def wait_ready(page: Page, count: int) -> None:
    """Until the page reached ``wx.ready`` ``count`` times; fail on an error first."""
    page.wait_for_function(
        f"() => Number(document.getElementById('wx-ready-count').textContent) >= {count}"
        " || document.getElementById('wx-status').textContent.indexOf('error') === 0"
    )
    status = page.text_content("#wx-status")
    assert status == "ready", f"JS-SDK: {status} at {page.url}"


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_a_single_page_app_is_ready_on_every_route(
    platform: str,
    app_server: AppServer,
    fake: FakeWeChat,
    open_page: OpenPage,
    browser_log: BrowserLog,
    screenshot_path: Path,
) -> None:
    page = open_page(user_agent=PLATFORMS[platform], mobile=True)
    page.goto(app_server.url("/spa/?from=share"), wait_until="load")  # through OAuth
    wait_ready(page, 1)
    assert page.text_content("#openid") == fake.default_openid
    for step, link in enumerate(["SPA profile", "SPA home", "SPA profile"], start=2):
        page.click(f"text={link}")  # history.pushState: no page load
        wait_ready(page, step)
    page.go_back()  # popstate
    wait_ready(page, 5)
    assert "/spa/" in page.url
    page.screenshot(path=str(screenshot_path), full_page=True)
    assert not [line for line in browser_log.lines if "invalid signature" in line]
    assert "JS-SDK config failed" not in app_server.log()


def test_behind_a_misconfigured_proxy_the_log_names_the_scheme_and_the_fix(
    app_server: AppServer, open_page: OpenPage, screenshot_path: Path
) -> None:
    """A proxy tells the app the request was https (X-Forwarded-Proto) while the browser
    is on http: the app's idea of its own URL differs from the page's."""
    page = open_page(user_agent=ANDROID_WECHAT_UA, mobile=True)
    page.goto(app_server.url("/spa/"), wait_until="load")  # logged in first (OAuth)
    wait_ready(page, 1)
    page.set_extra_http_headers({"X-Forwarded-Proto": "https"})
    since = app_server.log_size()
    page.reload(wait_until="load")
    page.wait_for_function(SETTLED)
    page.screenshot(path=str(screenshot_path), full_page=True)
    assert (page.text_content("#wx-status") or "").startswith("error")
    deadline = time.monotonic() + 10
    while "JS-SDK config failed" not in app_server.log(since) and time.monotonic() < deadline:
        time.sleep(0.1)
    line = next(
        line for line in app_server.log(since).splitlines() if "JS-SDK config failed" in line
    )
    assert "this server sees https://" in line and "WECHAT_PUBLIC_URL=http://" in line


def test_a_ticket_wechat_revoked_is_refetched_after_one_report(
    app_server: AppServer, fake: FakeWeChat, open_page: OpenPage, screenshot_path: Path
) -> None:
    page = open_page(user_agent=ANDROID_WECHAT_UA, mobile=True)
    page.goto(app_server.url("/spa/"), wait_until="load")
    wait_ready(page, 1)
    fake.revoke_jsapi_tickets()  # WeChat drops the ticket every worker holds
    fetched = fake.calls("cgi-bin/ticket/getticket")
    page.reload(wait_until="load")
    page.wait_for_function(SETTLED)
    assert "invalid signature" in (page.text_content("#wx-status") or "")
    time.sleep(1.5)  # the report lands; workers' one-second copies of the ticket age out
    page.reload(wait_until="load")
    wait_ready(page, 1)
    page.screenshot(path=str(screenshot_path), full_page=True)
    assert fake.calls("cgi-bin/ticket/getticket") == fetched + 1
