"""WSGI adapter: translate the environ, carry out the decision. No protocol logic here.

``environ["wechat"]`` is the request's :class:`~wechat_middleware.context.WeChatContext`.
Flask's ``request.wechat`` and the ``wechat`` template variable come from
:mod:`wechat_middleware.integrations.flask` on top of this.

Behind a reverse proxy the URL the browser sees must be the one signed: set
``WECHAT_PUBLIC_URL``, or let werkzeug's ``ProxyFix`` correct ``wsgi.url_scheme`` and
``HTTP_HOST`` before this middleware runs.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from .answers import Respond
from .context import WeChatContext, bound
from .flow import IO_STEPS, RequestView, decide, session_of, with_body
from .urls import Page, PageSource, host_of, raw_path_of

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .context import MiddlewareParts
    from .rules import Rules

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


class WeChatMiddleware:
    """Wrap any WSGI app so every request carries ``environ["wechat"]``.

    The middleware answers WeChat's server check (``WECHAT_VERIFY_PATH``) and the OAuth
    callback (``WECHAT_CALLBACK_PATH``) itself, sends a visitor in WeChat's browser who
    must log in to WeChat's authorize page, and passes everything else to ``app``::

        from wechat_middleware import WeChat
        from wechat_middleware.wsgi import WeChatMiddleware

        application = WeChatMiddleware(application, WeChat.from_env())

    :param app: the WSGI application to wrap.
    :param wechat: the app's :class:`~wechat_middleware.WeChat`; it must have a
        ``WECHAT_SECRET_KEY`` (the session cookie is signed with it), else
        :class:`~wechat_middleware.ConfigError` is raised here.

    Flask users call ``wechat.init_app(app)`` instead, which wraps ``app.wsgi_app``
    with this and adds ``request.wechat``.
    """

    def __init__(self, app: WSGIApplication, wechat: MiddlewareParts) -> None:
        self.app = app
        self.wechat, self.rules, self.steps, self.clock = bound(wechat)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        rules = self.rules
        page = untouched_page(environ, rules)
        if page is not None:
            environ["wechat"] = WeChatContext(self.wechat, page)
            return self.app(environ, start_response)
        view = environ_view(environ)
        action = decide(view, rules, session_of(view.cookie, rules), self.clock())
        if isinstance(action, IO_STEPS):
            if action.max_body:
                body = _read_body(environ, action.max_body)
                action = with_body(action, body)
                _hand_on(environ, body)  # the app may read the body too (a push)
            action = self.steps.perform(action)
        if isinstance(action, Respond):
            start_response(_STATUS_LINES[action.status], action.headers)
            return [] if view.method == "HEAD" else [action.body]
        environ["wechat"] = WeChatContext.passing(self.wechat, action)
        return self.app(environ, start_response)


def _target(environ: WSGIEnvironment, path: str) -> tuple[str, str, str]:
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


class _EnvironPage:
    """The page of a request that may never be signed: the environ's few values are
    copied (holding the environ would make a cycle through ``environ["wechat"]``) and
    joined only when the URL is read."""

    __slots__ = ("_path", "_values")

    def __init__(self, environ: WSGIEnvironment, path: str) -> None:
        self._path = path
        self._values = tuple(map(environ.get, _PAGE_KEYS))

    def url(self, public_url: str | None) -> str:
        values = dict(zip(_PAGE_KEYS, self._values, strict=True))
        scheme, host, raw_path = _target(values, self._path)
        return Page(scheme, host, raw_path, values["QUERY_STRING"] or "").url(public_url)


_PAGE_KEYS = (
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "RAW_URI",
    "REQUEST_URI",
    "SCRIPT_NAME",
    "QUERY_STRING",
)


def untouched_page(environ: WSGIEnvironment, rules: Rules) -> PageSource | None:
    """The page of a request that passes untouched (not our path, no cookie of ours, not
    the app's browser: no decision needed), or ``None`` when the decision must see it."""
    path = environ.get("PATH_INFO") or "/"
    route = path if path.isascii() else _text(path)
    user_agent = environ.get("HTTP_USER_AGENT", "")
    if rules.passes_untouched(route, user_agent, environ.get("HTTP_COOKIE", "")):
        return _EnvironPage(environ, path)
    return None


def _text(path: str) -> str:
    """A PEP 3333 path (the request's bytes as latin-1) as the text the config's paths
    and ASGI's ``path`` are: its bytes decoded as UTF-8, as ASGI servers decode them."""
    try:
        return path.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a server that passed text already
        return path


def environ_view(environ: WSGIEnvironment) -> RequestView:
    """The request view of a WSGI ``environ`` (for integrations that hold the environ)."""
    path = environ.get("PATH_INFO") or "/"
    return _view(environ, path, environ.get("HTTP_USER_AGENT", ""), environ.get("HTTP_COOKIE", ""))


def _view(environ: WSGIEnvironment, path: str, user_agent: str, cookie: str) -> RequestView:
    scheme, host, raw_path = _target(environ, path)
    return RequestView(
        method=environ.get("REQUEST_METHOD", "GET"),
        scheme=scheme,
        host=host,
        path=path if path.isascii() else _text(path),
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
    )


def _read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the body (one more tells "too large"); a body
    without a Content-Length is read as empty, as PEP 3333 asks."""
    length = environ.get("CONTENT_LENGTH") or ""
    if not length.isdigit() or int(length) == 0:
        return b""
    data: bytes = environ["wsgi.input"].read(min(int(length), limit + 1))
    return data


def _hand_on(environ: WSGIEnvironment, head: bytes) -> None:
    """Give the app the whole body again: what was read, then the unread rest."""
    if not head:
        return
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
