"""Starlette and FastAPI: the ASGI adapter plus what endpoints use of it.

``app.add_middleware(WeChatMiddleware, wechat=wechat)`` gives ``request.state.wechat``;
in FastAPI, ``wechat: WeChatContext = Depends(get_wechat)``.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

from ..asgi import WeChatMiddleware, login_required
from ..context import WeChatContext
from ..flow import LoginRequired
from ..protocol import SCOPE_BASE
from ..user import User

__all__ = ["WeChatMiddleware", "get_wechat", "login_required", "require_wechat_user"]


def get_wechat(request: Request) -> WeChatContext:
    """FastAPI dependency: ``wechat: WeChatContext = Depends(get_wechat)``."""
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
