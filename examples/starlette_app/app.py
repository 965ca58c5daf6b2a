"""Starlette example (FastAPI is the same): WeChat JS-SDK and OAuth as ASGI middleware.

Pages: ``/`` and ``/second`` are rendered on the server; ``/spa/`` is a small
single-page app whose routes (``/spa/``, ``/spa/profile``) change with
``history.pushState``. Both kinds get a working ``wx`` from
``request.state.wechat.jssdk_tags([...])``: the helper signs the URL WeChat checks (the
landing URL on iOS, the current one on Android) and configures again after a route
change.

Run:  WECHAT_APP_ID=... WECHAT_APP_SECRET=... WECHAT_SECRET_KEY=... \
      uvicorn --port 8000 examples.starlette_app.app:app

(Older uvicorn versions with ``--workers N`` on Linux left Nagle's algorithm on, and every
keep-alive answer waited ~40 ms; uvicorn 0.55 does not: see BENCHMARKS.md.)
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from examples.messages import echo_reply
from wechat_middleware import WeChat
from wechat_middleware.asgi import WeChatMiddleware
from wechat_middleware.integrations.starlette import login_required
from wechat_middleware.messages import REPLY_CONTENT_TYPE
from wechat_middleware.user import User

STATIC = Path(__file__).resolve().parent.parent / "static"
APIS = ["updateAppMessageShareData", "updateTimelineShareData"]

wechat = WeChat.from_env()

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="/static/style.css">
  <title>{title}</title>
</head>
<body>
  <h1>{title}</h1>
  <p>Logged in as <span id="openid">{openid}</span><span id="userid">{userid}</span>{nickname}</p>
  <p>JS-SDK: <span id="wx-status">loading</span> (ready <span id="wx-ready-count">0</span>x)</p>
  <p>Route: <span id="route"></span></p>
  <nav>
    <a href="/">Home</a> · <a href="/second?from=home">Second page</a> ·
    <a href="/spa/">Single-page app</a> · <a href="/account">Account</a>{spa_links}
  </nav>
  {logout}
  <script id="wx-config" type="application/json">{signature}</script>
  {jssdk_tags}
  <script src="/static/app.js"></script>
</body>
</html>
"""
SPA_LINKS = (
    ' · <a href="/spa/" data-route>SPA home</a> ·'
    ' <a href="/spa/profile?tab=1" data-route>SPA profile</a>'
)


async def render(request: Request, title: str, *, spa: bool = False) -> HTMLResponse:
    context = request.state.wechat
    await context.asignature()  # a due ticket is fetched off the event loop
    return HTMLResponse(
        PAGE.format(
            title=html.escape(title),
            openid=html.escape(context.openid or ""),
            userid=html.escape(context.userid or ""),  # a WeCom member (WECHAT_PROVIDER=wecom)
            nickname=(
                f' (<span id="nickname">{html.escape(context.user.nickname)}</span>)'
                if context.user and context.user.nickname
                else ""
            ),
            logout=(
                f'<form method="post" action="{html.escape(context.logout_url(), quote=True)}">'
                '<button id="logout">Log out</button></form>'
                if context.user
                else ""
            ),
            signature=context.signature_json(),
            jssdk_tags=context.jssdk_tags(APIS),
            spa_links=SPA_LINKS if spa else "",
        )
    )


async def home(request: Request) -> HTMLResponse:
    return await render(request, "WeChat middleware · Starlette")


async def second(request: Request) -> HTMLResponse:
    return await render(request, "Second page · Starlette")


async def spa(request: Request) -> HTMLResponse:
    """One HTML shell for every route of the single-page app."""
    return await render(request, "Single-page app · Starlette", spa=True)


@login_required(scope="snsapi_userinfo")  # one consent screen, then the profile
async def account(request: Request) -> HTMLResponse:
    return await render(request, "Your account · Starlette")


@login_required()  # a fetch without a login gets 401 JSON with a login_url
async def orders(request: Request) -> JSONResponse:
    return JSONResponse({"openid": request.state.wechat.openid, "orders": []})


@wechat.on_login
def remember(user: User, is_new: bool) -> None:
    """Once per login: where an app upserts its own user row. Here: a line in the file
    EXAMPLE_USERS_FILE names, when set."""
    path = os.environ.get("EXAMPLE_USERS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as users:
            users.write(json.dumps({"user": user.key, "new": is_new}) + "\n")


async def me(request: Request) -> JSONResponse:
    """JSON endpoint: never redirected to OAuth, reports the user if any."""
    context = request.state.wechat
    return JSONResponse({"openid": context.openid, "is_wechat": context.is_wechat_browser})


async def push(request: Request) -> Response:
    """Messages pushed to the verify path, checked (and decrypted) by the middleware."""
    message = request.state.wechat.message
    body = echo_reply(message) if message is not None else b""
    return Response(body, media_type=REPLY_CONTENT_TYPE)


app = Starlette(
    routes=[
        Route("/", home),
        Route("/second", second),
        Route("/spa/", spa),
        Route("/spa/{route:path}", spa),
        Route("/account", account),
        Route("/api/orders", orders),
        Route("/api/me", me),
        Route("/wechat/verify", push, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
)
app.add_middleware(WeChatMiddleware, wechat=wechat)
