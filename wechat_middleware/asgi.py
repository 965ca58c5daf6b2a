"""ASGI adapter (pure ASGI, like Starlette's own middleware): no protocol logic here.

``scope["wechat"]`` and ``request.state.wechat`` are the request's
:class:`~wechat_middleware.context.WeChatContext`. Every call that may touch the
network or the store (the code exchange, a ticket refresh) runs in a worker thread,
so a slow WeChat never blocks the event loop.

Behind a reverse proxy run uvicorn with ``--proxy-headers`` (and
``--forwarded-allow-ips``) or set ``WECHAT_PUBLIC_URL``, so the signed URL is the one
the browser sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio.to_thread
from starlette.requests import Request

from .context import WeChatContext
from .flow import ClaimServerCheck, CompleteLogin, Flow, PassThrough, RequestView, Respond

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from .wechat import WeChat

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class WeChatMiddleware:
    """``app.add_middleware(WeChatMiddleware, wechat=wechat)`` or wrap any ASGI app."""

    def __init__(self, app: ASGIApp, wechat: WeChat) -> None:
        self.app = app
        self.wechat = wechat
        self.flow = Flow(wechat)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        action = self.flow.decide(_view(scope))
        if isinstance(action, CompleteLogin | ClaimServerCheck):
            action = await anyio.to_thread.run_sync(self.flow.perform, action)
        if isinstance(action, Respond):
            await _respond(action, send, head=scope["method"] == "HEAD")
            return
        assert isinstance(action, PassThrough)
        tokens = self.wechat.tokens
        if (
            action.wants_html
            and not tokens.held_fresh("jsapi_ticket")
            and not tokens.backing_off("jsapi_ticket")
        ):
            # The page will most likely read request.wechat.signature: make sure the
            # ticket is at hand without blocking the loop on the store or WeChat.
            await anyio.to_thread.run_sync(_prefetch_ticket, action.context)
        scope["wechat"] = action.context
        scope.setdefault("state", {})["wechat"] = action.context
        await self.app(scope, receive, send)


def _prefetch_ticket(context: WeChatContext) -> None:
    context.signature  # noqa: B018 - computes and caches the signature, or logs why not


async def _respond(action: Respond, send: Send, *, head: bool) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in action.headers]
    headers.append((b"content-length", str(0 if head else len(action.body)).encode()))
    await send({"type": "http.response.start", "status": action.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else action.body})


def _view(scope: Scope) -> RequestView:
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers", ()):
        if name in _WANTED:
            if name not in headers:
                headers[name] = value
            elif name == b"cookie":  # HTTP/2 sends one header per cookie
                headers[name] += b"; " + value
    raw_path = scope.get("raw_path")
    path: str = scope.get("path", "/") or "/"
    if raw_path:
        raw = raw_path.decode("latin-1").split("?", 1)[0]
    else:
        raw = quote(scope.get("root_path", "") + path, safe="/%;=@")
    host = headers.get(b"host", b"").decode("latin-1")
    if not host and scope.get("server"):
        server_host, port = scope["server"]
        host = f"{server_host}:{port}"
    return RequestView(
        method=scope.get("method", "GET"),
        scheme=scope.get("scheme", "http"),
        host=host,
        path=path,
        raw_path=raw,
        query=scope.get("query_string", b"").decode("latin-1"),
        user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
        accept=headers.get(b"accept", b"").decode("latin-1"),
        cookie=headers.get(b"cookie", b"").decode("latin-1"),
        requested_with=headers.get(b"x-requested-with", b"").decode("latin-1"),
        client=scope["client"][0] if scope.get("client") else "",
    )


_WANTED = {b"host", b"user-agent", b"accept", b"cookie", b"x-requested-with"}


def get_wechat(request: Request) -> WeChatContext:
    """FastAPI dependency: ``wechat: WeChatContext = Depends(get_wechat)``."""
    context = request.scope.get("wechat")
    if not isinstance(context, WeChatContext):
        raise RuntimeError("get_wechat needs wechat_middleware.asgi.WeChatMiddleware on the app")
    return context
