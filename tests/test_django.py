"""Django: the example project (examples/django_app) with Django's test client and with
the in-process WeChat browser, under Django's WSGI and ASGI handlers, against FakeWeChat.

WeChat facts (docs/wechat-protocol.md): the server check echoes ``echostr`` when the
signature over the sorted token, timestamp and nonce matches (section 1.1); the OAuth
round trip is authorize -> callback with ``code`` and ``state`` (sections 5.1, 5.2); the
JS-SDK signature covers the page URL without its fragment (section 4).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import django
import pytest

django.setup()

from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.test import Client, RequestFactory, override_settings  # noqa: E402
from django.views import View  # noqa: E402

from wechat_middleware import WeChat  # noqa: E402
from wechat_middleware.integrations import django as integration  # noqa: E402
from wechat_middleware.signing import server_signature  # noqa: E402
from wechat_middleware.testing import FakeUser, FakeWeChat, WeChatBrowser  # noqa: E402
from wechat_middleware.testing.user_agents import IOS_WECHAT_UA, NAVIGATION_ACCEPT  # noqa: E402

from .conftest import MakeWeChat  # noqa: E402
from .security import helpers as security  # noqa: E402
from .support.example_page import Page, assert_signed_for  # noqa: E402

HANDLERS: dict[str, Callable[[], Any]] = {"wsgi": WSGIHandler, "asgi": ASGIHandler}
TOKEN = "server-check-token"  # tests/conftest.py's fake_config
ALICE = "oAliceAliceAliceAliceAlice01"


@pytest.fixture
def wechat(make_wechat: MakeWeChat) -> Iterator[WeChat]:
    """The example project's WeChat, on this test's FakeWeChat."""
    wechat = make_wechat()
    integration.set_wechat(wechat)
    yield wechat
    integration.set_wechat(None)


@pytest.fixture(params=sorted(HANDLERS))
def phone(
    request: pytest.FixtureRequest, wechat: WeChat, wechat_browser: WeChatBrowser
) -> WeChatBrowser:
    """WeChat's browser on the example project, under Django's WSGI or ASGI handler."""
    handler = HANDLERS[request.param]()
    bind = wechat_browser.wsgi if request.param == "wsgi" else wechat_browser.asgi
    return bind(handler)


# -- Django's own test client -----------------------------------------------------------------


def test_djangos_test_client_logs_in_through_wechat_and_signs_the_page(
    wechat: WeChat, fake_wechat: FakeWeChat
) -> None:
    client = Client(HTTP_USER_AGENT=IOS_WECHAT_UA, HTTP_ACCEPT=NAVIGATION_ACCEPT)
    to_wechat = client.get("/second", {"from": "share"})
    assert to_wechat.status_code == 302
    authorize = to_wechat["Location"]
    assert authorize.startswith(fake_wechat.open_base + "/connect/oauth2/authorize?")
    landed = client.get(security.authorize(authorize)[1])
    assert landed.status_code == 302 and landed["Location"] == "/second?from=share"
    page = Page.parse(client.get("/second?from=share").content.decode())
    assert page.openid == fake_wechat.default_openid
    assert_signed_for(page, "http://testserver/second?from=share", fake_wechat)


def test_a_push_reaches_its_view_past_csrf_with_the_message(wechat: WeChat) -> None:
    """The push view is ``csrf_exempt`` (WeChat sends no CSRF token); the middleware
    checked the signature and parsed the message first."""
    timestamp = str(int(wechat.clock()))
    signature = server_signature(TOKEN, timestamp, "p1")
    body = (
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]>"
        "</FromUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>"
    )
    client = Client(enforce_csrf_checks=True)
    answer = client.post(
        f"/wechat/verify?signature={signature}&timestamp={timestamp}&nonce=p1",
        body,
        content_type="text/xml",
    )
    assert answer.status_code == 200
    assert b"you said: hi" in answer.content and b"<![CDATA[o1]]>" in answer.content


def test_a_fetch_to_a_protected_view_gets_401_json_with_a_login_url(wechat: WeChat) -> None:
    client = Client(HTTP_USER_AGENT=IOS_WECHAT_UA)
    answer = client.get(
        "/api/orders", HTTP_ACCEPT="application/json", HTTP_REFERER="http://testserver/spa/x"
    )
    assert answer.status_code == 401
    assert json.loads(answer.content) == {
        "error": "login_required",
        "login_url": "/wechat/login?next=/spa/x&scope=snsapi_base",
    }


def test_a_json_view_outside_wechat_is_not_redirected(wechat: WeChat) -> None:
    answer = Client().get("/api/me", HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    assert json.loads(answer.content) == {"openid": None, "is_wechat": False}


# -- the in-process WeChat browser, WSGI and ASGI ---------------------------------------------


def test_a_wechat_browser_lands_logged_in_on_the_page_it_asked_for(
    phone: WeChatBrowser, fake_wechat: FakeWeChat
) -> None:
    landed = phone.get("/spa/profile?tab=1")
    assert [hop.status for hop in landed.hops] == [302, 302, 302, 200]
    page = Page.parse(landed.text)
    assert page.openid == fake_wechat.default_openid
    assert_signed_for(page, "http://testserver/spa/profile?tab=1", fake_wechat)


def test_the_profile_route_asks_for_consent_once_and_shows_the_nickname(
    phone: WeChatBrowser, fake_wechat: FakeWeChat, wechat: WeChat
) -> None:
    fake_wechat.add_user(FakeUser(openid=ALICE, nickname="Alice"))
    alice = phone.new(openid=ALICE)
    page = alice.get("/account")
    scopes = [url for url in page.urls if "scope=snsapi_userinfo" in url]
    assert page.status == 200 and scopes
    assert re.search(r'id="nickname">Alice</', page.text)  # the demo page's name line
    assert len(alice.get("/account").hops) == 1  # not asked again


def test_the_template_tag_loads_the_browser_helper(phone: WeChatBrowser) -> None:
    page = phone.get("/")
    assert '<script src="/wechat/jssdk/wechat.js"></script>' in page.text
    assert "wechatMiddleware.ready(" in page.text
    assert phone.get("/wechat/jssdk/wechat.js").status == 200


def test_logout_is_answered_before_csrf_and_forgets_the_user(phone: WeChatBrowser) -> None:
    phone.get("/")
    out = phone.post(
        "/wechat/logout?next=/api/me",
        {},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert out.status == 200 and out.json()["openid"] is None


def test_the_login_signal_fires_once_per_login(phone: WeChatBrowser) -> None:
    seen: list[tuple[str, bool]] = []

    def receiver(sender: Any, user: Any, is_new: bool, **kwargs: Any) -> None:
        seen.append((user.openid, is_new))

    integration.wechat_user_logged_in.connect(receiver)
    try:
        phone.get("/")
        phone.get("/second")
    finally:
        integration.wechat_user_logged_in.disconnect(receiver)
    assert len(seen) == 1 and seen[0][1] is True


LATE_URLS = """
from django.http import HttpResponse
from django.urls import path

from . import views

urlpatterns = [path("", lambda request: HttpResponse("home"))]
"""
LATE_VIEWS = """
from django.dispatch import receiver

from wechat_middleware.integrations.django import wechat_user_logged_in

seen = []


@receiver(wechat_user_logged_in)
def remember(sender, user, is_new, **kwargs):
    seen.append(user.openid)
"""


def test_a_receiver_in_views_hears_a_login_that_is_a_fresh_workers_first_request(
    wechat: WeChat,
    wechat_browser: WeChatBrowser,
    fake_wechat: FakeWeChat,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The callback is answered before routing: a worker whose first request is a login
    must still have imported the views (through the URLconf) before it sends the signal."""
    package = tmp_path / "late_project"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "urls.py").write_text(LATE_URLS)
    (package / "views.py").write_text(LATE_VIEWS)
    monkeypatch.syspath_prepend(str(tmp_path))
    with override_settings(ROOT_URLCONF="late_project.urls"):
        phone = wechat_browser.wsgi(WSGIHandler())
        home = phone.get("/")  # to WeChat, back to the callback, then routed to "/"
    assert home.status == 200 and home.text == "home"
    assert sys.modules["late_project.views"].seen == [fake_wechat.default_openid]


def test_a_failing_signal_receiver_fails_the_login_and_keeps_nothing(
    phone: WeChatBrowser,
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the user table is down")

    integration.wechat_user_logged_in.connect(broken)
    try:
        page = phone.get("/")
    finally:
        integration.wechat_user_logged_in.disconnect(broken)
    assert page.status == 500 and "Login could not be completed" in page.text
    assert phone.get("/api/me", headers={"Accept": "application/json"}).json()["openid"] is None


# -- settings, markers and the context processor ------------------------------------------------


def test_the_wechat_settings_dict_configures_the_app_over_the_environment(
    fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECHAT_APP_SECRET", fake_wechat.app_secret)  # not in the dict
    settings = {
        "APP_ID": fake_wechat.app_id,
        "SECRET_KEY": "django-secret-key-0123456789abcdefgh",
        "API_BASE": fake_wechat.api_base,
        "STORE": "memory://",
        "PROTECT": "marked",
        "EXCLUDE": ["/static/", "/assets/"],
        "LOGIN_OUTSIDE_WECHAT": False,
        "TIMEOUT": 2.5,
    }
    integration.set_wechat(None)
    with override_settings(WECHAT=settings):
        config = integration.project_wechat().config
        assert config.app_id == fake_wechat.app_id
        assert config.app_secret == fake_wechat.app_secret
        assert config.protect == "marked" and config.exclude == ("/static/", "/assets/")
        assert config.login_required_outside_wechat is False and config.timeout == 2.5
    integration.set_wechat(None)


def test_changing_the_settings_builds_the_app_again(
    fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = {
        "APP_ID": fake_wechat.app_id,
        "APP_SECRET": fake_wechat.app_secret,
        "SECRET_KEY": "django-secret-key-0123456789abcdefgh",
        "STORE": "memory://",
    }
    integration.set_wechat(None)
    with override_settings(WECHAT={**base, "SCOPE": "snsapi_base"}):
        assert integration.project_wechat().config.scope == "snsapi_base"
    with override_settings(WECHAT={**base, "SCOPE": "snsapi_userinfo"}):
        assert integration.project_wechat().config.scope == "snsapi_userinfo"
    integration.set_wechat(None)


def test_a_missing_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from wechat_middleware import ConfigError

    for name in [name for name in os.environ if name.startswith("WECHAT_")]:
        monkeypatch.delenv(name)
    integration.set_wechat(None)
    with (
        override_settings(WECHAT={"APP_ID": "wx0123456789abcdef"}),
        pytest.raises(ConfigError, match="WECHAT_APP_SECRET"),
    ):
        integration.project_wechat()
    integration.set_wechat(None)


@pytest.fixture
def marked(make_wechat: MakeWeChat) -> Iterator[WeChat]:
    """A project whose routes need a login only where marked (WECHAT_PROTECT=marked)."""
    wechat = make_wechat(protect="marked")
    integration.set_wechat(wechat)
    yield wechat
    integration.set_wechat(None)


def marked_request(marked: WeChat, **headers: str) -> HttpRequest:
    """A request that went through the middleware (WeChat's browser, no user)."""
    request = RequestFactory().get("/orders", HTTP_USER_AGENT=IOS_WECHAT_UA, **headers)
    integration.WeChatMiddleware(lambda request: HttpResponse("unused"))(request)
    return request


def test_the_decorator_sends_a_page_to_log_in_with_the_scope(marked: WeChat) -> None:
    @integration.wechat_login_required(scope="snsapi_userinfo")
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("secret")

    answer = view(marked_request(marked, HTTP_ACCEPT=NAVIGATION_ACCEPT))
    assert answer.status_code == 302
    assert answer["Location"] == "/wechat/login?next=/orders&scope=snsapi_userinfo"


def test_the_bare_decorator_protects_an_async_view(marked: WeChat) -> None:
    import asyncio

    @integration.wechat_login_required
    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("secret")

    answer = asyncio.run(view(marked_request(marked, HTTP_ACCEPT="application/json")))
    assert answer.status_code == 401


def test_the_mixin_protects_a_class_based_view(marked: WeChat) -> None:
    class Orders(integration.WeChatLoginRequiredMixin, View):
        wechat_scope = "snsapi_userinfo"

        def get(self, request: HttpRequest) -> JsonResponse:
            return JsonResponse({"orders": []})

    answer = Orders.as_view()(marked_request(marked, HTTP_ACCEPT="application/json"))
    assert answer.status_code == 401
    assert json.loads(answer.content)["login_url"].endswith("scope=snsapi_userinfo")


def test_a_marker_without_the_middleware_says_what_is_missing() -> None:
    @integration.wechat_login_required
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("secret")

    with pytest.raises(RuntimeError, match="WeChatMiddleware"):
        view(RequestFactory().get("/"))


def test_the_context_processor_gives_templates_the_requests_context(marked: WeChat) -> None:
    request = marked_request(marked)
    assert integration.context_processor(request) == {"wechat": request.wechat}  # type: ignore[attr-defined]
    assert integration.context_processor(RequestFactory().get("/")) == {"wechat": None}


def test_get_wechat_is_the_requests_context_as_in_every_integration(marked: WeChat) -> None:
    request = marked_request(marked)
    assert integration.get_wechat(request) is request.wechat  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="WeChatMiddleware"):
        integration.get_wechat(RequestFactory().get("/"))


def test_get_wechat_without_a_request_is_the_deprecated_project_accessor(marked: WeChat) -> None:
    with pytest.warns(DeprecationWarning, match="project_wechat"):
        assert integration.get_wechat() is integration.project_wechat() is marked
