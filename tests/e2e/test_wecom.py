"""A WeCom app in a real browser: the example apps, unchanged, as a WeCom self-built app
(WECHAT_PROVIDER=wecom) in gunicorn and uvicorn, opened in Chromium with WeCom's
User-Agent.

FakeWeCom's JS-SDK stand-in checks ``wx.config`` against the corp's jsapi ticket and
``wx.agentConfig`` against the app's own ticket, with WeChat's URL rule per platform
(docs/wecom-and-qrconnect.md section 1.5, docs/wechat-protocol.md section 4.4): a
"ready" means the helper signed both with the right tickets, for the URL the platform
checks, after every route change. Outside WeCom, the desktop web login's page is
clicked like a scan (section 1.4).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wechat_middleware.testing.fake_wecom import FakeWeCom
from wechat_middleware.testing.user_agents import DESKTOP_UA, WXWORK_ANDROID_UA, WXWORK_UA

from ..support.servers import SERVER_COMMANDS, AppServer, start_wecom_app
from .conftest import BrowserLog, OpenPage
from .test_spa import wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PLATFORMS = {"ios": WXWORK_UA, "android": WXWORK_ANDROID_UA}
AGENT_TICKET = "cgi-bin/ticket/get"


@pytest.fixture(scope="module", params=sorted(SERVER_COMMANDS))
def kind(request: pytest.FixtureRequest) -> str:
    """Each example app in its production server (the test id)."""
    return str(request.param)


@pytest.fixture(scope="module")
def wecom(kind: str) -> Iterator[FakeWeCom]:
    """A FakeWeCom per server, so each one's fetches are counted alone."""
    with FakeWeCom() as fake:
        yield fake


@pytest.fixture(scope="module")
def wecom_server(
    kind: str, wecom: FakeWeCom, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    """The example app as a WeCom app, its desktop web login on."""
    workdir = tmp_path_factory.mktemp(f"wecom-{kind}")
    with start_wecom_app(kind, wecom, workdir, WECHAT_DESKTOP_LOGIN="true") as server:
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
