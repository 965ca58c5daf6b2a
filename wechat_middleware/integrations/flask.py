"""Flask: ``wechat.init_app(app)`` gives ``request.wechat`` and ``{{ wechat }}``.

Only glue: the WSGI adapter does the work. The request class is subclassed, not
replaced, so an app's own request class keeps working.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..protocol import SCOPE_BASE
from ..wsgi import WeChatMiddleware

if TYPE_CHECKING:
    from ..context import MiddlewareParts

_WECHAT_DOC = "The request's WeChatContext (signature, user, is_wechat_browser)."


def init_app(flask_app: Any, wechat: MiddlewareParts) -> None:
    """Wrap ``flask_app.wsgi_app``; add ``request.wechat`` and the ``wechat`` template
    variable. Raises :class:`~wechat_middleware.ConfigError` without a secret key."""
    flask_app.wsgi_app = WeChatMiddleware(flask_app.wsgi_app, wechat)
    base = flask_app.request_class
    if not hasattr(base, "wechat"):
        flask_app.request_class = type(
            base.__name__,
            (base,),
            {"wechat": property(lambda self: self.environ.get("wechat"), doc=_WECHAT_DOC)},
        )

    def inject_wechat() -> dict[str, Any]:
        from flask import request

        return {"wechat": request.environ.get("wechat")}

    flask_app.context_processor(inject_wechat)
    flask_app.extensions["wechat_middleware"] = wechat


_View = TypeVar("_View", bound=Callable[..., Any])


def login_required(
    scope: str = SCOPE_BASE, *, members_only: bool = False
) -> Callable[[_View], _View]:
    """``@wechat.login_required(scope=...)`` on a Flask view: the view runs only for a
    user logged in with ``scope`` (``snsapi_userinfo`` upgrades a base login with one
    consent screen). A page is sent to log in; a ``fetch``/XHR gets
    ``401 {"error": "login_required", "login_url": ...}``. ``members_only=True`` (a
    WeCom app): a logged-in visitor who is not a member of the corp gets 403."""

    def decorate(view: _View) -> _View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            from flask import Response, request

            context = request.environ.get("wechat")
            if context is None:
                raise RuntimeError("login_required needs wechat.init_app(app)")
            answer = context.login_needed(
                scope, request.method, request.headers, members_only=members_only
            )
            if answer is None:
                return view(*args, **kwargs)
            return Response(answer.body, status=answer.status, headers=answer.headers)

        return guarded  # type: ignore[return-value]

    return decorate
