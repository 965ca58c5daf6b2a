"""The pytest plugin as a user's suite sees it: ``fake_wechat``, ``wechat_env``, ``wechat_browser``.

The browser is WeChat's in-app browser, scripted: WeChat's User-Agent, every redirect
followed, cookies kept. It is checked the three ways a user drives an app: a live server
over real sockets, a WSGI app in-process and an ASGI app in-process. In-process, the hop
to FakeWeChat's authorize page still crosses a real socket.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import requests
from starlette.applications import Starlette
from werkzeug.serving import make_server

from wechat_middleware import WeChat
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.browser import (
    TooManyRedirects,
    WeChatBrowser,
    fake_wechat_env,
)
from wechat_middleware.testing.user_agents import IOS_WECHAT_UA, WXWORK_UA

from .support.apps import flask_app, starlette_app

OpenSite = Callable[..., WeChatBrowser]
START = "/?a=1&b=2"


@pytest.fixture(params=["live", "wsgi", "asgi"])
def open_site(
    request: pytest.FixtureRequest, wechat_env: dict[str, str], wechat_browser: WeChatBrowser
) -> Iterator[OpenSite]:
    """``open_site(scope=..., **browser_options)``: an app on the fake, and a browser on it.

    live: the Flask app behind a real werkzeug server; wsgi/asgi: in-process.
    """
    servers: list[Any] = []
    wechats: list[WeChat] = []

    def open_site(scope: str = "snsapi_base", **options: Any) -> WeChatBrowser:
        wechat = WeChat.from_env(scope=scope)
        wechats.append(wechat)
        if request.param == "wsgi":
            return wechat_browser.wsgi(flask_app(wechat), **options)
        if request.param == "asgi":
            return wechat_browser.asgi(starlette_app(wechat), **options)
        server = make_server("127.0.0.1", 0, flask_app(wechat), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return wechat_browser.new(base_url=f"http://127.0.0.1:{server.server_port}", **options)

    yield open_site
    for server in servers:
        server.shutdown()
        server.server_close()
    for wechat in wechats:
        wechat.close()


def assert_valid_signature(fake: FakeWeChat, signature: Any, url: str) -> None:
    assert signature["url"] == url
    assert fake.check_jsapi_signature(
        url, signature["nonceStr"], signature["timestamp"], signature["signature"]
    )


# -- fake_wechat and wechat_env ----------------------------------------------------------


def test_fake_wechat_is_a_running_fake_with_counters(fake_wechat: FakeWeChat) -> None:
    reply = requests.get(
        f"{fake_wechat.api_base}/cgi-bin/token",
        params={
            "grant_type": "client_credential",
            "appid": fake_wechat.app_id,
            "secret": fake_wechat.app_secret,
        },
        timeout=5,
    )
    assert reply.json()["expires_in"] == 7200
    assert fake_wechat.calls("cgi-bin/token") == 1


def test_wechat_env_points_wechat_from_env_at_the_fake(
    wechat_env: dict[str, str], fake_wechat: FakeWeChat
) -> None:
    assert {name: os.environ[name] for name in wechat_env} == wechat_env
    wechat = WeChat.from_env()
    try:
        assert wechat.config.api_base == wechat.config.open_base == fake_wechat.base_url
        assert wechat.config.store == "memory://"
        assert wechat.config.token and len(wechat.config.secret_key or "") >= 32
        signature = wechat.jssdk.get_signature_by_url("http://127.0.0.1:8000/?a=1")
        assert_valid_signature(fake_wechat, signature, "http://127.0.0.1:8000/?a=1")
    finally:
        wechat.close()


def test_wechat_env_removes_other_wechat_variables(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECHAT_PUBLIC_URL", "https://shop.example.com")
    monkeypatch.setenv("WECHAT_SCOPE", "snsapi_userinfo")
    request.getfixturevalue("wechat_env")
    assert "WECHAT_PUBLIC_URL" not in os.environ
    assert "WECHAT_SCOPE" not in os.environ


def test_each_environment_gets_its_own_secrets(fake_wechat: FakeWeChat) -> None:
    first, second = fake_wechat_env(fake_wechat), fake_wechat_env(fake_wechat)
    assert first["WECHAT_SECRET_KEY"] != second["WECHAT_SECRET_KEY"]
    assert first["WECHAT_TOKEN"] != second["WECHAT_TOKEN"]


# -- wechat_browser: the login, three ways ----------------------------------------------


def test_browser_logs_in_through_the_fake_and_lands_on_the_page_it_asked_for(
    open_site: OpenSite, fake_wechat: FakeWeChat
) -> None:
    browser = open_site()
    page = browser.get(START)
    site = browser.base_url
    assert page.status == 200
    assert page.url == f"{site}{START}"
    assert [hop.status for hop in page.hops] == [302, 302, 302, 200]
    to_wechat, authorize, callback, landing = page.urls
    assert to_wechat == landing == f"{site}{START}"
    assert authorize.startswith(f"{fake_wechat.open_base}/connect/oauth2/authorize?")
    assert "#" not in authorize  # the #wechat_redirect fragment is never sent
    assert callback.startswith(f"{site}/wechat/oauth-callback?code=")
    state = page.json()
    assert state["openid"] == fake_wechat.default_openid
    assert_valid_signature(fake_wechat, state["signature"], f"{site}{START}")


def test_browser_keeps_the_session_cookie(open_site: OpenSite, fake_wechat: FakeWeChat) -> None:
    browser = open_site()
    browser.get(START)
    again = browser.get("/second")
    assert len(again.hops) == 1
    assert again.json()["openid"] == fake_wechat.default_openid


def test_openid_chooses_who_logs_in(open_site: OpenSite) -> None:
    page = open_site(openid="o-alice").get(START)
    assert page.json()["openid"] == "o-alice"


def test_a_new_browser_is_another_phone_with_its_own_login(open_site: OpenSite) -> None:
    alice = open_site(openid="o-alice")
    bob = alice.new(openid="o-bob")
    assert alice.get(START).json()["openid"] == "o-alice"
    assert len(bob.get(START).hops) == 4  # not logged in by alice's cookie
    assert bob.get("/").json()["openid"] == "o-bob"
    assert alice.get("/").json()["openid"] == "o-alice"


def test_declining_consent_ends_on_the_apps_cancelled_page(open_site: OpenSite) -> None:
    page = open_site(scope="snsapi_userinfo", consent=False).get(START)
    assert page.status == 403
    assert "cancelled" in page.text
    assert "code=" not in page.urls[2]  # WeChat sends the state alone


def test_android_wechat_logs_in_and_a_desktop_browser_does_not(
    open_site: OpenSite, fake_wechat: FakeWeChat
) -> None:
    android = open_site(user_agent="android").get(START)
    assert len(android.hops) == 4
    assert android.json()["openid"] == fake_wechat.default_openid
    desktop = open_site(user_agent="desktop").get(START)
    assert len(desktop.hops) == 1
    assert desktop.json()["openid"] is None and desktop.json()["is_wechat"] is False


def test_follow_redirects_false_stops_at_the_first_answer(open_site: OpenSite) -> None:
    first = open_site().get(START, follow_redirects=False)
    assert first.status == 302
    assert first.headers["location"].endswith("#wechat_redirect")
    assert first.hops[0].location == first.headers["Location"]


# -- wechat_browser: the edges -------------------------------------------------------------


def redirect_to_self(environ: Any, start_response: Any) -> list[bytes]:
    start_response("302 Found", [("Location", "/again")])
    return [b""]


def test_a_redirect_loop_fails_with_every_hop(wechat_browser: WeChatBrowser) -> None:
    browser = wechat_browser.wsgi(redirect_to_self)
    with pytest.raises(TooManyRedirects) as raised:
        browser.get("/")
    assert "GET http://testserver/again -> 302" in str(raised.value)


def form_then_done(environ: Any, start_response: Any) -> list[bytes]:
    if environ["PATH_INFO"] == "/submit":
        start_response("303 See Other", [("Location", "/done")])
        return [b""]
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()]


def test_a_form_post_answered_303_continues_as_get(wechat_browser: WeChatBrowser) -> None:
    page = wechat_browser.wsgi(form_then_done).post("/submit", {"name": "value"})
    assert [(hop.method, hop.status) for hop in page.hops] == [("POST", 303), ("GET", 200)]
    assert page.text == "GET /done"


def test_a_relative_url_needs_a_base_url(wechat_browser: WeChatBrowser) -> None:
    with pytest.raises(ValueError, match="relative"):
        wechat_browser.get("/page")


def test_an_asgi_apps_lifespan_runs_while_its_browser_is_open(
    wechat_browser: WeChatBrowser,
) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        events.append("startup")
        yield
        events.append("shutdown")

    browser = wechat_browser.asgi(Starlette(lifespan=lifespan))
    assert events == ["startup"]
    assert browser.get("/").status == 404
    wechat_browser.close()
    assert events == ["startup", "shutdown"]


# -- wechat_browser: byte-exact requests in-process ----------------------------------------


def echo_environ(environ: Any, start_response: Any) -> list[bytes]:
    keys = ("PATH_INFO", "QUERY_STRING", "RAW_URI", "HTTP_HOST", "HTTP_USER_AGENT", "HTTP_COOKIE")
    seen = {key: environ.get(key) for key in keys}
    start_response("200 OK", [("Content-Type", "application/json"), ("Set-Cookie", "a=1; Path=/")])
    return [json.dumps(seen).encode()]


async def echo_scope(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "http"  # no lifespan: served anyway, as by uvicorn
    seen = {
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query_string": scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
    }
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"set-cookie", b"a=1; Path=/"), (b"set-cookie", b"b=2; Path=/")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(seen).encode()})


def test_a_bytes_target_and_header_bytes_reach_the_wsgi_environ_as_gunicorn_builds_it(
    wechat_browser: WeChatBrowser,
) -> None:
    browser = wechat_browser.wsgi(echo_environ)
    seen = browser.get(
        b"/a%2Fb/\xff?x=%zz&\xfe", headers={"Host": b"evil\r\nX: 1", "Cookie": None}
    ).json()
    assert seen["PATH_INFO"] == "/a/b/\xff"  # percent-decoded, then latin-1
    assert seen["RAW_URI"] == "/a%2Fb/\xff?x=%zz&\xfe"
    assert seen["QUERY_STRING"] == "x=%zz&\xfe"
    assert seen["HTTP_HOST"] == "evil\r\nX: 1"
    assert seen["HTTP_USER_AGENT"] == IOS_WECHAT_UA
    assert seen["HTTP_COOKIE"] is None
    assert browser.get("/again").json()["HTTP_COOKIE"] == "a=1"  # the jar kept it
    assert browser.get(b"/", headers={"Host": None}).json()["HTTP_HOST"] is None


def test_a_bytes_target_and_header_bytes_reach_the_asgi_scope_as_uvicorn_builds_it(
    wechat_browser: WeChatBrowser,
) -> None:
    browser = wechat_browser.asgi(echo_scope, user_agent="wxwork")
    answer = browser.get(b"/a%2Fb/\xff?x=%zz", headers={"Host": b"h\xff"})
    seen = answer.json()
    assert (seen["path"], seen["raw_path"]) == ("/a/b/\xff", "/a%2Fb/\xff")
    assert seen["query_string"] == "x=%zz"
    assert ["host", "h\xff"] in seen["headers"]
    assert ["user-agent", WXWORK_UA] in seen["headers"]
    assert answer.set_cookies == ["a=1; Path=/", "b=2; Path=/"]  # each header line kept


def test_a_bytes_target_needs_an_in_process_app(wechat_browser: WeChatBrowser) -> None:
    with pytest.raises(ValueError, match="in-process"):
        wechat_browser.new(base_url="http://127.0.0.1:9").get(b"/page")


def test_before_redirect_sees_every_hop_before_it_is_taken(open_site: OpenSite) -> None:
    browser = open_site()
    taken: list[str] = []
    page = browser.get(START, before_redirect=taken.append)
    assert taken == page.urls[1:]


def test_an_asgi_app_whose_startup_fails_is_not_served(wechat_browser: WeChatBrowser) -> None:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        raise RuntimeError("no database")
        yield

    with pytest.raises(RuntimeError, match="startup failed"):
        wechat_browser.asgi(Starlette(lifespan=lifespan))
