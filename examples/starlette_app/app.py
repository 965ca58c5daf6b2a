"""Starlette example (FastAPI is the same): WeChat JS-SDK and OAuth as ASGI middleware.

Pages: ``/`` and ``/second`` are rendered on the server; ``/spa/`` is a small
single-page app whose routes (``/spa/``, ``/spa/profile``) change with
``history.pushState``. Both kinds get a working ``wx`` from
``request.state.wechat.jssdk_tags([...])``: the helper signs the URL WeChat checks (the
landing URL on iOS, the current one on Android) and configures again after a route
change.

Run:  WECHAT_APP_ID=... WECHAT_APP_SECRET=... WECHAT_SECRET_KEY=... \
      uvicorn --port 8000 examples.starlette_app.app:app

(With ``--workers N`` on Linux, uvicorn's own listening socket leaves Nagle's algorithm
on and every keep-alive answer waits ~40 ms: run one worker per process, or see
BENCHMARKS.md.)
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from wechat_middleware import WeChat
from wechat_middleware.asgi import WeChatMiddleware

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
  <p>Logged in as <span id="openid">{openid}</span></p>
  <p>JS-SDK: <span id="wx-status">loading</span> (ready <span id="wx-ready-count">0</span>x)</p>
  <p>Route: <span id="route"></span></p>
  <nav>
    <a href="/">Home</a> · <a href="/second?from=home">Second page</a> ·
    <a href="/spa/">Single-page app</a>{spa_links}
  </nav>
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


async def me(request: Request) -> JSONResponse:
    """JSON endpoint: never redirected to OAuth, reports the user if any."""
    context = request.state.wechat
    return JSONResponse({"openid": context.openid, "is_wechat": context.is_wechat_browser})


app = Starlette(
    routes=[
        Route("/", home),
        Route("/second", second),
        Route("/spa/", spa),
        Route("/spa/{route:path}", spa),
        Route("/api/me", me),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
)
app.add_middleware(WeChatMiddleware, wechat=wechat)
