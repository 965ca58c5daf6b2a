"""ASGI adapter (pure ASGI, like Starlette's own middleware): no protocol logic here.

``scope["wechat"]`` and ``request.state.wechat`` are the request's
:class:`~wechat_middleware.context.WeChatContext`. Everything that may touch the
network or the store (the code exchange, a replay claim, a due ticket) runs in a worker
thread, so a slow WeChat never blocks the event loop. No framework is imported here:
FastAPI's dependency ``get_wechat`` lives in :mod:`wechat_middleware.integrations.starlette`.

Behind a reverse proxy run uvicorn with ``--proxy-headers`` (and
``--forwarded-allow-ips``) or set ``WECHAT_PUBLIC_URL``, so the signed URL is the one
the browser sees.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from .answers import Respond
from .context import WeChatContext
from .flow import (
    ClaimServerCheck,
    CompleteLogin,
    RequestView,
    decide,
    is_page_request,
    session_of,
)
from .threads import run_in_thread
from .urls import Page, host_of, raw_path_of

if TYPE_CHECKING:
    from .context import MiddlewareParts

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class WeChatMiddleware:
    """Wrap any ASGI app so every HTTP request carries ``scope["wechat"]``.

    Starlette and FastAPI::

        app.add_middleware(WeChatMiddleware, wechat=WeChat.from_env())

    or any ASGI app: ``app = WeChatMiddleware(app, wechat)``. The middleware answers
    WeChat's server check and the OAuth callback itself, sends a visitor in WeChat's
    browser who must log in to WeChat's authorize page, and passes every other request
    (and every non-HTTP scope) to ``app``.

    :param app: the ASGI application to wrap.
    :param wechat: the app's :class:`~wechat_middleware.WeChat`, built with
        ``WeChat.from_env()`` so that a missing ``WECHAT_SECRET_KEY`` stops the app at
        start-up (Starlette builds its middleware only at the first request).
    """

    def __init__(self, app: ASGIApp, wechat: MiddlewareParts) -> None:
        self.app = app
        self.wechat = wechat
        self.rules = wechat.rules
        self.steps = wechat.login_steps
        self.clock = wechat.clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rules = self.rules
        headers = _Headers(scope)
        path: str = scope.get("path") or "/"
        if rules.passes_untouched(path, headers.user_agent, headers.cookie):
            context = WeChatContext(
                self.wechat, page=_page(scope, headers), user=None, is_wechat_browser=False
            )
            wants_signature = is_page_request(
                scope.get("method", "GET"), headers.accept, headers.requested_with
            )
        else:
            view = _view(scope, path, headers)
            action = decide(view, rules, session_of(headers.cookie, rules), self.clock())
            if isinstance(action, CompleteLogin | ClaimServerCheck):
                action = await run_in_thread(self.steps.perform, action)
            if isinstance(action, Respond):
                await _respond(action, send, head=view.method == "HEAD")
                return
            context = WeChatContext(
                self.wechat,
                page=action.page,
                user=action.user,
                is_wechat_browser=action.is_wechat,
            )
            wants_signature = action.wants_signature
        if wants_signature and context.signing_needs_io:
            # A page will most likely read the signature: fetch a due ticket now, in a
            # worker thread, rather than on the loop inside the endpoint.
            await run_in_thread(_prefetch_ticket, context)
        scope["wechat"] = context
        state = scope.get("state")
        if state is None:
            scope["state"] = {"wechat": context}
        else:
            state["wechat"] = context
        await self.app(scope, receive, send)


def _prefetch_ticket(context: WeChatContext) -> None:
    context.signature  # noqa: B018 - computes and caches the signature, or logs why not


class _Headers:
    """The request headers the middleware reads, from one pass over the scope's list."""

    __slots__ = ("accept", "cookie", "host", "requested_with", "user_agent")

    def __init__(self, scope: Scope) -> None:
        host = user_agent = accept = requested_with = b""
        cookies: list[bytes] = []
        for name, value in scope.get("headers", ()):
            if name == b"user-agent":
                user_agent = user_agent or value
            elif name == b"cookie":
                cookies.append(value)  # HTTP/2 sends one header per cookie
            elif name == b"host":
                host = host or value
            elif name == b"accept":
                accept = accept or value
            elif name == b"x-requested-with":
                requested_with = requested_with or value
        self.user_agent = user_agent.decode("latin-1")
        self.cookie = b"; ".join(cookies).decode("latin-1") if cookies else ""
        self.host = host.decode("latin-1")
        self.accept = accept.decode("latin-1")
        self.requested_with = requested_with.decode("latin-1")


def _page(scope: Scope, headers: _Headers) -> Page:
    scheme: str = scope.get("scheme", "http")
    raw = scope.get("raw_path")
    decoded = (scope.get("root_path", "") + (scope.get("path") or "/")).encode("utf-8")
    return Page(
        scheme,
        host_of(headers.host, scope.get("server"), scheme),
        raw_path_of(raw.decode("latin-1") if raw else None, decoded),
        scope.get("query_string", b"").decode("latin-1"),
    )


def _view(scope: Scope, path: str, headers: _Headers) -> RequestView:
    page = _page(scope, headers)
    client = scope.get("client")
    return RequestView(
        method=scope.get("method", "GET"),
        scheme=page.scheme,
        host=page.host,
        path=path,
        raw_path=page.raw_path,
        query=page.query,
        user_agent=headers.user_agent,
        accept=headers.accept,
        cookie=headers.cookie,
        requested_with=headers.requested_with,
        client=client[0] if client else "",
    )


async def _respond(action: Respond, send: Send, *, head: bool) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in action.headers]
    headers.append((b"content-length", str(0 if head else len(action.body)).encode()))
    await send({"type": "http.response.start", "status": action.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else action.body})
