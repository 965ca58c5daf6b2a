"""Acceptance tests: a WeChat browser against the example apps in real servers.

Each test runs against Flask under gunicorn (4 sync worker processes), Starlette under
uvicorn (2 worker processes) and Django under both (its WSGI and its ASGI handler), all
talking to FakeWeChat over loopback sockets and sharing tokens between workers only
through the SQLite store.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from wechat_middleware.signing import server_signature
from wechat_middleware.testing import FakeWeChat, WeChatBrowser

from ..support.example_page import Page
from ..support.servers import SERVER_CHECK_TOKEN, AppServer

pytestmark = pytest.mark.slow

CALLBACK_PATH = "/wechat/oauth-callback"
VERIFY_PATH = "/wechat/verify"
AUTHORIZE_PATH = "/connect/oauth2/authorize"
CONCURRENT_BROWSERS = 40


def new_openid() -> str:
    """Shaped like WeChat's: 28 characters of [A-Za-z0-9_-] starting with "o"."""
    return "o" + secrets.token_urlsafe(20)[:27]


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def assert_signed_for(page: Page, url: str, fake: FakeWeChat) -> None:
    """The page's wx.config would pass WeChat's check for exactly ``url``."""
    signature = page.signature
    assert signature is not None, "the page has no JS-SDK signature"
    assert signature["url"] == url
    assert signature["appId"] == fake.app_id
    assert fake.check_jsapi_signature(
        url, signature["nonceStr"], signature["timestamp"], signature["signature"]
    ), f"FakeWeChat rejects the signature {signature!r}"


def log_in(
    browser: WeChatBrowser,
    server: AppServer,
    path: str,
    before_landing: Callable[[], object] | None = None,
) -> Page:
    """Run the whole OAuth round trip from ``path`` and return the page it lands on.

    ``before_landing`` runs just before the redirect back to ``path`` is followed."""
    url = server.url(path)

    def before_redirect(next_url: str) -> None:
        if before_landing is not None and next_url == url:
            before_landing()

    landed = browser.get(url, before_redirect=before_redirect)
    assert [hop.status for hop in landed.hops] == [302, 302, 302, 200], landed.urls
    return Page.parse(landed.text)


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


def test_plain_browser_is_not_redirected_and_sees_the_page_untouched(
    app_server: AppServer, shared_fake: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    # WeChat OAuth only works inside WeChat's browser: a desktop browser must not be sent.
    browser = wechat_browser.new(user_agent="desktop")

    response = browser.get(app_server.url("/"), follow_redirects=False)

    assert response.status == 200
    page = Page.parse(response.text)
    assert page.openid == ""
    assert_signed_for(page, app_server.url("/"), shared_fake)


NOT_NAVIGATIONS: dict[str, dict[str, Any]] = {
    "form-post": {"method": "POST", "path": "/", "body": {"x": "1"}},
    "fetch-json": {"method": "GET", "path": "/api/me", "headers": {"Accept": "application/json"}},
    "xhr": {"method": "GET", "path": "/", "headers": {"X-Requested-With": "XMLHttpRequest"}},
}


@pytest.mark.parametrize("kind", sorted(NOT_NAVIGATIONS))
def test_post_and_json_requests_from_wechat_are_never_redirected(
    app_server: AppServer, wechat_browser: WeChatBrowser, kind: str
) -> None:
    # A 302 to WeChat's authorize page is only followable by a top-level GET navigation:
    # a POST would lose its body and a script's request cannot show the consent page.
    spec = dict(NOT_NAVIGATIONS[kind])
    browser = wechat_browser.new()

    response = browser.request(
        spec.pop("method"), app_server.url(spec.pop("path")), follow_redirects=False, **spec
    )

    assert response.status != 302, response.headers.get("Location")
    assert "Location" not in response.headers
    if kind == "fetch-json":
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["openid"] is None
    elif kind == "xhr":
        assert response.status == 200
    else:
        assert response.status == 405  # the example's "/" is GET-only


def test_static_path_is_excluded_from_oauth(
    app_server: AppServer, wechat_browser: WeChatBrowser
) -> None:
    # Sub-resources are fetched without a login; /static/ is excluded by default, even
    # when the request would otherwise qualify (WeChat UA, GET, Accept: text/html).
    browser = wechat_browser.new()

    response = browser.get(app_server.url("/static/style.css"), follow_redirects=False)

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert "font-family" in response.text


def test_logged_in_browser_is_not_redirected_again(
    app_server: AppServer, shared_fake: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    # The OAuth user lives in the signed session cookie: one round trip per browser session,
    # and each page gets a JS-SDK signature for its own exact URL.
    openid = new_openid()
    browser = wechat_browser.new(openid=openid)
    log_in(browser, app_server, "/")

    response = browser.get(app_server.url("/second?x=1"), follow_redirects=False)

    assert response.status == 200
    page = Page.parse(response.text)
    assert page.openid == openid
    assert_signed_for(page, app_server.url("/second?x=1"), shared_fake)


def test_verify_path_answers_wechats_server_check(app_server: AppServer) -> None:
    # WeChat's server check: GET with signature = sha1(sorted(token, timestamp, nonce));
    # answering the echostr verbatim as plain text proves we hold the token.
    timestamp, nonce, echostr = str(int(time.time())), secrets.token_hex(8), secrets.token_hex(8)
    params = {"timestamp": timestamp, "nonce": nonce, "echostr": echostr}
    signature = server_signature(SERVER_CHECK_TOKEN, timestamp, nonce)
    url = app_server.url(VERIFY_PATH)

    valid = requests.get(url, params={**params, "signature": signature}, timeout=10)
    forged = requests.get(url, params={**params, "signature": "0" * 40}, timeout=10)

    assert valid.status_code == 200
    assert valid.headers["Content-Type"].startswith("text/plain")
    assert valid.text == echostr
    assert forged.status_code == 403
    assert forged.text != echostr


def test_a_fetch_to_a_marked_api_without_a_login_gets_401_json_with_its_login_url(
    app_server: AppServer, wechat_browser: WeChatBrowser
) -> None:
    # /api/orders needs a login; a script cannot follow WeChat's consent page, so it is
    # told where to send the user instead of being redirected.
    browser = wechat_browser.new()

    response = browser.get(
        app_server.url("/api/orders"),
        headers={"Accept": "application/json", "Referer": app_server.url("/second")},
        follow_redirects=False,
    )

    assert response.status == 401
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "login_required"
    login = urlsplit(body["login_url"])
    assert (login.path, query_of(body["login_url"])["next"]) == ("/wechat/login", ["/second"])
