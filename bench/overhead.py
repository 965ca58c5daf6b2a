"""Section 2: what the middleware adds to a request, in process, without sockets.

A bare hello-world app and the same app wrapped by the middleware are driven through
their WSGI/ASGI callables with prebuilt environs and scopes (no test client: its own
cost would hide ours). The token and ticket are fetched once from a FakeWeChat before
timing starts, and the fake is stopped before any round runs: no case does network I/O.
Rounds of the cases alternate, and each ratio is the median of per-round ratios.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from flask import Flask, request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from werkzeug.test import EnvironBuilder

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.asgi import WeChatMiddleware as ASGIMiddleware
from wechat_middleware.flow import Flow
from wechat_middleware.oauth import WeChatUser
from wechat_middleware.session import Session
from wechat_middleware.testing import FakeWeChat

from .children._timing import calibrate, time_calls, time_calls_async
from .report import INFO, Row, check, median, spread, us

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

#: (case, target ratio to the bare app or None) in table order.
CASES: tuple[tuple[str, float | None], ...] = (
    ("bare hello-world", None),
    ("no-op middleware (the floor any middleware pays)", None),
    ("pass-through (non-WeChat request)", None),  # target set per framework below
    ("logged-in WeChat, reads request.wechat.signature", 1.15),
    ("redirect to OAuth (WeChat, not logged in)", None),
)
PASS_THROUGH_TARGET = {"flask": 1.05, "starlette": 1.10}

_seen: dict[str, Any] = {}  # the last signature a view read, for the correctness check


@dataclass
class Request_:
    """One prebuilt request: the same for the bare and the wrapped app."""

    path: str
    user_agent: str
    cookie: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header_list(self) -> list[tuple[str, str]]:
        headers = [("Host", HOST), ("User-Agent", self.user_agent), ("Accept", ACCEPT_HTML)]
        headers += [("Accept-Language", "zh-CN,zh;q=0.9"), ("Accept-Encoding", "gzip")]
        if self.cookie:
            headers.append(("Cookie", self.cookie))
        return headers + self.headers


@dataclass
class Prepared:
    """The apps, the requests and the WeChat object every wrapped app shares."""

    wechat: WeChat
    fake_check: Callable[[str, str, int, str], bool]
    flask_bare: Flask
    flask_noop: Flask
    flask_wrapped: Flask
    starlette_bare: Starlette
    starlette_noop: Starlette
    starlette_wrapped: Starlette
    requests: dict[str, Request_]


# -- apps --------------------------------------------------------------------------


class NoopWSGI:
    """A middleware that does nothing: what merely being a middleware costs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class NoopASGI:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def make_flask(wechat: WeChat | None) -> Flask:
    app = Flask(f"bench_{'wrapped' if wechat else 'bare'}", static_folder=None)
    if wechat is not None:
        wechat.init_app(app)

    @app.get("/")
    def hello() -> str:
        return "hello"

    @app.get("/page")
    def page() -> str:
        if wechat is not None:
            _seen["flask"] = request.wechat.signature  # type: ignore[attr-defined]
        return "hello"

    return app


def make_starlette(wechat: WeChat | None) -> Starlette:
    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello")

    async def page(request: Request) -> Response:
        if wechat is not None:
            _seen["starlette"] = request.state.wechat.signature
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello), Route("/page", page)])
    if wechat is not None:
        app.add_middleware(ASGIMiddleware, wechat=wechat)
    return app


def prepare() -> tuple[Prepared, FakeWeChat]:
    """Apps over a MemoryStore whose token and ticket came from a FakeWeChat (running)."""
    fake = FakeWeChat().start()
    config = WeChatConfig(
        app_id=fake.app_id,
        app_secret=fake.app_secret,
        api_base=fake.api_base,
        open_base=fake.open_base,
        secret_key=secrets.token_urlsafe(32),
        store="memory://",
    )
    wechat = WeChat(config)
    wechat.jssdk.get_signature_by_url(f"http://{HOST}/page")  # token + ticket, once
    cookie_value = Flow(wechat).codec.dumps(Session(user=WeChatUser(openid=OPENID)))
    cookie = f"{config.session_cookie}={cookie_value}"
    requests = {
        "bare hello-world": Request_("/", CHROME_UA),
        "pass-through (non-WeChat request)": Request_("/", CHROME_UA),
        "logged-in WeChat, reads request.wechat.signature": Request_("/page", WECHAT_UA, cookie),
        "redirect to OAuth (WeChat, not logged in)": Request_("/", WECHAT_UA),
    }
    requests["no-op middleware (the floor any middleware pays)"] = requests["bare hello-world"]
    prepared = Prepared(
        wechat=wechat,
        fake_check=fake.check_jsapi_signature,
        flask_bare=make_flask(None),
        flask_noop=make_flask(None),
        flask_wrapped=make_flask(wechat),
        starlette_bare=make_starlette(None),
        starlette_noop=make_starlette(None),
        starlette_wrapped=make_starlette(wechat),
        requests=requests,
    )
    prepared.flask_noop.wsgi_app = NoopWSGI(prepared.flask_noop.wsgi_app)  # type: ignore[method-assign]
    prepared.starlette_noop.add_middleware(NoopASGI)
    return prepared, fake


# -- driving the callables -------------------------------------------------------------


_last_status: list[str] = [""]


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    _last_status[0] = status
    return _ignore_write


def _ignore_write(data: bytes) -> None:
    pass


def call_wsgi(app: Any, environ: dict[str, Any]) -> bytes:
    """What a WSGI server does per request: call, drain the body, close it."""
    body: Iterable[bytes] = app(dict(environ), _start_response)
    try:
        return b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def build_environ(req: Request_) -> dict[str, Any]:
    builder = EnvironBuilder(
        path=req.path, base_url=f"http://{HOST}", method="GET", headers=req.header_list()
    )
    try:
        environ: dict[str, Any] = builder.get_environ()
    finally:
        builder.close()
    environ["RAW_URI"] = req.path  # as gunicorn passes it
    return environ


class _ASGISink:
    status = 0


_sink = _ASGISink()
_REQUEST_MESSAGE = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> dict[str, Any]:
    return _REQUEST_MESSAGE


async def _send(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start":
        _sink.status = message["status"]


async def call_asgi(app: Any, scope: dict[str, Any]) -> None:
    await app(dict(scope), _receive, _send)


def build_scope(req: Request_) -> dict[str, Any]:
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
        "headers": [(k.lower().encode(), v.encode()) for k, v in req.header_list()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def _pick(name: str, bare: Any, noop: Any, wrapped: Any) -> Any:
    if name == CASES[0][0]:
        return bare
    return noop if name == CASES[1][0] else wrapped


def flask_cases(p: Prepared) -> dict[str, Callable[[], object]]:
    return {
        name: partial(
            call_wsgi,
            _pick(name, p.flask_bare, p.flask_noop, p.flask_wrapped),
            build_environ(p.requests[name]),
        )
        for name, _ in CASES
    }


def starlette_cases(p: Prepared) -> dict[str, Callable[[], Awaitable[None]]]:
    return {
        name: partial(
            call_asgi,
            _pick(name, p.starlette_bare, p.starlette_noop, p.starlette_wrapped),
            build_scope(p.requests[name]),
        )
        for name, _ in CASES
    }


# -- correctness before timing ------------------------------------------------------


def _expect(framework: str, name: str, status: int, p: Prepared) -> None:
    redirect = name.startswith("redirect")
    want = 302 if redirect else 200
    if status != want:
        raise RuntimeError(f"{framework} / {name}: status {status}, expected {want}")
    if name.startswith("logged-in"):
        sig = _seen.pop(framework, None)
        if not sig or not p.fake_check(
            sig["url"], sig["nonceStr"], sig["timestamp"], sig["signature"]
        ):
            raise RuntimeError(f"{framework} / {name}: the view read no valid signature: {sig}")


def check_cases(p: Prepared) -> None:
    """Every case answers as it should (while the fake still runs to verify signatures)."""
    for name, fn in flask_cases(p).items():
        fn()
        _expect("flask", name, int(_last_status[0].split()[0]), p)

    async def asgi() -> None:
        for name, fn in starlette_cases(p).items():
            await fn()
            _expect("starlette", name, _sink.status, p)

    asyncio.run(asgi())


# -- measuring ------------------------------------------------------------------------


def _measure_sync(
    cases: dict[str, Callable[[], object]], rounds: int, target: float
) -> dict[str, list[float]]:
    numbers = {name: calibrate(fn, target) for name, fn in cases.items()}
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            results[name].append(time_calls(fn, numbers[name]))
    return results


async def _measure_async(
    cases: dict[str, Callable[[], Awaitable[None]]], rounds: int, target: float
) -> dict[str, list[float]]:
    numbers: dict[str, int] = {}
    for name, fn in cases.items():
        await time_calls_async(fn, 200)  # warm-up
        per_call = await time_calls_async(fn, 2000)
        numbers[name] = max(1, int(target / max(per_call, 1e-9)))
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            results[name].append(await time_calls_async(fn, numbers[name]))
    return results


def _rows(framework: str, results: dict[str, list[float]]) -> list[Row]:
    section = f"2. overhead, {framework.title()}, µs/request"
    bare_name = CASES[0][0]
    bare = results[bare_name]
    rows = [Row(section, bare_name, f"{us(median(bare))} {spread(bare)}", "1.00x", "", INFO)]
    for name, target in CASES[1:]:
        if name.startswith("pass-through"):
            target = PASS_THROUGH_TARGET[framework]
        values = results[name]
        ratio = median([v / b for v, b in zip(values, bare, strict=True)])
        extra = (median(values) - median(bare)) * 1e6
        rows.append(
            Row(
                section,
                name,
                f"{us(median(values))} {spread(values)}",
                f"{ratio:.2f}x bare ({extra:+.1f} µs)",
                f"<= {target:.2f}x" if target else "",
                check(ratio <= target) if target else INFO,
            )
        )
    return rows


def run(*, rounds: int, target_seconds: float) -> list[Row]:
    prepared, fake = prepare()
    try:
        check_cases(prepared)
        calls_before = fake.calls("cgi-bin/stable_token") + fake.calls("cgi-bin/ticket/getticket")
    finally:
        fake.stop()  # from here on, any network call would fail loudly
    try:
        flask_results = _measure_sync(flask_cases(prepared), rounds, target_seconds)
        starlette_results = asyncio.run(
            _measure_async(starlette_cases(prepared), rounds, target_seconds)
        )
    finally:
        prepared.wechat.close()
    assert calls_before == 2, f"expected one token and one ticket fetch, saw {calls_before}"
    return _rows("flask", flask_results) + _rows("starlette", starlette_results)
