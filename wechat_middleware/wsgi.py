"""WSGI adapter: translate environ to a ``RequestView`` and carry out the ``Flow``'s action.

No protocol logic lives here. ``environ["wechat"]`` is the request's
:class:`~wechat_middleware.context.WeChatContext`; ``WeChat.init_app`` adds Flask's
``request.wechat`` and the ``wechat`` template variable on top of this.

Behind a reverse proxy the URL the browser sees must be the one signed: set
``WECHAT_PUBLIC_URL``, or let werkzeug's ``ProxyFix`` correct ``wsgi.url_scheme`` and
``HTTP_HOST`` before this middleware runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .flow import ClaimServerCheck, CompleteLogin, Flow, PassThrough, RequestView, Respond

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .wechat import WeChat


class WeChatMiddleware:
    """Wrap a WSGI app: ``application = WeChatMiddleware(application, wechat)``."""

    def __init__(self, app: WSGIApplication, wechat: WeChat) -> None:
        self.app = app
        self.wechat = wechat
        self.flow = Flow(wechat)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        action = self.flow.decide(_view(environ))
        if isinstance(action, CompleteLogin | ClaimServerCheck):
            action = self.flow.perform(action)
        if isinstance(action, Respond):
            status = HTTPStatus(action.status)
            start_response(f"{status.value} {status.phrase}", action.headers)
            return [] if environ.get("REQUEST_METHOD") == "HEAD" else [action.body]
        assert isinstance(action, PassThrough)
        environ["wechat"] = action.context
        return self.app(environ, start_response)


_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9/%;=@._~!$&'()*+,:-]")


def _view(environ: WSGIEnvironment) -> RequestView:
    path = environ.get("PATH_INFO", "") or "/"
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw_uri and raw_uri.startswith("/"):
        raw_path = raw_uri.split("?", 1)[0]
    else:  # PEP 3333 strings are bytes decoded as latin-1: re-encode what the browser sent
        raw_path = environ.get("SCRIPT_NAME", "") + path
        if _NEEDS_QUOTING.search(raw_path):
            raw_path = quote(raw_path.encode("latin-1"), safe="/%;=@")
    host = environ.get("HTTP_HOST") or _server_host(environ)
    return RequestView(
        method=environ.get("REQUEST_METHOD", "GET"),
        scheme=environ.get("wsgi.url_scheme", "http"),
        host=host,
        path=path,
        raw_path=raw_path,
        query=environ.get("QUERY_STRING", ""),
        user_agent=environ.get("HTTP_USER_AGENT", ""),
        accept=environ.get("HTTP_ACCEPT", ""),
        cookie=environ.get("HTTP_COOKIE", ""),
        requested_with=environ.get("HTTP_X_REQUESTED_WITH", ""),
        client=environ.get("REMOTE_ADDR", ""),
    )


def _server_host(environ: dict[str, Any]) -> str:
    name, port = environ.get("SERVER_NAME", "localhost"), environ.get("SERVER_PORT", "")
    default = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
    return name if port in ("", default) else f"{name}:{port}"


def init_flask(flask_app: Any, wechat: WeChat) -> None:
    """Wrap ``flask_app.wsgi_app`` and add ``request.wechat`` and ``{{ wechat }}``.

    The request class is subclassed, not replaced, so an app's custom request class
    keeps working.
    """
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


_WECHAT_DOC = "The request's WeChatContext (signature, user, is_wechat_browser)."
