"""Flask: ``wechat.init_app(app)`` gives ``request.wechat`` and ``{{ wechat }}``.

Only glue: the WSGI adapter does the work. The request class is subclassed, not
replaced, so an app's own request class keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
