"""The demo's page, the first thing a newcomer sees, in a real Chromium (issue: "make it the
first impression a user screenshots").

``python -m wechat_middleware demo`` serves the Flask example (``--app django``: the Django
one, the same page) against its own FakeWeChat, whose JS-SDK stand-in brings that fake's
WeChat bridge. In a phone-sized window with
WeChat's iOS User-Agent the page shows the user (the openid after the silent login, the
nickname and the avatar after the consent route), the URL that was signed and WeChat's
verdict on it, a button that calls a JS-SDK API through the helper, single-page routes
that stay accepted, and a logout. A desktop window is sent to the fake's QR login page
(the demo configures its website app), logs in there, and once logged out the page links
back to it. Screenshots: test-artifacts/e2e/demo-*.png (Django's: demo-django-*.png).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from wechat_middleware.testing.user_agents import DESKTOP_UA, IOS_WECHAT_UA

from ..test_demo import RunningDemo, running_demo
from .conftest import OpenPage

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SETTLED = "() => document.getElementById('wx-status').textContent !== 'loading'"
AVATAR_LOADED = (
    "() => { const img = document.getElementById('avatar');"
    " return !!img && img.complete && img.naturalWidth > 0; }"
)
SHARE_ANSWERED = (
    "() => ['ok', 'error'].includes(document.getElementById('share-result').dataset.state)"
)


@pytest.fixture(scope="module", params=["flask", "django"])
def example(request: pytest.FixtureRequest) -> str:
    """The example the demo serves (``--app``): the Flask one, and Django's alike."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def demo(example: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    """One demo per example, as `bash scripts/demo --app EXAMPLE` runs it (each test's
    browser context is fresh: no test sees another's login)."""
    with running_demo(tmp_path_factory.mktemp("demo") / "demo.sqlite3", example) as running:
        yield running


@pytest.fixture
def native_side() -> None:
    """The demo's stand-in brings the bridge of the demo's own fake."""
    return None


@pytest.fixture
def fake_url(demo: RunningDemo) -> str:
    found = re.search(r"FakeWeChat at (http://127\.0\.0\.1:\d+)", demo.printed)
    assert found, demo.printed
    return found.group(1)


@pytest.fixture
def phone(open_page: OpenPage) -> Page:
    """WeChat on an iPhone: a 390x844 window with WeChat's iOS User-Agent."""
    return open_page(user_agent=IOS_WECHAT_UA, mobile=True)


@pytest.fixture
def desktop(open_page: OpenPage) -> Page:
    """Desktop Chrome in a 1280x800 window."""
    return open_page(user_agent=DESKTOP_UA, mobile=False)


def open_settled(page: Page, url: str) -> None:
    """Open ``url`` (through any login redirects) and wait for the JS-SDK's verdict."""
    page.goto(url, wait_until="load")
    page.wait_for_function(SETTLED)


def text(page: Page, selector: str) -> str:
    return " ".join((page.text_content(selector) or "").split())


@pytest.fixture
def artifact(screenshot_path: Path, example: str) -> Callable[[str], str]:
    """``artifact("phone")``: test-artifacts/e2e/demo-phone.png (Flask) or
    demo-django-phone.png, beside the other tests' screenshots."""
    prefix = "demo-" if example == "flask" else f"demo-{example}-"
    return lambda name: str(screenshot_path.with_name(f"{prefix}{name}.png"))


# --------------------------------------------------------------------------- a phone in WeChat


def test_a_phone_in_wechat_shows_the_openid_after_the_silent_login(
    phone: Page, demo: RunningDemo
) -> None:
    open_settled(phone, demo.base_url + "/?a=1&b=2")
    assert text(phone, "#openid").startswith("o")
    assert text(phone, "#login-state").startswith("Logged in as")
    assert phone.locator("#nickname").count() == 0  # snsapi_base: no profile


def test_the_page_shows_the_url_that_was_signed_and_that_wechat_accepted_it(
    phone: Page, demo: RunningDemo
) -> None:
    open_settled(phone, demo.base_url + "/?a=1&b=2")
    assert text(phone, "#wx-status") == "ready"
    assert text(phone, "#signed-url") == demo.base_url + "/?a=1&b=2"
    assert text(phone, "#wx-verdict") == "accepted"


def test_after_the_consent_route_the_page_shows_the_nickname_and_the_avatar(
    phone: Page, demo: RunningDemo, fake_url: str, artifact: Callable[[str], str]
) -> None:
    open_settled(phone, demo.base_url + "/account")  # snsapi_userinfo: one consent screen
    phone.wait_for_function(AVATAR_LOADED)  # the image the fake serves, loaded
    phone.screenshot(path=artifact("phone-profile"), full_page=True)
    assert text(phone, "#nickname") == "WeChat User"
    assert (phone.get_attribute("#avatar", "src") or "").startswith(fake_url + "/")
    assert text(phone, "#openid").startswith("o")


def test_the_share_button_calls_the_jssdk_through_the_helper(
    phone: Page, demo: RunningDemo, artifact: Callable[[str], str]
) -> None:
    open_settled(phone, demo.base_url + "/?a=1&b=2")
    phone.click("#share")
    phone.wait_for_function(SHARE_ANSWERED)
    phone.screenshot(path=artifact("phone"), full_page=True)
    assert text(phone, "#share-result").startswith("updateAppMessageShareData:ok")
    calls = phone.evaluate(
        "() => WeixinJSBridge.__fake.count('updateAppMessageShareData')"
    )  # WeChat's bridge was asked, once
    assert calls == 1


def test_a_single_page_route_change_keeps_the_signature_accepted(
    phone: Page, demo: RunningDemo, artifact: Callable[[str], str]
) -> None:
    landing = demo.base_url + "/spa/?from=share"
    open_settled(phone, landing)
    phone.click("text=SPA profile")  # history.pushState: no page load
    phone.wait_for_function(
        "() => Number(document.getElementById('wx-ready-count').textContent) >= 2"
        " || document.getElementById('wx-status').textContent.indexOf('error') === 0"
    )
    phone.screenshot(path=artifact("phone-spa"), full_page=True)
    assert text(phone, "#route") == "/spa/profile?tab=1"
    assert text(phone, "#wx-verdict") == "accepted"
    assert text(phone, "#signed-url") == landing  # iOS WeChat checks the landing URL


def test_logging_out_shows_the_page_logged_out(phone: Page, demo: RunningDemo) -> None:
    open_settled(phone, demo.base_url + "/second?from=home")
    assert text(phone, "#openid")
    phone.click("#logout")  # a POST form to request.wechat.logout_url()
    phone.wait_for_load_state("load")
    assert urlsplit(phone.url).path == "/second"
    assert text(phone, "#openid") == ""
    assert text(phone, "#login-state").startswith("Not logged in")
    assert phone.locator("#logout").count() == 0


# --------------------------------------------------------------------------- a desktop browser
# The demo configures the fake's website app: a desktop browser is sent to its QR login
# page, whose Scan button stands in for the phone scanning the code.


def scan_in(page: Page, fake_url: str) -> None:
    """On the fake's QR login page: the phone scans; back on the demo, settled."""
    assert page.url.startswith(fake_url + "/connect/qrconnect?")  # WeChat's QR page
    page.click("#scan")
    page.wait_for_load_state("load")
    page.wait_for_function(SETTLED)


def test_a_desktop_browser_logs_in_through_the_fakes_qr_page(
    desktop: Page, demo: RunningDemo, fake_url: str, artifact: Callable[[str], str]
) -> None:
    desktop.goto(demo.base_url + "/", wait_until="load")
    scan_in(desktop, fake_url)
    desktop.wait_for_function(AVATAR_LOADED)  # snsapi_login carries the profile
    desktop.screenshot(path=artifact("desktop"), full_page=True)
    assert urlsplit(desktop.url).path == "/"
    assert text(desktop, "#openid").startswith("o")
    assert text(desktop, "#nickname") == "WeChat User"
    assert text(desktop, "#wx-verdict") == "accepted"


def test_a_desktop_window_offers_the_qr_login_link_and_it_logs_in(
    desktop: Page, demo: RunningDemo, fake_url: str, artifact: Callable[[str], str]
) -> None:
    desktop.goto(demo.base_url + "/second?from=home", wait_until="load")
    scan_in(desktop, fake_url)
    desktop.click("#logout")  # logged out, the page shows the way back in
    desktop.wait_for_load_state("load")
    desktop.wait_for_function(SETTLED)
    desktop.screenshot(path=artifact("desktop-logged-out"), full_page=True)
    assert text(desktop, "#login-state") == "Not logged in Log in with WeChat's QR code"
    desktop.click("#login")
    desktop.wait_for_load_state("load")
    scan_in(desktop, fake_url)
    assert urlsplit(desktop.url).path == "/second"
    assert text(desktop, "#openid").startswith("o")
