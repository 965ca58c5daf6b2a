"""The hostile inputs of the security matrix, against marked routes (``WECHAT_PROTECT=marked``).

A marked route answers for itself (a redirect to log in, or ``401`` JSON for a fetch):
the same guarantees hold as on the middleware's own paths. No 5xx, no CR/LF in a header,
a ``Location`` or ``login_url`` that stays on the site, nobody logged in by a forgery
(SECURITY.md, threat model 4-6 and 13), on Flask, Starlette, FastAPI and Django (its
WSGI and ASGI handlers) alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from wechat_middleware import WeChat
from wechat_middleware.session import Session
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.browser import Response, WeChatBrowser
from wechat_middleware.testing.user_agents import DESKTOP_UA, IOS_WECHAT_UA

from ..conftest import MakeWeChat
from ..support.apps import DJANGO_KINDS
from ..support.marked_apps import FRAMEWORKS, serve
from ..test_login import who
from .helpers import check_answer, no_login
from .test_bad_input import COOKIE_CASES, GARBAGE_CASES, HOST_CASES

MARKED = [b"/base", b"/profile", b"/api/data"]


@pytest.fixture(params=FRAMEWORKS + DJANGO_KINDS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def wechat(make_wechat: MakeWeChat) -> WeChat:
    return make_wechat(protect="marked")


@pytest.fixture
def app(framework: str, wechat: WeChat, wechat_browser: WeChatBrowser) -> WeChatBrowser:
    return serve(wechat_browser, framework, wechat, who)


def send(app: WeChatBrowser, target: bytes, **headers: str | bytes | None) -> Response:
    sent: dict[str, str | bytes | None] = {"User-Agent": IOS_WECHAT_UA, **headers}
    return app.request("GET", target, headers=sent, follow_redirects=False)


def assert_safe(answer: Response, wechat: WeChat, fake: FakeWeChat) -> None:
    check_answer(answer, open_base=fake.open_base)
    no_login(wechat, answer)
    if answer.status == 401 and answer.headers.get("Content-Type", "").startswith(
        "application/json"
    ):
        login_url = answer.json()["login_url"]
        assert login_url.startswith("/wechat/login?next=/") and "//" not in login_url


@pytest.mark.parametrize(
    "target", [t for t, _, _ in GARBAGE_CASES.values()], ids=list(GARBAGE_CASES)
)
def test_garbage_targets_on_a_marked_app(
    app: WeChatBrowser, wechat: WeChat, fake_wechat: FakeWeChat, target: bytes
) -> None:
    for ua in (IOS_WECHAT_UA, DESKTOP_UA):
        assert_safe(send(app, target, **{"User-Agent": ua}), wechat, fake_wechat)


@pytest.mark.parametrize("path", MARKED, ids=[p.decode() for p in MARKED])
@pytest.mark.parametrize(
    "suffix",
    [b"?\xff=\xfe", b"?%", b"?" + b"a" * 65536, b"%00", b"?next=//evil.example"],
    ids=["raw-bytes", "lone-percent", "64kb", "nul", "next-param"],
)
def test_garbage_queries_on_marked_routes(
    app: WeChatBrowser, wechat: WeChat, fake_wechat: FakeWeChat, path: bytes, suffix: bytes
) -> None:
    for accept in ("text/html", "application/json"):
        assert_safe(send(app, path + suffix, Accept=accept), wechat, fake_wechat)


@pytest.mark.parametrize("make", list(COOKIE_CASES.values()), ids=list(COOKIE_CASES))
def test_forged_cookies_do_not_pass_a_marked_route(
    app: WeChatBrowser, wechat: WeChat, fake_wechat: FakeWeChat, make: Callable[..., str]
) -> None:
    good = wechat.rules.codec.dumps(Session())
    cookie = f"{wechat.config.session_cookie}={make(wechat, good)}"
    for path in MARKED:
        answer = send(app, path, Accept="application/json", Cookie=cookie)
        assert answer.status == 401  # never the victim's data
        assert_safe(answer, wechat, fake_wechat)


@pytest.mark.parametrize("host", [case[0] for case in HOST_CASES.values()], ids=list(HOST_CASES))
def test_spoofed_hosts_on_a_marked_route(
    app: WeChatBrowser, wechat: WeChat, fake_wechat: FakeWeChat, host: bytes | None
) -> None:
    assert_safe(send(app, b"/base", Host=host, Accept="text/html"), wechat, fake_wechat)


@pytest.mark.parametrize(
    "referer",
    [
        b"https://evil.example/steal",
        b"//evil.example/x",
        b"javascript:alert(1)",
        b"http://testserver/ok\r\nSet-Cookie: x=1",
        b"http://testserver/" + b"a" * 65536,
        b"http://testserver/\xff\xfe",
        b"http://testserver.evil.example/",
    ],
    ids=["other-site", "scheme-relative", "javascript", "crlf", "64kb", "raw-bytes", "suffix-host"],
)
def test_a_hostile_referer_never_takes_the_login_off_site(
    app: WeChatBrowser, wechat: WeChat, fake_wechat: FakeWeChat, referer: bytes
) -> None:
    answer = send(app, b"/api/data", Accept="application/json", Referer=referer)
    assert answer.status == 401
    assert_safe(answer, wechat, fake_wechat)
    assert json.loads(answer.content)["login_url"].startswith("/wechat/login?next=/")
