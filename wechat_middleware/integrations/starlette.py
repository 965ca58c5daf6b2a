"""Starlette and FastAPI: the ASGI adapter plus what endpoints use of it.

``app.add_middleware(WeChatMiddleware, wechat=wechat)`` (from
:mod:`wechat_middleware.asgi`) gives ``request.state.wechat``; in FastAPI,
``wechat: WeChatContext = Depends(get_wechat)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from ..answers import Respond
from ..asgi import Receive, Scope, Send, respond
from ..asgi import WeChatMiddleware as WeChatMiddleware  # the old path, for one release
from ..context import WeChatContext
from ..guard import LoginGuard, LoginRequired
from ..protocol import SCOPE_BASE
from ..user import User

__all__ = ["get_wechat", "login_required", "require_wechat_user"]


def get_wechat(request: Request) -> WeChatContext:
    """The request's :class:`~wechat_middleware.context.WeChatContext`; in FastAPI a
    dependency: ``wechat: WeChatContext = Depends(get_wechat)``."""
    context = request.scope.get("wechat")
    if not isinstance(context, WeChatContext):
        raise RuntimeError(
            "get_wechat needs wechat_middleware.asgi.WeChatMiddleware on the app "
            "(app.add_middleware(WeChatMiddleware, wechat=wechat))"
        )
    return context


def require_wechat_user(
    scope: str = SCOPE_BASE, *, members_only: bool = False
) -> Callable[[Request], User]:
    """FastAPI dependency: ``user: WeChatUser = Depends(require_wechat_user(scope=...))``.

    The user logged in with ``scope``; otherwise the request is answered as a marked
    route is (a redirect to log in, or ``401`` JSON for a ``fetch``) by
    :class:`~wechat_middleware.asgi.WeChatMiddleware`, and the endpoint never runs.
    ``members_only=True`` (a WeCom app): a logged-in visitor who is not a member of the
    corp is answered 403.
    """

    def dependency(request: Request) -> User:
        context = get_wechat(request)
        answer = context.login_needed(
            scope, request.method, request.headers, members_only=members_only
        )
        if answer is not None:
            raise LoginRequired(answer)
        assert context.user is not None
        return context.user

    return dependency


class _Answer:
    """One of our answers as what a Starlette endpoint returns (an ASGI app)."""

    def __init__(self, answer: Respond) -> None:
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(self.answer, send, head=scope.get("method") == "HEAD")


#: ``@login_required(scope=..., members_only=...)`` on a Starlette endpoint
#: (``def f(request)`` or ``async def``): it runs only for a user logged in with
#: ``scope``; a page is sent to log in, a ``fetch``/XHR gets ``401 {"error":
#: "login_required", "login_url": ...}``. ``members_only=True`` (a WeCom app): a
#: logged-in visitor who is not a member of the corp gets 403.
login_required: LoginGuard[Any] = LoginGuard(
    lambda args: args[0],
    lambda request: request.scope.get("wechat"),
    lambda answer, request: _Answer(answer),
    "app.add_middleware(WeChatMiddleware, wechat=wechat)",
)
