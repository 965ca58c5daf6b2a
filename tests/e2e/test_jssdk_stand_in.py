"""FakeWeChat's native side (``window.WeixinJSBridge``) under the official jweixin-1.6.0.js
(npm, unmodified), in a real browser on a page of another origin; and the stand-in that
gives a plain browser both halves.

``wx.config`` asks the bridge's ``preVerifyJSAPI``, which has the fake check the signature
for the URL the platform checks, without its ``#fragment`` (a cross-origin request, CORS
preflight included): after ``history.pushState`` the landing URL for iOS WeChat, the
current URL for Android WeChat. jweixin then calls ``wx.error({errMsg})`` on a failure and
runs the ``wx.ready`` handlers at completion, failed or not (jweixin-1.6.0: the check's
``complete`` runs the queued ready handlers after ``fail``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from wechat_middleware.signing import jsapi_signature
from wechat_middleware.testing import FakeWeChat, Fault
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA, DESKTOP_UA, IOS_WECHAT_UA

from ..support.official_sdks import OfficialSDKs
from ..support.servers import PageServer
from ..support.tickets import live_jsapi_ticket
from .conftest import OpenPage

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page

CONFIG_CHECK = "fake/jssdk/config"
PAGE_PATH = "/shop/item?id=7&from=timeline"
NONCE = "Wm3WZYTPz0wzccnW"

# The page under test only loads the stand-in; each test drives ``wx`` itself.
PAGE_HTML = (
    '<!doctype html><html><head><meta charset="utf-8"><title>JS-SDK stand-in</title></head>'
    '<body><p>JS-SDK stand-in</p><script src="{src}"></script>'
    "<script>window.events = []; window.record = function (name) {{ return function (res) {{"
    " window.events.push(res && res.errMsg ? name + ': ' + res.errMsg : name); }}; }};"
    "</script></body></html>"
)
REGISTER_THEN_CONFIG = """cfg => {
  wx.ready(record("ready"));
  wx.error(record("error"));
  wx.config(cfg);
}"""
# jweixin runs ready handlers when the check completes, after wx.error on a failure.
AND_THEN_READY = "ready"


@pytest.fixture
def native_side(fake_wechat: FakeWeChat) -> FakeWeChat:
    """WeChat's pages here get the bridge of the fake the tests sign with."""
    return fake_wechat


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    with PageServer() as server:
        yield server


def sdk_page(
    open_page: OpenPage, pages: PageServer, src: str, user_agent: str = IOS_WECHAT_UA
) -> Page:
    """A browser with ``user_agent`` at a page of the page server that has loaded ``src``."""
    opened = open_page(user_agent=user_agent, mobile=True)
    pages.add(PAGE_PATH, PAGE_HTML.format(src=src))
    opened.goto(pages.url(PAGE_PATH), wait_until="load")
    return opened


@pytest.fixture
def page(open_page: OpenPage, pages: PageServer, official_sdks: OfficialSDKs) -> Page:
    """WeChat's browser on iOS, at a page of the page server that has loaded jweixin."""
    return sdk_page(open_page, pages, official_sdks.jweixin_url)


def signed_config(fake: FakeWeChat, url: str, **overrides: Any) -> dict[str, Any]:
    """``wx.config``'s argument, signed for ``url`` as an app would."""
    timestamp = int(time.time())
    cfg: dict[str, Any] = {
        "debug": False,
        "appId": fake.app_id,
        "timestamp": timestamp,
        "nonceStr": NONCE,
        "signature": jsapi_signature(live_jsapi_ticket(fake), NONCE, timestamp, url),
        "jsApiList": ["updateAppMessageShareData", "updateTimelineShareData"],
    }
    cfg.update(overrides)
    return cfg


def config(page: Page, cfg: dict[str, Any]) -> list[str]:
    """Register ready and error handlers, call ``wx.config``; the events once ready ran."""
    page.evaluate(REGISTER_THEN_CONFIG, cfg)
    page.wait_for_function("() => window.events.indexOf('ready') >= 0")
    recorded: list[str] = page.evaluate("() => window.events")
    return recorded


def events(page: Page, count: int) -> list[str]:
    """The page's recorded events once there are ``count`` of them (bounded wait)."""
    page.wait_for_function("n => window.events.length >= n", arg=count)
    recorded: list[str] = page.evaluate("() => window.events")
    return recorded


# --------------------------------------------------------------------------- the verdict


def test_right_signature_fires_ready(page: Page, fake_wechat: FakeWeChat) -> None:
    assert config(page, signed_config(fake_wechat, page.url)) == ["ready"]


def test_each_config_is_one_check_with_the_fake(page: Page, fake_wechat: FakeWeChat) -> None:
    config(page, signed_config(fake_wechat, page.url))

    assert fake_wechat.calls(CONFIG_CHECK) == 1  # the CORS preflight is not a check


def test_forged_signature_fires_error_invalid_signature(
    page: Page, fake_wechat: FakeWeChat
) -> None:
    cfg = signed_config(fake_wechat, page.url, signature="0" * 40)

    assert config(page, cfg) == ["error: config:invalid signature", AND_THEN_READY]


def test_another_app_id_fires_error_invalid_url_domain(page: Page, fake_wechat: FakeWeChat) -> None:
    cfg = signed_config(fake_wechat, page.url, appId="wx00000000000000ff")

    assert config(page, cfg) == ["error: config:invalid url domain", AND_THEN_READY]


def test_check_that_cannot_reach_wechat_fires_error_config_fail(
    page: Page, fake_wechat: FakeWeChat
) -> None:
    # Until cleared: Chromium silently retries a request whose reused keep-alive
    # connection closes without an answer, so a one-off drop would not be seen.
    fake_wechat.inject(CONFIG_CHECK, Fault("drop", times=None))

    assert config(page, signed_config(fake_wechat, page.url)) == [
        "error: config:fail",
        AND_THEN_READY,
    ]


# --------------------------------------------------------------------------- the page URL


def test_page_url_is_checked_without_its_fragment(page: Page, fake_wechat: FakeWeChat) -> None:
    page.evaluate("() => { location.hash = 'reviews'; }")
    assert page.url.endswith("#reviews")

    cfg = signed_config(fake_wechat, page.url.split("#", 1)[0])

    assert config(page, cfg) == ["ready"]


def test_signature_over_the_url_with_its_fragment_is_invalid(
    page: Page, fake_wechat: FakeWeChat
) -> None:
    page.evaluate("() => { location.hash = 'reviews'; }")

    cfg = signed_config(fake_wechat, page.url)

    assert config(page, cfg) == ["error: config:invalid signature", AND_THEN_READY]


# --------------------------------------------------------------------------- single-page apps

ROUTE = "/shop/item/8?tab=reviews"
PUSH_ROUTE = f"() => history.pushState(null, '', {ROUTE!r})"


def test_ios_checks_the_landing_url_after_a_route_change(
    page: Page, fake_wechat: FakeWeChat
) -> None:
    landing = page.url
    page.evaluate(PUSH_ROUTE)

    assert config(page, signed_config(fake_wechat, landing)) == ["ready"]


def test_ios_rejects_the_current_urls_signature_after_a_route_change(
    page: Page, fake_wechat: FakeWeChat
) -> None:
    page.evaluate(PUSH_ROUTE)

    cfg = signed_config(fake_wechat, page.url)

    assert config(page, cfg) == ["error: config:invalid signature", AND_THEN_READY]


@pytest.mark.parametrize("signed", ["current", "landing"])
def test_android_checks_the_current_url_after_a_route_change(
    open_page: OpenPage,
    pages: PageServer,
    fake_wechat: FakeWeChat,
    official_sdks: OfficialSDKs,
    signed: str,
) -> None:
    android = sdk_page(open_page, pages, official_sdks.jweixin_url, ANDROID_WECHAT_UA)
    landing = android.url
    android.evaluate(PUSH_ROUTE)

    cfg = signed_config(fake_wechat, android.url if signed == "current" else landing)

    expected = ["error: config:invalid signature"] if signed == "landing" else []
    assert config(android, cfg) == [*expected, AND_THEN_READY]


def test_stand_in_loaded_after_a_route_change_knows_the_landing_url(
    open_page: OpenPage, pages: PageServer, fake_wechat: FakeWeChat
) -> None:
    # The landing URL is the document's, not the URL when the script happens to load.
    opened = open_page(user_agent=DESKTOP_UA, mobile=False)  # no bridge: the stand-in's
    opened.goto(pages.add(PAGE_PATH, "<!doctype html><title>late</title>"), wait_until="load")
    opened.evaluate(PUSH_ROUTE)
    opened.add_script_tag(url=fake_wechat.jssdk_url)

    assert opened.evaluate("() => WeixinJSBridge.__fake.landingUrl") == pages.url(PAGE_PATH)


# --------------------------------------------------------------------------- handlers


def test_ready_handler_registered_after_ready_still_fires(
    page: Page, fake_wechat: FakeWeChat
) -> None:
    config(page, signed_config(fake_wechat, page.url))

    page.evaluate("() => wx.ready(record('late ready'))")

    assert events(page, 2) == ["ready", "late ready"]


def test_error_handler_registered_after_an_unhandled_failure_fires_with_its_reason(
    page: Page, fake_wechat: FakeWeChat
) -> None:
    cfg = signed_config(fake_wechat, page.url, signature="0" * 40)
    page.evaluate("cfg => { wx.ready(record('ready')); wx.config(cfg); }", cfg)
    events(page, 1)

    page.evaluate("() => wx.error(record('late error'))")

    assert events(page, 2) == ["ready", "late error: config:invalid signature"]


def test_a_later_configuration_does_not_make_ready_wait_again(
    page: Page, fake_wechat: FakeWeChat
) -> None:
    # jweixin-1.6.0: ready(f) is `0 != state ? f() : push(f)`, and the state never goes
    # back to 0: a ready handler after any completed configuration runs at once, before
    # WeChat judged the new one (which is why the helper asks the bridge itself).
    config(page, signed_config(fake_wechat, page.url))
    bad = signed_config(fake_wechat, page.url, signature="0" * 40)

    page.evaluate("cfg => { wx.config(cfg); wx.ready(record('second ready')); }", bad)

    assert events(page, 3) == ["ready", "second ready", "error: config:invalid signature"]


def test_debug_config_alerts_the_result_like_the_real_sdk(
    page: Page, fake_wechat: FakeWeChat
) -> None:
    alerts: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        alerts.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)

    config(page, signed_config(fake_wechat, page.url, debug=True))

    assert alerts == ['{"errMsg":"config:ok"}']


# --------------------------------------------------------------------------- the APIs


def test_share_apis_answer_success(page: Page, fake_wechat: FakeWeChat) -> None:
    config(page, signed_config(fake_wechat, page.url))

    page.evaluate(
        """() => wx.updateAppMessageShareData({
            title: "Item 7", desc: "On sale", link: location.href, imgUrl: "",
            success: record("shared")
        })"""
    )

    assert events(page, 2) == ["ready", "shared: updateAppMessageShareData:ok"]


def test_check_js_api_reports_the_clients_apis_as_available(page: Page) -> None:
    result = page.evaluate(
        """() => new Promise(resolve => wx.checkJsApi({
            jsApiList: ["updateTimelineShareData", "noSuchApi"],
            success: res => resolve(res.checkResult)
        }))"""
    )

    assert result == {"updateTimelineShareData": True, "noSuchApi": False}


# --------------------------------------------------------------------------- the stand-in


def test_the_stand_in_gives_a_plain_browser_both_halves_and_behaves_as_jweixin(
    open_page: OpenPage, pages: PageServer, fake_wechat: FakeWeChat
) -> None:
    # The demo in a desktop browser: no WeChat, so the stand-in brings the bridge too.
    desktop = open_page(user_agent=DESKTOP_UA, mobile=False)
    desktop.goto(pages.add(PAGE_PATH, PAGE_HTML.format(src=fake_wechat.jssdk_url)))

    assert config(desktop, signed_config(fake_wechat, desktop.url)) == ["ready"]
    bad = signed_config(fake_wechat, desktop.url, signature="0" * 40)
    desktop.evaluate("cfg => { wx.config(cfg); wx.ready(record('second ready')); }", bad)
    assert events(desktop, 3) == ["ready", "second ready", "error: config:invalid signature"]
