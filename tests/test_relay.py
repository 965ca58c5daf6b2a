"""Logins through an OAuth relay (docs/several-domains.md).

A relay (``WECHAT_RELAY_FOR``) runs on the account's OAuth domain; a target
(``WECHAT_OAUTH_RELAY``) sends its logins through it. Here the relay is on a real socket
(127.0.0.1) and the target in-process (``http://testserver``): two origins, two cookie
jars, one FakeWeChat. The target redeems its ticket at the relay over the network, as in
production. The security properties are in tests/security/test_relay.py.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from wechat_middleware import WeChat
from wechat_middleware.cli import wsgi_server
from wechat_middleware.testing import FakeUser, FakeWeChat
from wechat_middleware.testing.browser import WeChatBrowser
from wechat_middleware.user import WeChatUser
from wechat_middleware.wsgi import WeChatMiddleware

from .conftest import MakeWeChat
from .support.marked_apps import serve
from .support.servers import REPO_ROOT
from .test_login import who

RELAY_KEY = "relay-key-0123456789abcdef0123456789"
TARGET = "http://testserver"  # the in-process browser's origin
ALICE = "oAliceAliceAliceAliceAlice01"
START = "/wechat/relay/start"
EXCHANGE = "sns/oauth2/access_token"


def nothing_here(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The relay's own app: the relay answers its paths itself, and nothing else."""
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


@contextmanager
def relay_server(wechat: WeChat) -> Iterator[str]:
    """Serve ``wechat``'s relay on 127.0.0.1; its origin."""
    server = wsgi_server("127.0.0.1", 0, WeChatMiddleware(nothing_here, wechat))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Relay:
    """A relay and the way to make its targets."""

    def __init__(self, wechat: WeChat, origin: str, make_wechat: MakeWeChat) -> None:
        self.wechat = wechat
        self.origin = origin
        self._make = make_wechat

    def target(self, **config: Any) -> WeChat:
        """A target of this relay (marked routes, its own store and cookie key)."""
        values = {"protect": "marked", "oauth_relay": self.origin, "relay_key": RELAY_KEY}
        return self._make(**{**values, **config})


@pytest.fixture
def relay(make_wechat: MakeWeChat, fake_wechat: FakeWeChat) -> Iterator[Relay]:
    fake_wechat.add_user(FakeUser(openid=ALICE, nickname="Alice", unionid="uAliceUnion0001"))
    wechat = make_wechat(
        relay_for=f"{TARGET},http://*.localhost:8000", relay_key=RELAY_KEY, protect="marked"
    )
    wechat.on_login(lambda user, is_new: pytest.fail("on_login ran on the relay"))
    with relay_server(wechat) as origin:
        yield Relay(wechat, origin, make_wechat)


def through(relay: Relay, browser: WeChatBrowser, kind: str, **config: Any) -> WeChatBrowser:
    """A browser on a target of ``relay`` (``kind``: a framework, or a Django handler)."""
    return serve(browser, kind, relay.target(**config), who, openid=ALICE)


@pytest.mark.parametrize("kind", ["flask", "starlette", "fastapi", "django-wsgi", "django-asgi"])
def test_a_login_through_the_relay_lands_on_the_page_logged_in(
    relay: Relay, wechat_browser: WeChatBrowser, fake_wechat: FakeWeChat, kind: str
) -> None:
    seen: list[WeChatUser] = []
    target = relay.target()
    target.on_login(lambda user, is_new: seen.append(user))
    browser = serve(wechat_browser, kind, target, who, openid=ALICE)
    page = browser.get("/base?x=1")
    assert page.status == 200, page.text
    assert page.json() == {"openid": ALICE, "scope": "snsapi_base", "nickname": None}
    assert page.url == f"{TARGET}/base?x=1"
    hosts = [urlsplit(url).netloc for url in page.urls]
    relay_host, fake_host = urlsplit(relay.origin).netloc, urlsplit(fake_wechat.open_base).netloc
    # target -> relay -> WeChat -> relay -> target, by plain redirects
    assert hosts == ["testserver"] * 2 + [relay_host, fake_host, relay_host] + ["testserver"] * 2
    start = parse_qs(urlsplit(page.urls[2]).query)
    assert set(start) == {"target", "state", "scope", "via"} and start["target"] == [TARGET]
    authorize = parse_qs(urlsplit(page.urls[3]).query)
    assert authorize["redirect_uri"] == [f"{relay.origin}/wechat/oauth-callback"]
    back = parse_qs(urlsplit(page.urls[5]).query)
    assert set(back) == {"relay_ticket", "state"} and back["state"] == start["state"]
    assert [user.openid for user in seen] == [ALICE]  # on_login on the target, once
    assert fake_wechat.calls(EXCHANGE) == 1  # the code was exchanged once, at the relay
    again = browser.get("/base")
    assert again.json()["openid"] == ALICE and len(again.hops) == 1  # the session is kept


def test_the_relay_keeps_no_session_for_the_user(
    relay: Relay, wechat_browser: WeChatBrowser
) -> None:
    browser = through(relay, wechat_browser, "flask")
    assert browser.get("/base").status == 200
    relay_cookies = [c for c in browser.cookies if c.domain.startswith("127.0.0.1")]
    codec = relay.wechat.rules.codec
    assert relay_cookies  # its pending login was there
    assert all(codec.loads(c.value).user is None for c in relay_cookies)


def test_a_scope_upgrade_goes_through_the_relay(
    relay: Relay, wechat_browser: WeChatBrowser
) -> None:
    browser = through(relay, wechat_browser, "starlette")
    assert browser.get("/base").json()["scope"] == "snsapi_base"
    profile = browser.get("/profile")
    assert profile.json() == {"openid": ALICE, "scope": "snsapi_userinfo", "nickname": "Alice"}
    assert any(START in url and "scope=snsapi_userinfo" in url for url in profile.urls)


def test_the_back_button_after_a_relay_login_stays_logged_in(
    relay: Relay, wechat_browser: WeChatBrowser
) -> None:
    browser = through(relay, wechat_browser, "flask")
    page = browser.get("/base")
    callback = next(url for url in page.urls if "relay_ticket=" in url)
    again = browser.get(callback)
    assert again.status == 200 and again.json()["openid"] == ALICE


def test_declining_consent_at_the_relay_comes_back_to_the_target_as_declined(
    relay: Relay, wechat_browser: WeChatBrowser
) -> None:
    browser = through(relay, wechat_browser, "flask")
    browser.consent = False
    page = browser.get("/profile")
    assert page.status == 403 and "cancelled" in page.text
    assert urlsplit(page.url).netloc == "testserver"


def test_a_desktop_browser_logs_in_by_qr_code_through_the_relay(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, wechat_browser: WeChatBrowser
) -> None:
    web_app = {"web_app_id": fake_wechat.web_app_id, "web_app_secret": fake_wechat.web_app_secret}
    fake_wechat.add_user(FakeUser(openid=ALICE, nickname="Alice", unionid="uAliceUnion0001"))
    relay_wechat = make_wechat(relay_for=TARGET, relay_key=RELAY_KEY, **web_app)
    with relay_server(relay_wechat) as origin:
        target = make_wechat(protect="marked", oauth_relay=origin, relay_key=RELAY_KEY, **web_app)
        desktop = serve(wechat_browser, "flask", target, who, openid=ALICE, user_agent="desktop")
        page = desktop.get("/base")
    assert any(START in url and "via=qrconnect" in url for url in page.urls)
    assert any("/connect/qrconnect" in url for url in page.urls)
    assert page.json()["openid"] == fake_wechat.web_openid(ALICE)


def test_the_relay_answers_whether_a_target_is_listed(relay: Relay) -> None:
    import requests

    def check(target: str, key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url = f"{relay.origin}/wechat/relay/check"
        return requests.get(url, params={"target": target}, headers=headers, timeout=5).json()

    assert check(TARGET, RELAY_KEY) == {"target": TARGET, "listed": True, "key": "ok"}
    assert check("http://pr-7.localhost:8000")["listed"] is True
    assert check("http://pr-7.localhost:8001")["listed"] is False  # another port
    assert check("http://a.b.localhost:8000")["listed"] is False  # '*' is one label
    assert check(TARGET, "wrong-key")["key"] == "wrong"


def test_the_readme_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, "examples/relay/run.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "logged in on the target as oRelayUser" in done.stdout
    assert "redeeming without the relay key: 401" in done.stdout


@pytest.mark.parametrize(
    ("public_url", "key", "status", "says"),
    [
        (TARGET, RELAY_KEY, "OK", "lists http://testserver and takes this key"),
        ("http://other.example", RELAY_KEY, "FAIL", "does not list http://other.example"),
        (TARGET, "another-relay-key-0123456789abcdef", "FAIL", "refuses this WECHAT_RELAY_KEY"),
    ],
)
def test_doctor_on_a_target_asks_the_relay(
    relay: Relay,
    fake_wechat: FakeWeChat,
    monkeypatch: pytest.MonkeyPatch,
    public_url: str,
    key: str,
    status: str,
    says: str,
) -> None:
    from wechat_middleware.doctor import doctor
    from wechat_middleware.testing.browser import fake_wechat_env

    env = fake_wechat_env(fake_wechat)
    env |= {"WECHAT_OAUTH_RELAY": relay.origin, "WECHAT_RELAY_KEY": key}
    env |= {"WECHAT_PUBLIC_URL": public_url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    check = next(c for c in doctor() if c.name == "OAuth relay")
    assert check.status == status and says in check.detail, check
