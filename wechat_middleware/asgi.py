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

import functools
import inspect
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

from .answers import Respond
from .context import WeChatContext, bound
from .flow import (
    IO_STEPS,
    LoginRequired,
    RequestView,
    decide,
    is_page_request,
    session_of,
    with_body,
)
from .protocol import SCOPE_BASE
from .threads import run_in_thread
from .urls import Page, PageSource, host_of, raw_path_of

if TYPE_CHECKING:
    from .context import MiddlewareParts
    from .rules import Rules

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


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
        self.wechat, self.rules, self.steps, self.clock = bound(wechat)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rules = self.rules
        parts = header_parts(scope["headers"])
        untouched = untouched_page(scope, parts, rules)
        if untouched is not None:
            page, wants_signature = untouched
            context = WeChatContext(self.wechat, page)
        else:
            view = scope_view(scope, parts)
            action = decide(view, rules, session_of(view.cookie, rules), self.clock())
            if isinstance(action, IO_STEPS):
                if action.max_body:
                    body, more = await _read_body(receive, action.max_body)
                    action = with_body(action, body)
                    receive = _handing_on(body, more, receive)  # the app may read it too
                action = await run_in_thread(self.steps.perform, action)
            if isinstance(action, Respond):
                await _respond(action, send, head=view.method == "HEAD")
                return
            context = WeChatContext.passing(self.wechat, action)
            wants_signature = action.wants_signature
        if wants_signature:
            # A page will most likely read the signature: fetch a due ticket now, in a
            # worker thread, rather than on the loop inside the endpoint.
            await context.prefetch_signature()
        scope["wechat"] = context
        state = scope.get("state")
        if state is None:
            scope["state"] = {"wechat": context}
        else:
            state["wechat"] = context
        try:
            await self.app(scope, receive, send)
        except LoginRequired as needed:  # a route's marker (FastAPI's require_wechat_user)
            await _respond(needed.answer, send, head=scope.get("method") == "HEAD")


def header_parts(raw_headers: list[tuple[bytes, bytes]]) -> HeaderParts:
    """The headers by name, the User-Agent and every Cookie header joined by "; "."""
    headers = dict(raw_headers)  # one C call; a repeated Cookie header is joined below
    cookie = headers.get(b"cookie")
    if cookie is None:
        cookie_text = ""
    else:
        if len(headers) != len(raw_headers):
            cookie = b"; ".join(value for name, value in raw_headers if name == b"cookie")
        cookie_text = cookie.decode("latin-1")
    return headers, headers.get(b"user-agent", b"").decode("latin-1"), cookie_text


HeaderParts = tuple[dict[bytes, bytes], str, str]  # what header_parts gives


def untouched_page(
    scope: Scope, parts: HeaderParts, rules: Rules
) -> tuple[PageSource, bool] | None:
    """The page of a request that passes untouched (not our path, no cookie of ours, not
    the app's browser: no decision needed) and whether it asks for a page (which will
    most likely read the signature); ``None`` when the decision must see it."""
    headers, user_agent, cookie = parts
    path: str = scope.get("path") or "/"
    if not rules.passes_untouched(path, user_agent, cookie):
        return None
    wants_signature = is_page_request(
        scope.get("method", "GET"),
        headers.get(b"accept", b"").decode("latin-1"),
        headers.get(b"x-requested-with", b"").decode("latin-1"),
    )
    return _ScopePage(scope, headers.get(b"host"), path), wants_signature


def scope_view(scope: Scope, parts: HeaderParts | None = None) -> RequestView:
    """The request view of an HTTP ``scope`` (``parts``: its :func:`header_parts`, when
    already split)."""
    headers, user_agent, cookie = parts or header_parts(scope["headers"])
    return _view(scope, scope.get("path") or "/", headers, user_agent, cookie)


def _target(scope: Scope, host: bytes | None, path: str) -> tuple[str, str, str, str]:
    """Scheme, host, raw path and query of the request, as the browser addressed them.

    ASGI's ``path`` is decoded UTF-8; when the server does not pass ``raw_path``, its
    bytes are encoded again.
    """
    scheme: str = scope.get("scheme", "http")
    raw = scope.get("raw_path")
    decoded = ((scope.get("root_path") or "") + path).encode("utf-8")
    return (
        scheme,
        host_of(host.decode("latin-1") if host else "", scope.get("server"), scheme),
        raw_path_of(raw.decode("latin-1") if raw else None, decoded),
        scope.get("query_string", b"").decode("latin-1"),
    )


class _ScopePage:
    """The page of a request that may never be signed: the scope's few values are kept
    (holding the scope would make a cycle through ``scope["wechat"]``) and joined only
    when the URL is read."""

    __slots__ = ("_host", "_path", "_values")

    def __init__(self, scope: Scope, host: bytes | None, path: str) -> None:
        self._values = tuple(map(scope.get, _PAGE_KEYS))
        self._host = host
        self._path = path

    def url(self, public_url: str | None) -> str:
        scope = dict(zip(_PAGE_KEYS, self._values, strict=True))
        return Page(*_target(scope, self._host, self._path)).url(public_url)


_PAGE_KEYS = ("scheme", "raw_path", "root_path", "query_string", "server")


def _view(
    scope: Scope, path: str, headers: dict[bytes, bytes], user_agent: str, cookie: str
) -> RequestView:
    scheme, host, raw_path, query = _target(scope, headers.get(b"host"), path)
    client = scope.get("client")
    return RequestView(
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
    )


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body's first messages, until more than ``limit`` bytes (one more tells "too
    large"), and whether more of it is still to come."""
    body = b""
    more = True
    while more and len(body) <= limit:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        body += message.get("body", b"")
        more = bool(message.get("more_body", False))
    return body, more


def _handing_on(body: bytes, more: bool, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body read so far, then the rest."""
    pending = [{"type": "http.request", "body": body, "more_body": more}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _respond(action: Respond, send: Send, *, head: bool) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in action.headers]
    headers.append((b"content-length", str(0 if head else len(action.body)).encode()))
    await send({"type": "http.response.start", "status": action.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else action.body})


class _Answer:
    """One of our answers as an ASGI response, what a Starlette endpoint may return."""

    def __init__(self, answer: Respond) -> None:
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _respond(self.answer, send, head=scope.get("method") == "HEAD")


def login_required(
    scope: str = SCOPE_BASE, *, members_only: bool = False
) -> Callable[[Endpoint], Endpoint]:
    """``@login_required(scope=...)`` on a Starlette endpoint (``async def f(request)``):
    it runs only for a user logged in with ``scope``; a page is sent to log in, a
    ``fetch``/XHR gets ``401 {"error": "login_required", "login_url": ...}``.
    ``members_only=True`` (a WeCom app): a logged-in visitor who is not a member of the
    corp gets 403.

    Framework-free: it reads the request's ``scope``, ``method`` and ``headers``.
    """

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Any) -> Any:
            context = request.scope.get("wechat")
            if not isinstance(context, WeChatContext):
                raise RuntimeError("login_required needs WeChatMiddleware on the app")
            answer = context.login_needed(
                scope, request.method, request.headers, members_only=members_only
            )
            if answer is not None:
                return _Answer(answer)
            result = endpoint(request)
            return await result if inspect.isawaitable(result) else result

        return guarded  # type: ignore[return-value]

    return decorate
