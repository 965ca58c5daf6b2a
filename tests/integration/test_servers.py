"""Acceptance tests: a WeChat browser against the example apps in real servers.

Each test runs against Flask under gunicorn (4 sync worker processes), Starlette under
uvicorn (2 worker processes) and Django under both (its WSGI and its ASGI handler), all
talking to FakeWeChat over loopback sockets and sharing tokens between workers only
through the SQLite store.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest

from wechat_middleware.testing import FakeWeChat, WeChatBrowser

from ..support.example_page import Page, assert_signed_for, log_in, new_openid
from ..support.servers import AppServer

pytestmark = pytest.mark.slow

CALLBACK_PATH = "/wechat/oauth-callback"
VERIFY_PATH = "/wechat/verify"
AUTHORIZE_PATH = "/connect/oauth2/authorize"
CONCURRENT_BROWSERS = 40


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_wechat_browser_is_sent_through_oauth_and_lands_on_the_page_it_asked_for(
    app_server: AppServer, shared_fake: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    # WeChat web OAuth: the page sends the browser to open.weixin.qq.com's authorize URL
    # (which must end in #wechat_redirect); WeChat sends it back to redirect_uri with a
    # single-use `code` and the `state` unchanged; the app then returns to the page.
    openid = new_openid()
    browser = wechat_browser.new(openid=openid)
    fake_netloc = urlsplit(shared_fake.base_url).netloc

    to_wechat = browser.get(app_server.url("/?a=1&b=2"), follow_redirects=False)
    assert to_wechat.status == 302
    authorize_url = to_wechat.headers["Location"]
    assert authorize_url.endswith("#wechat_redirect")
    authorize = urlsplit(authorize_url)
    assert (authorize.scheme, authorize.netloc, authorize.path) == (
        "http",
        fake_netloc,
        AUTHORIZE_PATH,
    )
    params = query_of(authorize_url)
    assert params["appid"] == [shared_fake.app_id]
    assert params["redirect_uri"] == [app_server.url(CALLBACK_PATH)]
    assert params["response_type"] == ["code"]
    assert params["scope"] == ["snsapi_base"]
    (state,) = params["state"]
    assert state

    to_callback = browser.get(authorize_url, follow_redirects=False)
    assert to_callback.status == 302
    callback_url = to_callback.headers["Location"]
    callback = urlsplit(callback_url)
    assert (callback.netloc, callback.path) == (app_server.netloc, CALLBACK_PATH)
    assert query_of(callback_url)["state"] == [state]
    assert query_of(callback_url)["code"][0]

    back_to_page = browser.get(callback_url, follow_redirects=False)
    assert back_to_page.status == 302
    assert back_to_page.headers["Location"] == "/?a=1&b=2"

    landed = browser.get(app_server.url(back_to_page.headers["Location"]))
    assert landed.status == 200
    page = Page.parse(landed.text)
    assert page.openid == openid
    assert_signed_for(page, app_server.url("/?a=1&b=2"), shared_fake)


def test_40_concurrent_cold_browsers_cause_one_token_and_one_ticket_fetch(
    cold_app_server: AppServer, fake_wechat: FakeWeChat
) -> None:
    # WeChat limits access-token fetches per day, and a new jsapi ticket is only fetched
    # with a token: however many workers and visitors, one fetch of each per expiry.
    assert fake_wechat.calls("cgi-bin/stable_token") == 0  # readiness cost nothing
    openids = [new_openid() for _ in range(CONCURRENT_BROWSERS)]
    landing = threading.Barrier(CONCURRENT_BROWSERS, timeout=60)

    def one_visit(openid: str) -> Page:
        with WeChatBrowser(openid=openid) as browser:
            try:
                # All 40 land on the page, which needs the ticket, at the same moment.
                return log_in(browser, cold_app_server, "/", before_landing=landing.wait)
            except BaseException:
                landing.abort()
                raise

    with ThreadPoolExecutor(max_workers=CONCURRENT_BROWSERS) as pool:
        pages = list(pool.map(one_visit, openids))

    assert [page.openid for page in pages] == openids
    for page in pages:
        assert_signed_for(page, cold_app_server.url("/"), fake_wechat)
    assert fake_wechat.calls("cgi-bin/stable_token") == 1
    assert fake_wechat.calls("cgi-bin/ticket/getticket") == 1
