"""Flask: ``init_app(app, wechat)`` gives ``request.wechat`` and ``{{ wechat }}``.

Only glue: the WSGI adapter does the work. The request class is subclassed, not
replaced, so an app's own request class keeps working. ``get_wechat()`` is the typed
way to reach the request's context (``request.wechat`` is invisible to type checkers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..context import WeChatContext
from ..guard import LoginGuard
from ..wsgi import WeChatMiddleware

if TYPE_CHECKING:
    from ..answers import Respond
    from ..engine import EngineParts

__all__ = ["get_wechat", "init_app", "login_required"]

_WECHAT_DOC = "The request's WeChatContext (signature, user, is_wechat_browser)."


def init_app(flask_app: Any, wechat: EngineParts) -> None:
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


def get_wechat() -> WeChatContext:
    """The current request's :class:`~wechat_middleware.context.WeChatContext`
    (``request.wechat``, typed)."""
    from flask import request

    context = request.environ.get("wechat")
    if not isinstance(context, WeChatContext):
        raise RuntimeError("get_wechat needs init_app(app, wechat)")
    return context


def _current_request(args: tuple[Any, ...]) -> Any:
    from flask import request

    return request


def _respond(answer: Respond, request: Any) -> Any:
    from flask import Response

    return Response(answer.body, status=answer.status, headers=answer.headers)


#: ``@login_required(scope=..., members_only=...)`` on a Flask view (plain or ``async``):
#: it runs only for a user logged in with ``scope`` (``snsapi_userinfo`` upgrades a base
#: login with one consent screen). A page is sent to log in; a ``fetch``/XHR gets
#: ``401 {"error": "login_required", "login_url": ...}``; ``members_only=True`` (a WeCom
#: app): a logged-in visitor who is not a member of the corp gets 403.
login_required: LoginGuard[Any] = LoginGuard(
    _current_request,
    lambda request: request.environ.get("wechat"),
    _respond,
    "call init_app(app, wechat)",
)
