"""Starlette example (FastAPI is the same): WeChat JS-SDK and OAuth as ASGI middleware.

Run:  WECHAT_APP_ID=... WECHAT_APP_SECRET=... WECHAT_SECRET_KEY=... \
      uvicorn --workers 2 --port 8000 examples.starlette_app.app:app
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
  <p>JS-SDK: <span id="wx-status">loading</span></p>
  <p><a href="/">Home</a> · <a href="/second?from=home">Second page</a></p>
  <script id="wx-config" type="application/json">{signature}</script>
  <script src="{jssdk_url}"></script>
  <script>
    (function () {{
      var status = document.getElementById("wx-status");
      var sig = JSON.parse(document.getElementById("wx-config").textContent);
      if (!sig || typeof wx === "undefined") {{ status.textContent = "unavailable"; return; }}
      wx.config({{
        debug: false,
        appId: sig.appId,
        timestamp: sig.timestamp,
        nonceStr: sig.nonceStr,
        signature: sig.signature,
        jsApiList: ["updateAppMessageShareData", "updateTimelineShareData"]
      }});
      wx.ready(function () {{ status.textContent = "ready"; }});
      wx.error(function (res) {{ status.textContent = "error: " + (res && res.errMsg); }});
    }})();
  </script>
</body>
</html>
"""


def render(request: Request, title: str) -> HTMLResponse:
    context = request.state.wechat
    return HTMLResponse(
        PAGE.format(
            title=html.escape(title),
            openid=html.escape(context.openid or ""),
            signature=context.signature_json(),
            jssdk_url=html.escape(context.jssdk_url, quote=True),
        )
    )


async def home(request: Request) -> HTMLResponse:
    return render(request, "WeChat middleware · Starlette")


async def second(request: Request) -> HTMLResponse:
    return render(request, "Second page · Starlette")


async def me(request: Request) -> JSONResponse:
    """JSON endpoint: never redirected to OAuth, reports the user if any."""
    context = request.state.wechat
    return JSONResponse({"openid": context.openid, "is_wechat": context.is_wechat_browser})


app = Starlette(
    routes=[
        Route("/", home),
        Route("/second", second),
        Route("/api/me", me),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
)
app.add_middleware(WeChatMiddleware, wechat=wechat)
