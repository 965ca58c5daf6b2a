"""Two tiny apps, one per adapter, that expose what a page sees of ``request.wechat``,
and the client the in-process tests drive them with (the same routes on Django, over its
WSGI and ASGI handlers, are in ``tests.support.django_apps``).

Tests drive them in-process to check that both adapters carry out the same decisions;
the example apps are driven over real servers in ``tests/integration``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from flask import Flask, request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from wechat_middleware import WeChat
from wechat_middleware.asgi import WeChatMiddleware as ASGIMiddleware
from wechat_middleware.integrations.flask import init_app
from wechat_middleware.testing.browser import HeaderValues, WeChatBrowser
from wechat_middleware.testing.browser import Response as Answer
from wechat_middleware.testing.transports import CLIENT_ADDRESS
from wechat_middleware.testing.user_agents import IOS_WECHAT_UA, NAVIGATION_ACCEPT

KINDS = ("wsgi", "asgi")
DJANGO_KINDS = ("django-wsgi", "django-asgi")  # tests/support/django_apps.py
ALL_KINDS = KINDS + DJANGO_KINDS


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
    init_app(app, wechat)

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


def cookie_of(answer: Answer, name: str) -> str | None:
    """The value ``answer`` sets for the cookie ``name`` ("" to delete it), or None.

    Each header is read as an HTTP client reads it, without the whitespace around its
    value (RFC 9110 section 5.5): Django's WSGI handler writes ``" name=value"``
    (``Morsel.output(header="")``), which a server sends and a browser strips.
    """
    for header in answer.set_cookies:
        key, _, rest = header.strip().partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    return None


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


class AppClient:
    """One of the apps above over either adapter (``kind``: ``KINDS``), or ``flask_app``'s
    routes on Django over its WSGI or ASGI handler (``DJANGO_KINDS``), through
    ``WeChatBrowser``.

    What the tests need beyond the browser: one request at a time (no redirect followed),
    ``ua``/``accept``/``host`` as keywords, and a jar of the session cookie alone that a
    test reads and sets (``cookie``) to replay, tamper with or drop it. A target or value
    given as bytes is sent byte for byte; ``host=None`` sends no Host header.

    The hosts the app serves are its WeChat's (``served_hosts``: ``allowed_hosts`` of
    tests/conftest.py's ``fake_config``, or a test's own): on Django they are the
    ``ALLOWED_HOSTS`` of each request, so every adapter serves the same hosts.
    """

    def __init__(self, kind: str, wechat: WeChat) -> None:
        self.kind = kind
        self.wechat = wechat
        self.cookie_name = wechat.config.session_cookie
        self.cookie: str | None = None
        self._browser = WeChatBrowser()
        if kind == "wsgi":
            self._app = self._browser.wsgi(flask_app(wechat))
        elif kind == "asgi":
            self._app = self._browser.asgi(starlette_app(wechat))
        else:
            from .django_apps import in_process  # Django only for the tests that use it

            self._app = in_process(self._browser, kind, wechat)

    def request(
        self,
        method: str,
        target: str | bytes,
        *,
        ua: str | bytes = IOS_WECHAT_UA,
        accept: str | bytes = NAVIGATION_ACCEPT,
        host: str | bytes | None = "testserver",
        cookie: str | bytes | None = None,
        headers: HeaderValues | None = None,
        client: str = CLIENT_ADDRESS[0],
        body: bytes | None = None,
    ) -> Answer:
        """``client`` is the peer address the app sees (``REMOTE_ADDR``, scope client)."""
        sent: dict[str, str | bytes | list[str | bytes] | None] = {
            "User-Agent": ua,
            "Accept": accept,
            "Host": host,
        }
        sent.update(headers or {})
        jar = cookie if cookie is not None else self.cookie
        if jar:
            value = _bytes(jar)
            sent["Cookie"] = value if b"=" in value else _bytes(self.cookie_name) + b"=" + value
        else:
            sent.setdefault("Cookie", None)  # the browser's own jar stays out of it
        self._app.address = client
        with self._serving():
            answer = self._app.request(
                method, _bytes(target), headers=sent, body=body, follow_redirects=False
            )
        written = cookie_of(answer, self.cookie_name)
        if written is not None:
            self.cookie = written or None
        return answer

    def _serving(self) -> AbstractContextManager[object]:
        """Django checks the Host against ``ALLOWED_HOSTS`` (read per request)."""
        if self.kind not in DJANGO_KINDS:
            return nullcontext()
        return allowed_hosts(tuple(self.wechat.config.served_hosts))

    def get(self, target: str | bytes, **kwargs: object) -> Answer:
        return self.request("GET", target, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self._browser.close()


class _HostsOverride:
    """Django's ``ALLOWED_HOSTS`` for the requests in flight, shared by the threads that
    send them: ``override_settings`` swaps the process's settings object on enter and
    back on exit, so two threads' overlapping overrides would restore each other's (a
    request then finds no settings at all). The first request in enables it, the last
    one out disables it."""

    lock = threading.Lock()
    depth = 0
    hosts: tuple[str, ...] = ()
    override: object = None


@contextmanager
def allowed_hosts(hosts: tuple[str, ...]) -> Iterator[None]:
    from django.test import override_settings

    shared = _HostsOverride
    with shared.lock:
        if shared.depth and shared.hosts != hosts:
            raise RuntimeError("two sets of ALLOWED_HOSTS in flight at once")
        if shared.depth == 0:
            shared.override = override_settings(ALLOWED_HOSTS=list(hosts))
            shared.override.enable()  # type: ignore[attr-defined]
            shared.hosts = hosts
        shared.depth += 1
    try:
        yield
    finally:
        with shared.lock:
            shared.depth -= 1
            if shared.depth == 0:
                shared.override.disable()  # type: ignore[attr-defined]


@contextmanager
def app_client(kind: str, wechat: WeChat) -> Iterator[AppClient]:
    client = AppClient(kind, wechat)
    try:
        yield client
    finally:
        client.close()
