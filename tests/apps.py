"""Two tiny apps, one per adapter, that expose what a page sees of ``request.wechat``.

Tests drive them in-process (werkzeug's test client, Starlette's TestClient) to check
that both adapters carry out the same decisions; the example apps are driven over real
servers in ``tests/integration``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask, request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client

from wechat_middleware import WeChat
from wechat_middleware.asgi import WeChatMiddleware as ASGIMiddleware
from wechat_middleware.testing.browser import (
    ANDROID_WECHAT_UA,
    DESKTOP_UA,
    IOS_WECHAT_UA,
    NAVIGATION_ACCEPT,
)

IOS_WECHAT = IOS_WECHAT_UA
ANDROID_WECHAT = ANDROID_WECHAT_UA
WXWORK = IOS_WECHAT + " wxwork/4.1.0"
CHROME = DESKTOP_UA
HTML = NAVIGATION_ACCEPT


def page_state(context: object) -> dict[str, object]:
    from wechat_middleware.context import WeChatContext

    assert isinstance(context, WeChatContext)
    return {
        "openid": context.openid,
        "signature": context.signature,
        "is_wechat": context.is_wechat_browser,
    }


def flask_app(wechat: WeChat) -> Flask:
    app = Flask(__name__, static_folder=None)
    wechat.init_app(app)

    @app.get("/api/sign")
    def sign() -> tuple[str, int]:
        """The README's JSON sign endpoint: sign the URL the page reports."""
        try:
            signature = request.wechat.sign(request.args.get("url", ""))  # type: ignore[attr-defined]
        except ValueError as exc:
            return json.dumps({"error": str(exc)}), 400
        return json.dumps(signature), 200

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "HEAD"])
    @app.route("/<path:path>", methods=["GET", "POST", "HEAD"])
    def page(path: str) -> Response | str:
        if request.method == "POST":
            return "posted"
        return json.dumps(page_state(request.wechat))  # type: ignore[attr-defined]

    return app


def starlette_app(wechat: WeChat) -> Starlette:
    async def page(request: Request) -> Response:
        if request.method == "POST":
            return PlainTextResponse("posted")
        return HTMLResponse(json.dumps(page_state(request.state.wechat)))

    async def api(request: Request) -> Response:
        return JSONResponse({"openid": request.scope["wechat"].openid})

    async def sign(request: Request) -> Response:
        """The README's JSON sign endpoint: ``asign`` keeps a ticket fetch off the loop."""
        try:
            signature = await request.state.wechat.asign(request.query_params.get("url", ""))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(signature)

    async def own_signature(request: Request) -> Response:
        return JSONResponse(await request.state.wechat.asignature())

    app = Starlette(
        routes=[
            Route("/api/me", api),
            Route("/api/sign", sign),
            Route("/api/signature", own_signature),
            Route("/{path:path}", page, methods=["GET", "POST", "HEAD"]),
        ]
    )
    app.add_middleware(ASGIMiddleware, wechat=wechat)
    return app


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: str
    set_cookies: list[str] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    def page(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.body)
        return data


class AppClient:
    """The same small interface over either adapter, with a cookie jar of one cookie."""

    def __init__(self, kind: str, wechat: WeChat) -> None:
        self.kind = kind
        self.cookie_name = wechat.config.session_cookie
        self.cookie: str | None = None
        if kind == "wsgi":
            self._wsgi = Client(flask_app(wechat), use_cookies=False)
        else:
            self._asgi = TestClient(starlette_app(wechat), base_url="http://testserver")

    def request(
        self,
        method: str,
        target: str,
        *,
        ua: str = IOS_WECHAT,
        accept: str = HTML,
        headers: Mapping[str, str] | None = None,
        cookie: str | None = None,
    ) -> Answer:
        sent = {"User-Agent": ua, "Accept": accept, "Host": "testserver", **(headers or {})}
        jar = cookie if cookie is not None else self.cookie
        if jar:
            sent["Cookie"] = f"{self.cookie_name}={jar}"
        if self.kind == "wsgi":
            path, _, query = target.partition("?")
            response = self._wsgi.open(path, method=method, query_string=query, headers=sent)
            answer = Answer(
                response.status_code,
                dict(response.headers),
                response.get_data(as_text=True),
                response.headers.getlist("Set-Cookie"),
            )
        else:
            reply = self._asgi.request(method, target, headers=sent, follow_redirects=False)
            answer = Answer(
                reply.status_code,
                {k.title(): v for k, v in reply.headers.items()},
                reply.text,
                reply.headers.get_list("set-cookie"),
            )
        for header in answer.set_cookies:
            name, _, rest = header.partition("=")
            if name == self.cookie_name:
                self.cookie = rest.split(";", 1)[0] or None
        return answer

    def get(self, target: str, **kwargs: object) -> Answer:
        return self.request("GET", target, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        if self.kind == "asgi":
            self._asgi.close()


@contextmanager
def app_client(kind: str, wechat: WeChat) -> Iterator[AppClient]:
    client = AppClient(kind, wechat)
    try:
        yield client
    finally:
        client.close()
