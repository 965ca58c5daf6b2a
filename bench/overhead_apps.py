"""The apps and prebuilt requests of section 2, driven through their raw callables.

Every case is the SAME route served three ways: ``bare`` (the framework alone),
``noop`` (behind a middleware of the same kind that only calls the app: what being a
middleware at all costs) and ``wechat`` (behind WeChatMiddleware). The views are the
same code in all three; they find the WeChat context where the middleware puts it
(``environ["wechat"]``, ``scope["wechat"]``, which ``request.wechat`` and
``request.state.wechat`` read) and, without it, render ``null`` instead of the config.

No test client: its own cost would hide ours. A WSGI call is what a server does per
request (call, drain the body, close it); an ASGI call awaits the app with a trivial
``receive`` and a ``send`` that keeps only the status and body.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from flask import Flask, request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from werkzeug.test import EnvironBuilder

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.asgi import WeChatMiddleware as ASGIMiddleware
from wechat_middleware.integrations.flask import init_app
from wechat_middleware.testing import FakeWeChat

HOST = "shop.example.com"
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI "
    "Language/zh_CN"
)
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
ACCEPT_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
OPENID = "oBenchUser0123456789abcdefgh"
JS_API_LIST = ("updateAppMessageShareData", "updateTimelineShareData")

VARIANTS = ("bare", "noop", "wechat")
PASS_THROUGH = "pass-through: desktop browser, no cookie, GET /"
LOGGED_IN = "logged-in WeChat page: GET /page, view calls config_json()"
REDIRECT = "first visit in WeChat: 302 to OAuth"  # profiled only: bare has no such answer
CASES = (PASS_THROUGH, LOGGED_IN)


@dataclass(frozen=True)
class BenchRequest:
    """One prebuilt request: the same for every variant of a case."""

    path: str
    user_agent: str
    cookie: str = ""
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def headers(self) -> list[tuple[str, str]]:
        headers = [("Host", HOST), ("User-Agent", self.user_agent), ("Accept", ACCEPT_HTML)]
        headers += [("Accept-Language", "zh-CN,zh;q=0.9"), ("Accept-Encoding", "gzip")]
        if self.cookie:
            headers.append(("Cookie", self.cookie))
        return headers + list(self.extra)


@dataclass
class Prepared:
    """The apps (by framework, then variant), the requests, and the shared WeChat."""

    wechat: WeChat
    fake_check: Callable[[str, str, int, str], bool]
    flask: dict[str, Flask]
    starlette: dict[str, Starlette]
    requests: dict[str, BenchRequest]


# -- apps -----------------------------------------------------------------------------


class NoopWSGI:
    """A WSGI middleware that only calls the app it wraps."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class NoopASGI:
    """A pure ASGI middleware that only awaits the app it wraps."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def make_flask(variant: str, wechat: WeChat) -> Flask:
    app = Flask(f"bench_flask_{variant}", static_folder=None)
    if variant == "noop":
        app.wsgi_app = NoopWSGI(app.wsgi_app)  # type: ignore[method-assign]
    elif variant == "wechat":
        init_app(app, wechat)

    @app.get("/")
    def hello() -> str:
        return "hello"

    @app.get("/page")
    def page() -> str:
        context = request.environ.get("wechat")  # what request.wechat returns
        return context.config_json(JS_API_LIST) if context is not None else "null"

    return app


def make_starlette(variant: str, wechat: WeChat) -> Starlette:
    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello")

    async def page(request: Request) -> Response:
        context = request.scope.get("wechat")  # what request.state.wechat returns
        return HTMLResponse(context.config_json(JS_API_LIST) if context is not None else "null")

    app = Starlette(routes=[Route("/", hello), Route("/page", page)])
    if variant == "noop":
        app.add_middleware(NoopASGI)
    elif variant == "wechat":
        app.add_middleware(ASGIMiddleware, wechat=wechat)
    return app


def _session_cookie(wechat: WeChat, openid: str) -> str:
    """A logged-in session cookie, made as the OAuth callback makes it.

    The one place that uses the library's internals: if they move, only this changes.
    """
    from wechat_middleware.session import Session
    from wechat_middleware.user import WeChatUser

    value = wechat.rules.codec.dumps(Session(user=WeChatUser(openid=openid)))
    return f"{wechat.config.session_cookie}={value}"


def prepare() -> tuple[Prepared, FakeWeChat]:
    """Apps over a MemoryStore whose token and ticket came from a FakeWeChat (running:
    the caller stops it before timing, so that no case can do network I/O)."""
    fake = FakeWeChat().start()
    config = WeChatConfig(
        app_id=fake.app_id,
        app_secret=fake.app_secret,
        api_base=fake.api_base,
        open_base=fake.open_base,
        secret_key=secrets.token_urlsafe(32),
        store="memory://",
        allowed_hosts=(HOST,),  # the Host of every request: a page on it is signed
    )
    wechat = WeChat(config)
    wechat.jssdk.get_signature_by_url(f"http://{HOST}/page")  # token + ticket, once
    cookie = _session_cookie(wechat, OPENID)
    prepared = Prepared(
        wechat=wechat,
        fake_check=fake.check_jsapi_signature,
        flask={v: make_flask(v, wechat) for v in VARIANTS},
        starlette={v: make_starlette(v, wechat) for v in VARIANTS},
        requests={
            PASS_THROUGH: BenchRequest("/", CHROME_UA),
            LOGGED_IN: BenchRequest("/page", WECHAT_UA, cookie),
            REDIRECT: BenchRequest("/", WECHAT_UA),
        },
    )
    return prepared, fake


# -- calling the apps -------------------------------------------------------------------


class Sink:
    """The status and body of the last response (for the checks before timing)."""

    status = 0
    body = b""


sink = Sink()


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    sink.status = int(status.split(" ", 1)[0])
    return _ignore_write


def _ignore_write(data: bytes) -> None:
    pass


def call_wsgi(app: Any, environ: dict[str, Any]) -> None:
    """What a WSGI server does per request: call, drain the body, close it."""
    body: Iterable[bytes] = app(dict(environ), _start_response)
    try:
        sink.body = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def build_environ(req: BenchRequest) -> dict[str, Any]:
    builder = EnvironBuilder(
        path=req.path, base_url=f"http://{HOST}", method="GET", headers=req.headers()
    )
    try:
        environ: dict[str, Any] = builder.get_environ()
    finally:
        builder.close()
    environ["RAW_URI"] = req.path  # as gunicorn passes it
    return environ


_REQUEST_MESSAGE = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> dict[str, Any]:
    return _REQUEST_MESSAGE


async def _send(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start":
        sink.status = message["status"]
    elif message["type"] == "http.response.body":
        sink.body = message.get("body", b"")


async def call_asgi(app: Any, scope: dict[str, Any]) -> None:
    await app(dict(scope), _receive, _send)


def build_scope(req: BenchRequest) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": req.path,
        "raw_path": req.path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in req.headers()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def wsgi_call(p: Prepared, case: str, variant: str) -> Callable[[], None]:
    """A no-argument callable: one request of ``case`` to the Flask app ``variant``."""
    return partial(call_wsgi, p.flask[variant], build_environ(p.requests[case]))


def asgi_call(p: Prepared, case: str, variant: str) -> Callable[[], Awaitable[None]]:
    """A no-argument coroutine function: one request of ``case`` to the Starlette app."""
    return partial(call_asgi, p.starlette[variant], build_scope(p.requests[case]))


def check_response(p: Prepared, framework: str, case: str, variant: str) -> None:
    """The last response (in :data:`sink`) is what ``case`` must answer; raise if not."""
    want = 302 if case == REDIRECT else 200
    where = f"{framework} / {variant} / {case}"
    if sink.status != want:
        raise RuntimeError(f"{where}: status {sink.status}, expected {want}")
    if case != LOGGED_IN:
        return
    if variant != "wechat":
        if sink.body != b"null":
            raise RuntimeError(f"{where}: a bare app's page saw a WeChat context")
        return
    config = json.loads(sink.body)
    url = f"http://{HOST}{p.requests[case].path}"
    if not p.fake_check(url, config["nonceStr"], config["timestamp"], config["signature"]):
        raise RuntimeError(f"{where}: the page's config has no valid signature: {config}")
