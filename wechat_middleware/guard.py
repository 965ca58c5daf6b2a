"""Routes that need a login: the rule (pure) and the one guard every framework's marker is.

``login_needed`` says what a marked route answers for a request; :class:`LoginGuard`
turns it into a decorator, in the shape of Django's ``user_passes_test``: a framework
gives it how to find the request among a view's arguments, the request's
:class:`~wechat_middleware.context.WeChatContext`, and how to turn our answer into its
response. Flask's, Starlette's and Django's markers are each one ``LoginGuard``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from . import answers
from .answers import Respond
from .protocol import SCOPE_BASE
from .render import script_safe_json
from .rules import Rules
from .urls import local_referer, with_next
from .user import User, WeComUser

View = TypeVar("View", bound=Callable[..., Any])
Request = TypeVar("Request")


def _is_async(view: Callable[..., Any]) -> bool:
    """An ``async`` view, also behind ``functools.partial`` or as a callable object."""
    while isinstance(view, functools.partial):
        view = view.func
    return inspect.iscoroutinefunction(view) or inspect.iscoroutinefunction(
        getattr(view, "__call__", None)  # noqa: B004 (a callable object's method)
    )


class LoginRequired(Exception):
    """Raised under the ASGI middleware to answer ``answer`` instead of the app: what
    FastAPI's dependency ``require_wechat_user`` does when the request needs a login."""

    def __init__(self, answer: Respond) -> None:
        super().__init__(f"login required ({answer.status})")
        self.answer = answer


def login_needed(
    rules: Rules,
    user: User | None,
    scope: str,
    *,
    is_wechat: bool,
    navigation: bool,
    page: str,
    referer: str,
    site: str | None,
    paused: bool = False,
    members_only: bool = False,
) -> Respond | None:
    """What a route that needs a login with ``scope`` answers for this request, or
    ``None`` when ``user`` may go on.

    ``members_only`` (a WeCom app): only members of the corp may go on. A visitor from
    outside it, once logged in, gets 403 (a page, or ``{"error": "members_only"}``
    for a ``fetch``), not another login: WeCom would name the same visitor again.
    An Official Account's users are nobody's members: it refuses them all.

    A page navigation is sent to the login path (302: WeChat's OAuth, or the QR login
    outside WeChat); a ``fetch``/XHR gets ``401 {"error": "login_required",
    "login_url": ...}`` whose ``login_url`` comes back to the page that called
    (``Referer``, when it is ours). A browser outside WeChat with no QR login gets a
    page saying to open it in WeChat.
    """
    scope = rules.own_scope(scope) or scope
    if members_only and user is not None and not _is_member(user):
        if not navigation:
            return answers.json_answer(403, script_safe_json({"error": "members_only"}))
        return answers.page(
            rules,
            403,
            "This page is for members of the organisation only.",
            "/",
            None,
            secure=False,
        )
    if user is not None and user.has_scope(scope):
        return None
    if not is_wechat and not rules.desktop_login:
        return answers.page(
            rules,
            403,
            f"Please open this page in {rules.provider.app_name} to log in.",
            "/",
            None,
            secure=False,
        )
    back = page if navigation else local_referer(referer, site)
    target = with_next(rules.config.login_path, back, scope)
    if navigation and paused:
        # Just logged out (or declined): a link to log in again, not a silent login.
        return answers.page(
            rules, 401, "Please log in to see this page.", target, None, secure=False
        )
    if navigation:
        return answers.redirect(rules, target)
    body = script_safe_json({"error": "login_required", "login_url": target})
    return answers.json_answer(401, body)


def _is_member(user: User) -> bool:
    """A member of the WeCom corp (a ``userid``), not a visitor from outside it."""
    return isinstance(user, WeComUser) and user.is_member


class Guarded(Protocol):
    """What a guard asks of the request's ``WeChatContext``."""

    def login_needed(
        self, scope: str, method: str, headers: Any, *, members_only: bool = False
    ) -> Respond | None: ...


class LoginGuard(Generic[Request]):
    """One framework's ``login_required(scope=..., members_only=...)``.

    :param request_of: the request, from the view's positional arguments.
    :param context_of: the request's ``WeChatContext`` (``None`` without the middleware).
    :param respond: our answer as the framework's response, for this request.
    :param setup: how to install the middleware, for the error when it is missing.

    The request is checked before the view runs (a plain or an ``async`` view); a
    request that needs a login gets our answer and the view never runs.
    """

    def __init__(
        self,
        request_of: Callable[[tuple[Any, ...]], Request],
        context_of: Callable[[Request], Guarded | None],
        respond: Callable[[Respond, Request], Any],
        setup: str,
    ) -> None:
        self.request_of = request_of
        self.context_of = context_of
        self.respond = respond
        self.setup = setup

    def answer(self, request: Request, scope: str, members_only: bool) -> Any | None:
        """The response that replaces the view for ``request``, or ``None`` to run it."""
        context = self.context_of(request)
        if context is None:
            raise RuntimeError(f"login_required needs the middleware: {self.setup}")
        answer = context.login_needed(
            scope,
            getattr(request, "method", None) or "GET",
            request.headers,  # type: ignore[attr-defined]
            members_only=members_only,
        )
        return None if answer is None else self.respond(answer, request)

    def __call__(
        self, scope: str = SCOPE_BASE, *, members_only: bool = False
    ) -> Callable[[View], View]:
        def decorate(view: View) -> View:
            if _is_async(view):

                async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                    answer = self.answer(self.request_of(args), scope, members_only)
                    return answer if answer is not None else await view(*args, **kwargs)

                return functools.wraps(view)(guarded_async)  # type: ignore[return-value]

            def guarded(*args: Any, **kwargs: Any) -> Any:
                answer = self.answer(self.request_of(args), scope, members_only)
                return answer if answer is not None else view(*args, **kwargs)

            return functools.wraps(view)(guarded)  # type: ignore[return-value]

        return decorate
