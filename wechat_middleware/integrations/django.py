"""Django: ``request.wechat`` under WSGI and ASGI, from ``settings.WECHAT``.

Only glue. A Django request carries what the server gave it (the WSGI environ, the ASGI
scope), so the WSGI and ASGI adapters' own translations feed the one engine
(:mod:`wechat_middleware.engine`), and its answer becomes an ``HttpResponse``::

    # settings.py
    MIDDLEWARE = ["wechat_middleware.integrations.django.WeChatMiddleware", ...]
    WECHAT = {"APP_ID": "wx...", "APP_SECRET": "...", "SECRET_KEY": "...", "STORE": "..."}
    TEMPLATES = [{..., "OPTIONS": {"context_processors": [
        ..., "wechat_middleware.integrations.django.context_processor"]}}]

``WECHAT`` keys are the environment names without ``WECHAT_`` (``PROTECT``, ``SCOPE``,
``PUBLIC_URL``...); what it leaves out is read from the ``WECHAT_*`` environment. Which
hosts are this site is Django's ``ALLOWED_HOSTS``: every request's Host is checked with
``request.get_host()`` before anything is built on it (a Host outside the list gets
Django's 400, as ``CommonMiddleware`` gives it), so ``WECHAT_ALLOWED_HOSTS`` is not read
here. The middleware answers its own paths (verify, callback, login, logout, the JS-SDK helper)
before URL routing, so Django's CSRF check never sees them; a view that receives
message pushes on the verify path needs ``@csrf_exempt`` (WeChat posts without a token;
the middleware has checked the signature).
"""

from __future__ import annotations

import functools
import os
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.signals import setting_changed
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from django.urls import get_resolver

from .. import asgi, wsgi
from ..answers import Respond
from ..context import WeChatContext
from ..engine import Engine
from ..guard import LoginGuard
from ..protocol import SCOPE_BASE
from ..threads import run_in_thread

if TYPE_CHECKING:
    from ..user import User
    from ..wechat import WeChat

__all__ = [
    "WeChatLoginRequiredMixin",
    "WeChatMiddleware",
    "context_processor",
    "get_wechat",
    "project_wechat",
    "set_wechat",
    "wechat_login_required",
    "wechat_user_logged_in",
]

#: Sent once per completed login with ``wechat`` (the app's :class:`WeChat`; ``sender``
#: is its class), ``user`` (a ``WeChatUser`` or ``WeComUser``) and ``is_new``. A receiver
#: that raises fails the login (a 500 page, nothing kept), as an ``on_login`` hook does.
wechat_user_logged_in = Signal()

_View = TypeVar("_View", bound=Callable[..., Any])
_wechat: WeChat | None = None
_signalling: weakref.WeakSet[WeChat] = weakref.WeakSet()  # apps whose logins send the signal


def get_wechat(request: HttpRequest | None = None) -> Any:
    """The request's :class:`~wechat_middleware.WeChatContext` (``request.wechat``,
    typed), as ``get_wechat`` is in every integration.

    Without a request it is the project's :class:`WeChat` as in the previous release:
    deprecated, use :func:`project_wechat`."""
    if request is None:
        import warnings

        warnings.warn(
            "get_wechat() without a request is deprecated: use project_wechat()",
            DeprecationWarning,
            stacklevel=2,
        )
        return project_wechat()
    context = getattr(request, "wechat", None)
    if not isinstance(context, WeChatContext):
        raise RuntimeError(
            "get_wechat needs wechat_middleware.integrations.django.WeChatMiddleware in "
            "settings.MIDDLEWARE"
        )
    return context


def project_wechat() -> WeChat:
    """The project's :class:`WeChat`, built once from ``settings.WECHAT`` over the
    ``WECHAT_*`` environment (and built again when a test overrides ``WECHAT``)."""
    global _wechat
    if _wechat is None:
        from ..wechat import WeChat

        set_wechat(WeChat.from_env({**os.environ, **settings_environ()}))
    assert _wechat is not None
    return _wechat


def set_wechat(wechat: WeChat | None) -> None:
    """Use ``wechat`` instead of one built from the settings (an app that builds its
    :class:`WeChat` in code, a test with its own); ``None`` goes back to the settings.
    Middleware built afterwards (a new handler) uses it."""
    global _wechat
    _wechat = wechat
    if wechat is not None and wechat not in _signalling:
        wechat.on_login(_send_signal(wechat))
        _signalling.add(wechat)


def settings_environ() -> dict[str, Any]:
    """``settings.WECHAT`` under the environment's names (its keys are them without
    ``WECHAT_``), laid over the ``WECHAT_*`` environment. Its values are read as given:
    a boolean, a list or a number as it is, text as the environment's; ``None`` leaves
    the setting to the environment."""
    given: Mapping[str, Any] = getattr(settings, "WECHAT", None) or {}
    return {f"WECHAT_{key}": value for key, value in given.items() if value is not None}


def _send_signal(wechat: WeChat) -> Callable[[User, bool], None]:
    def send(user: User, is_new: bool) -> None:
        # The callback is answered before routing, so in a fresh worker nothing may have
        # imported the URLconf yet, nor the views whose receivers it would connect: load it
        # first, as Django's own login view (reached through routing) always has.
        get_resolver().url_patterns  # noqa: B018 (a cached property: loads once)
        wechat_user_logged_in.send(sender=type(wechat), wechat=wechat, user=user, is_new=is_new)

    return send


def _forget_wechat(*, setting: str, **kwargs: Any) -> None:
    """``override_settings(WECHAT=...)`` in a test: build the app again from it."""
    global _wechat
    if setting == "WECHAT" and _wechat is not None:
        _wechat.close()
        _wechat = None


setting_changed.connect(_forget_wechat)


class WeChatMiddleware:
    """``request.wechat`` for every request; WeChat's paths answered before routing.

    Sync and async capable: under Django's ASGI handler it is a coroutine and anything
    that may reach WeChat or the store (a login's code exchange, a due ticket) runs in a
    worker thread. The Host is Django's to check (``ALLOWED_HOSTS``, through
    ``request.get_host()``), so a signature or a ``redirect_uri`` is only ever built on a
    host this site serves.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.engine = Engine(project_wechat(), host_checked=True)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._serve_async(request)
        environ = _environ_of(request, request.get_host())
        outcome = wsgi.serve(self.engine, environ, lambda limit: _body(request, limit))
        if isinstance(outcome, Respond):
            return _response(outcome, request)
        request.wechat = outcome  # type: ignore[attr-defined]
        return self.get_response(request)

    async def _serve_async(self, request: HttpRequest) -> HttpResponse:
        host = request.get_host()
        scope = getattr(request, "scope", None)  # Django's ASGIRequest keeps the scope
        if scope is None:  # an async middleware chain under the WSGI handler
            environ = _environ_of(request, host)
            read = functools.partial(_body, request)
            outcome = await run_in_thread(wsgi.serve, self.engine, environ, read)
        else:
            if request.scheme != scope.get("scheme"):  # SECURE_PROXY_SSL_HEADER applied
                scope = {**scope, "scheme": request.scheme}
            parts = asgi.header_parts(scope["headers"])
            parts[0][b"host"] = host.encode("latin-1")
            outcome = await asgi.serve(self.engine, scope, parts, _body_reader(request))
        if isinstance(outcome, Respond):
            return _response(outcome, request)
        request.wechat = outcome  # type: ignore[attr-defined]
        response: Awaitable[HttpResponse] = self.get_response(request)
        return await response


def _body_reader(request: HttpRequest) -> Callable[[int], Awaitable[bytes]]:
    async def read(limit: int) -> bytes:
        return _body(request, limit)

    return read


def _environ_of(request: HttpRequest, host: str) -> dict[str, Any]:
    """The WSGI environ of a ``WSGIRequest``, with the Host Django checked and the
    scheme Django sees (``SECURE_PROXY_SSL_HEADER`` applied). Django keeps it as META
    but replaces PATH_INFO and SCRIPT_NAME with text decoded from UTF-8 ("/你好"), which
    PEP 3333's latin-1 strings cannot hold: the WSGI strings of those UTF-8 bytes are
    put back."""
    meta = request.META
    return {
        **meta,
        "HTTP_HOST": host,
        "wsgi.url_scheme": request.scheme,
        "PATH_INFO": _pep3333(meta.get("PATH_INFO") or ""),
        "SCRIPT_NAME": _pep3333(meta.get("SCRIPT_NAME") or ""),
    }


def _pep3333(text: str) -> str:
    """A WSGI string: the text's UTF-8 bytes as latin-1. (Django's path is valid UTF-8,
    the bytes it could not decode percent-encoded; a surrogate cannot make this raise.)"""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def _body(request: HttpRequest, limit: int) -> bytes:
    """The body a step asked for, read through Django (which keeps it for the view)."""
    try:
        return request.body
    except RequestDataTooBig:  # over DATA_UPLOAD_MAX_MEMORY_SIZE
        return b"\0" * (limit + 1)


def _response(answer: Respond, request: HttpRequest) -> HttpResponse:
    response = HttpResponse(b"" if request.method == "HEAD" else answer.body, status=answer.status)
    for name, value in answer.headers:
        if name.lower() == "set-cookie":
            response.cookies.load(value)  # where Django (and its test client) keeps cookies
        else:
            response.headers[name] = value
    return response


# -- marking views that need a login ------------------------------------------------------------


#: ``wechat_login_required``'s guard: the request is a function view's first argument.
_guard: LoginGuard[HttpRequest] = LoginGuard(
    lambda args: args[0],
    lambda request: getattr(request, "wechat", None),
    lambda answer, request: _response(answer, request),
    "add wechat_middleware.integrations.django.WeChatMiddleware to settings.MIDDLEWARE",
)


@overload
def wechat_login_required(view: _View, *, scope: str = ..., members_only: bool = ...) -> _View: ...


@overload
def wechat_login_required(
    view: None = None, *, scope: str = ..., members_only: bool = ...
) -> Callable[[_View], _View]: ...


def wechat_login_required(
    view: _View | None = None, *, scope: str = SCOPE_BASE, members_only: bool = False
) -> _View | Callable[[_View], _View]:
    """``@wechat_login_required`` or ``@wechat_login_required(scope="snsapi_userinfo")``
    on a function view (plain or ``async``): it runs only for a user logged in with
    ``scope``; a page is sent to log in, a ``fetch``/XHR gets ``401 {"error":
    "login_required", "login_url": ...}``. ``members_only=True`` (a WeCom app): a
    logged-in visitor who is not a member of the corp gets 403."""
    decorate = _guard(scope, members_only=members_only)
    return decorate(view) if view is not None else decorate


class WeChatLoginRequiredMixin:
    """For class-based views: ``class Orders(WeChatLoginRequiredMixin, View)``, with
    ``wechat_scope = "snsapi_userinfo"`` to ask for the profile, and
    ``wechat_members_only = True`` to let in a WeCom corp's members only."""

    wechat_scope: str = SCOPE_BASE
    wechat_members_only: bool = False

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        answer = _guard.answer(request, self.wechat_scope, self.wechat_members_only)
        if answer is not None:
            return answer
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


def context_processor(request: HttpRequest) -> dict[str, Any]:
    """``{{ wechat }}`` in templates: the request's :class:`WeChatContext`."""
    return {"wechat": getattr(request, "wechat", None)}
