"""The marked routes (``WECHAT_PROTECT=marked``) on Flask, Starlette and FastAPI, each
framework's app built from one table, for the login tests to drive in-process (the same
routes on Django are in ``tests.support.django_apps``).

Each route answers ``show(user)`` as JSON, ``show`` being the test module's view of a
user; ``push`` adds the POST route of ``verify_path`` that answers a message push.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Depends, FastAPI
from flask import Flask, jsonify
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wechat_middleware import WeChat
from wechat_middleware.asgi import WeChatMiddleware
from wechat_middleware.integrations import flask as flask_glue
from wechat_middleware.integrations.starlette import login_required, require_wechat_user
from wechat_middleware.testing.browser import WeChatBrowser
from wechat_middleware.user import User

FRAMEWORKS = ("flask", "starlette", "fastapi")

# Each route and its marker's arguments (None: a public route).
ROUTES: Mapping[str, Mapping[str, Any] | None] = {
    "/public": None,
    "/base": {},
    "/profile": {"scope": "snsapi_userinfo"},
    "/private": {"scope": "snsapi_privateinfo"},
    "/api/data": {},
    "/members": {"members_only": True},
}

Show = Callable[[Any], dict[str, Any]]  # the user, or None
# The context and the body the app read: the reply and its headers.
Push = Callable[[Any, bytes], tuple[bytes, dict[str, str]]]


def flask_app(wechat: WeChat, show: Show, push: Push | None = None) -> Flask:
    app = Flask(__name__)
    flask_glue.init_app(app, wechat)

    def view() -> Any:
        return jsonify(show(flask_request.wechat.user))  # type: ignore[attr-defined]

    for path, marker in ROUTES.items():
        marked = view if marker is None else flask_glue.login_required(**marker)(view)
        app.add_url_rule(path, endpoint=path, view_func=marked)
    if push is not None:

        @app.post(wechat.config.verify_path)
        def pushed() -> Any:
            body, headers = push(flask_request.wechat, flask_request.get_data())  # type: ignore[attr-defined]
            return body, 200, headers

    return app


def starlette_app(wechat: WeChat, show: Show, push: Push | None = None) -> Starlette:
    async def view(request: Request) -> JSONResponse:
        return JSONResponse(show(request.state.wechat.user))

    async def pushed(request: Request) -> Response:
        body, headers = push(request.state.wechat, await request.body())  # type: ignore[misc]
        return Response(body, headers=headers)

    routes = [
        Route(path, view if marker is None else login_required(**marker)(view))
        for path, marker in ROUTES.items()
    ]
    if push is not None:
        routes.append(Route(wechat.config.verify_path, pushed, methods=["POST"]))
    app = Starlette(routes=routes)
    app.add_middleware(WeChatMiddleware, wechat=wechat)
    return app


def fastapi_app(wechat: WeChat, show: Show, push: Push | None = None) -> FastAPI:
    app = FastAPI()
    app.add_middleware(WeChatMiddleware, wechat=wechat)

    def public(request: Request) -> dict[str, Any]:
        return show(request.state.wechat.user)

    def marked(marker: Mapping[str, Any]) -> Callable[..., dict[str, Any]]:
        needed = Depends(require_wechat_user(**marker))

        def view(user: User = needed) -> dict[str, Any]:
            return show(user)

        return view

    for path, marker in ROUTES.items():
        app.get(path)(public if marker is None else marked(marker))
    if push is not None:

        @app.post(wechat.config.verify_path)
        async def pushed(request: Request) -> Response:
            body, headers = push(request.state.wechat, await request.body())
            return Response(body, headers=headers)

    return app


BUILD: dict[str, Callable[..., Any]] = {
    "flask": flask_app,
    "starlette": starlette_app,
    "fastapi": fastapi_app,
}


def serve(
    browser: WeChatBrowser,
    kind: str,
    wechat: WeChat,
    show: Show,
    push: Push | None = None,
    **options: Any,
) -> WeChatBrowser:
    """A browser on ``kind``'s app (one of ``FRAMEWORKS``, or ``django-wsgi`` and
    ``django-asgi`` for the marked routes on Django); ``options`` are the browser's
    (``openid=``, ``user_agent=``, ...)."""
    if kind.startswith("django"):
        from .django_apps import in_process  # Django only for the tests that use it

        return in_process(browser, kind, wechat, marked=True, **options)
    app = BUILD[kind](wechat, show, push)
    return (browser.wsgi if kind == "flask" else browser.asgi)(app, **options)
