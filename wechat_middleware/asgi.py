"""ASGI adapter (pure ASGI, like Starlette's own middleware): no protocol logic here.

``scope["wechat"]`` and ``request.state.wechat`` are the request's
:class:`~wechat_middleware.context.WeChatContext`. Everything that may touch the
network or the store (the code exchange, a replay claim, a due ticket) runs in a worker
thread, so a slow WeChat never blocks the event loop. No framework is imported here:
Starlette's and FastAPI's markers live in :mod:`wechat_middleware.integrations.starlette`.

Behind a reverse proxy run uvicorn with ``--proxy-headers`` (and
``--forwarded-allow-ips``) or set ``WECHAT_PUBLIC_URL``, so the signed URL is the one
the browser sees; headers nobody applied are said once in the log
(:mod:`wechat_middleware.proxied`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from . import proxied
from .answers import Respond
from .engine import Engine, EngineParts
from .flow import is_page_request
from .guard import LoginRequired
from .urls import LazyPage, Page, host_of, raw_path_of
from .view import RequestView

if TYPE_CHECKING:
    from .context import WeChatContext

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
    (and every non-HTTP scope) to ``app``. Code under it may raise
    :class:`~wechat_middleware.guard.LoginRequired` to answer with a login instead
    (FastAPI's ``require_wechat_user`` does).

    :param app: the ASGI application to wrap.
    :param wechat: the app's :class:`~wechat_middleware.WeChat`, built with
        ``WeChat.from_env()`` so that a missing ``WECHAT_SECRET_KEY`` stops the app at
        start-up (Starlette builds its middleware only at the first request).
    """

    def __init__(self, app: ASGIApp, wechat: EngineParts) -> None:
        self.app = app
        self.engine = Engine(wechat)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        engine = self.engine
        parts = header_parts(scope["headers"])
        context = untouched(engine, scope, parts)
        outcome: Respond | WeChatContext
        if context is None:
            body = _Body(receive)
            outcome = await decided(engine, scope, parts, body.read)
            receive = body.receive
        else:
            if _prefetches(engine, context, scope, parts[0]):
                await context.prefetch_signature()
            outcome = context
        head = scope.get("method") == "HEAD"
        if isinstance(outcome, Respond):
            await respond(outcome, send, head=head)
            return
        scope["wechat"] = outcome
        state = scope.get("state")
        if state is None:
            scope["state"] = {"wechat": outcome}
        else:
            state["wechat"] = outcome
        try:
            await self.app(scope, receive, send)
        except LoginRequired as needed:
            await respond(needed.answer, send, head=head)


def header_parts(raw_headers: list[tuple[bytes, bytes]]) -> HeaderParts:
    """The headers by name, the User-Agent and every Cookie header joined by "; "."""
    headers = dict(raw_headers)
    cookie = headers.get(b"cookie")
    if cookie is None:
        cookie_text = ""
    else:
        if len(headers) != len(raw_headers):  # a repeated header: join the Cookie ones
            cookie = b"; ".join(value for name, value in raw_headers if name == b"cookie")
        cookie_text = cookie.decode("latin-1")
    return headers, headers.get(b"user-agent", b"").decode("latin-1"), cookie_text


HeaderParts = tuple[dict[bytes, bytes], str, str]  # what header_parts gives


async def serve(
    engine: Engine,
    scope: Scope,
    parts: HeaderParts,
    read_body: Callable[[int], Awaitable[bytes]],
) -> Respond | WeChatContext:
    """The engine's outcome for an HTTP ``scope`` whose headers are ``parts``
    (:func:`header_parts`): what Django's ASGI requests get, and what the middleware
    above does step by step (it keeps the body's ``receive`` for the app)."""
    context = untouched(engine, scope, parts)
    if context is None:
        return await decided(engine, scope, parts, read_body)
    if _prefetches(engine, context, scope, parts[0]):
        await context.prefetch_signature()
    return context


def _prefetches(
    engine: Engine, context: WeChatContext, scope: Scope, headers: dict[bytes, bytes]
) -> bool:
    """Whether this untouched request's signature should be made in a worker thread
    before the app runs: a page (which will likely read it, the decision's
    ``is_page_request``) whose signing would wait for the store or WeChat, as
    ``Engine.serve_async`` does for the requests the decision sees."""
    return (
        is_page_request(
            scope.get("method", "GET"),
            headers.get(b"accept", b"").decode("latin-1"),
            headers.get(b"x-requested-with", b"").decode("latin-1"),
        )
        and context.signing_needs_io
    )


def untouched(engine: Engine, scope: Scope, parts: HeaderParts) -> WeChatContext | None:
    """The context of a request that just reaches the app (``Engine.passes_untouched``),
    or ``None`` when the decision must see it."""
    headers, user_agent, cookie = parts
    path: str = scope.get("path") or "/"
    if not engine.passes_untouched(path, user_agent, cookie):
        return None
    # The values the URL is made of, not the scope: no reference cycle through it.
    return engine.untouched(
        LazyPage(_page, headers.get(b"host"), path, tuple(map(scope.get, _URL_KEYS)))
    )


async def decided(
    engine: Engine,
    scope: Scope,
    parts: HeaderParts,
    read_body: Callable[[int], Awaitable[bytes]],
) -> Respond | WeChatContext:
    """The engine's outcome for a request the decision sees."""
    headers, user_agent, cookie = parts
    path: str = scope.get("path") or "/"
    scheme, host, raw_path, query = _target(
        headers.get(b"host"), path, tuple(map(scope.get, _URL_KEYS))
    )
    client = scope.get("client")
    view = RequestView(
        method=scope.get("method", "GET"),
        scheme=scheme,
        host=host,
        path=path,
        raw_path=raw_path,
        query=query,
        user_agent=user_agent,
        accept=headers.get(b"accept", b"").decode("latin-1"),
        cookie=cookie,
        requested_with=headers.get(b"x-requested-with", b"").decode("latin-1"),
        client=client[0] if client else "",
        if_none_match=headers.get(b"if-none-match", b"").decode("latin-1"),
        origin=headers.get(b"origin", b"").decode("latin-1"),
        fetch_site=headers.get(b"sec-fetch-site", b"").decode("latin-1"),
        referer=headers.get(b"referer", b"").decode("latin-1"),
        authorization=headers.get(b"authorization", b"").decode("latin-1"),
    )
    if engine.watches_proxy and not headers.keys().isdisjoint(_PROXY_HEADERS):
        proxied.check(view, *(_text(headers.get(name)) for name in _PROXY_HEADERS))
    return await engine.serve_async(view, read_body)


#: The proxy headers :func:`proxied.check` compares with the request as it reached us.
_PROXY_HEADERS = (b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-for", b"forwarded")


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


#: What, besides the Host header and the path, the browser's URL is made of.
_URL_KEYS = ("scheme", "server", "root_path", "raw_path", "query_string")


def _target(host: bytes | None, path: str, values: tuple[Any, ...]) -> tuple[str, str, str, str]:
    """Scheme, host, raw path and query of the request, as the browser addressed them,
    from the scope's :data:`_URL_KEYS` values.

    ASGI's ``path`` is decoded UTF-8; when the server does not pass ``raw_path``, its
    bytes are encoded again.
    """
    scheme, server, root_path, raw_path, query = values
    scheme = scheme or "http"
    return (
        scheme,
        host_of(host.decode("latin-1") if host else "", server, scheme),
        raw_path_of(
            raw_path.decode("latin-1") if raw_path else None,
            ((root_path or "") + path).encode(),
        ),
        (query or b"").decode("latin-1"),
    )


def _page(host: bytes | None, path: str, values: tuple[Any, ...]) -> Page:
    return Page(*_target(host, path, values))


class _Body:
    """The request body as a step reads it, and the ``receive`` the app is given: the
    messages read so far, then the rest."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive

    async def read(self, limit: int) -> bytes:
        """The body's first messages, until more than ``limit`` bytes (one more tells
        "too large"); the app still receives all of it."""
        body = b""
        more = True
        receive = self.receive
        while more and len(body) <= limit:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
        pending = [{"type": "http.request", "body": body, "more_body": more}]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        self.receive = replay
        return body


async def respond(answer: Respond, send: Send, *, head: bool) -> None:
    """Send one of our answers (without its body to a ``HEAD``)."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
    headers.append((b"content-length", str(0 if head else len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else answer.body})
