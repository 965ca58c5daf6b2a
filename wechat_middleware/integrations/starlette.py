"""Starlette and FastAPI: the ASGI adapter plus what endpoints use of it.

``app.add_middleware(WeChatMiddleware, wechat=wechat)`` gives ``request.state.wechat``;
in FastAPI, ``wechat: WeChatContext = Depends(get_wechat)``.
"""

from __future__ import annotations

from starlette.requests import Request

from ..asgi import WeChatMiddleware
from ..context import WeChatContext

__all__ = ["WeChatMiddleware", "get_wechat"]


def get_wechat(request: Request) -> WeChatContext:
    """FastAPI dependency: ``wechat: WeChatContext = Depends(get_wechat)``."""
    context = request.scope.get("wechat")
    if not isinstance(context, WeChatContext):
        raise RuntimeError(
            "get_wechat needs wechat_middleware.asgi.WeChatMiddleware on the app "
            "(app.add_middleware(WeChatMiddleware, wechat=wechat))"
        )
    return context
