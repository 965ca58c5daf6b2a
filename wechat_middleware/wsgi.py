"""WSGI adapter: translate the environ, carry out the decision. No protocol logic here.

``environ["wechat"]`` is the request's :class:`~wechat_middleware.context.WeChatContext`.
Flask's ``request.wechat`` and the ``wechat`` template variable come from
:mod:`wechat_middleware.integrations.flask` on top of this.

Behind a reverse proxy the URL the browser sees must be the one signed: set
``WECHAT_PUBLIC_URL``, or let werkzeug's ``ProxyFix`` correct ``wsgi.url_scheme`` and
``HTTP_HOST`` before this middleware runs (it wraps this one: Flask's
``app.wsgi_app = ProxyFix(app.wsgi_app, ...)`` after ``init_app``). Headers nobody
applied are said once in the log (:mod:`wechat_middleware.proxied`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from . import proxied
from .answers import Respond
from .engine import Engine, EngineParts
from .urls import LazyPage, Page, host_of, raw_path_of
from .view import RequestView

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .context import WeChatContext

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


class WeChatMiddleware:
    """Wrap any WSGI app so every request carries ``environ["wechat"]``.

    The middleware answers WeChat's server check (``WECHAT_VERIFY_PATH``) and the OAuth
    callback (``WECHAT_CALLBACK_PATH``) itself, sends a visitor in WeChat's browser who
    must log in to WeChat's authorize page, and passes everything else to ``app``::

        from wechat_middleware import WeChat
        from wechat_middleware.wsgi import WeChatMiddleware

        application = WeChatMiddleware(application, WeChat.from_env())

    Flask users call ``integrations.flask.init_app(app, wechat)`` instead, which wraps
    ``app.wsgi_app`` with this and adds ``request.wechat``.

    :param app: the WSGI application to wrap.
    :param wechat: the app's :class:`~wechat_middleware.WeChat`; it must have a
        ``WECHAT_SECRET_KEY`` (the session cookie is signed with it), else
        :class:`~wechat_middleware.ConfigError` is raised here.
    """

    def __init__(self, app: WSGIApplication, wechat: EngineParts) -> None:
        self.app = app
        self.engine = Engine(wechat)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        outcome = serve(self.engine, environ)
        if isinstance(outcome, Respond):
            start_response(_STATUS_LINES[outcome.status], outcome.headers)
            return [] if environ.get("REQUEST_METHOD") == "HEAD" else [outcome.body]
        environ["wechat"] = outcome
        return self.app(environ, start_response)


def serve(
    engine: Engine,
    environ: WSGIEnvironment,
    read_body: Callable[[int], bytes] | None = None,
) -> Respond | WeChatContext:
    """The engine's outcome for a WSGI ``environ`` (Django's WSGI requests too, whose
    body Django reads: ``read_body``)."""
    path = environ.get("PATH_INFO") or "/"
    route = path if path.isascii() else _text(path)
    user_agent = environ.get("HTTP_USER_AGENT", "")
    cookie = environ.get("HTTP_COOKIE", "")
    if engine.passes_untouched(route, user_agent, cookie):
        # A copy taken before ``environ["wechat"]`` is set: no reference cycle through it.
        return engine.untouched(LazyPage(_page, environ.copy(), path))
    scheme, host, raw_path = _target(environ, path)
    view = RequestView(
        method=environ.get("REQUEST_METHOD", "GET"),
        scheme=scheme,
        host=host,
        path=route,
        raw_path=raw_path,
        query=environ.get("QUERY_STRING", ""),
        user_agent=user_agent,
        accept=environ.get("HTTP_ACCEPT", ""),
        cookie=cookie,
        requested_with=environ.get("HTTP_X_REQUESTED_WITH", ""),
        client=environ.get("REMOTE_ADDR", ""),
        if_none_match=environ.get("HTTP_IF_NONE_MATCH", ""),
        origin=environ.get("HTTP_ORIGIN", ""),
        fetch_site=environ.get("HTTP_SEC_FETCH_SITE", ""),
        referer=environ.get("HTTP_REFERER", ""),
        authorization=environ.get("HTTP_AUTHORIZATION", ""),
    )
    if engine.watches_proxy and not environ.keys().isdisjoint(_PROXY_KEYS):
        proxied.check(view, *map(environ.get, _PROXY_KEYS))
    return engine.serve(view, read_body or (lambda limit: _read_body(environ, limit)))


#: The proxy headers :func:`proxied.check` compares with the request as it reached us.
_PROXY_KEYS = (
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_FORWARDED",
)


def _target(environ: Mapping[str, Any], path: str) -> tuple[str, str, str]:
    """Scheme, host and raw path of the request, as the browser addressed it.

    PEP 3333 strings are the request's bytes decoded as latin-1: when the server does
    not pass the target as sent (gunicorn's ``RAW_URI``), its bytes are re-encoded.
    """
    scheme = environ.get("wsgi.url_scheme") or "http"
    host = host_of(
        environ.get("HTTP_HOST") or "",
        (environ.get("SERVER_NAME") or "localhost", _port(environ.get("SERVER_PORT"))),
        scheme,
    )
    raw_target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    decoded = ((environ.get("SCRIPT_NAME") or "") + path).encode("latin-1")
    return scheme, host, raw_path_of(raw_target, decoded)


def _page(environ: Mapping[str, Any], path: str) -> Page:
    return Page(*_target(environ, path), environ.get("QUERY_STRING") or "")


def _text(path: str) -> str:
    """A PEP 3333 path (the request's bytes as latin-1) as the text the config's paths
    and ASGI's ``path`` are: its bytes decoded as UTF-8, as ASGI servers decode them."""
    try:
        return path.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a server that passed text already
        return path


def _read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the body (one more tells "too large"), left
    readable for the app; a body without a Content-Length is read as empty, as PEP 3333
    asks."""
    length = environ.get("CONTENT_LENGTH") or ""
    if not length.isdigit() or int(length) == 0:
        return b""
    head: bytes = environ["wsgi.input"].read(min(int(length), limit + 1))
    if head:
        _hand_on(environ, head)  # the app may read the body too (a push)
    return head


def _hand_on(environ: WSGIEnvironment, head: bytes) -> None:
    """Give the app the whole body again: what was read, then the unread rest."""
    rest = environ["wsgi.input"]
    length = int(environ["CONTENT_LENGTH"])
    environ["wsgi.input"] = (
        io.BytesIO(head) if len(head) >= length else io.BufferedReader(_Rest(head, rest))
    )


class _Rest(io.RawIOBase):
    """A stream of ``head`` followed by what ``tail`` has left."""

    def __init__(self, head: bytes, tail: Any) -> None:
        self._head = head
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._tail.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _port(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None
