"""The one driving loop: decide, read the body if asked, perform the I/O step, answer.

Every adapter (WSGI, ASGI, Django's sync and async middleware) translates its request
into a :class:`~wechat_middleware.view.RequestView` and the outcome back into its own
response; the loop between is written once, here. Under an event loop the same steps
run, with the I/O step in a worker thread so a slow WeChat or store never blocks it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from .actions import IO_STEPS, Action, with_body
from .answers import Respond
from .context import SigningParts, WeChatContext
from .flow import decide, session_of
from .redaction import hide_password
from .threads import run_in_thread
from .urls import ANY_HOST, PageSource
from .view import RequestView

if TYPE_CHECKING:
    from .rules import Rules
    from .steps import Steps

log = logging.getLogger("wechat_middleware")

#: What a request comes to: our answer, or the context the app is called with.
Outcome = Respond | WeChatContext


class EngineParts(SigningParts, Protocol):
    """What the engine uses of its :class:`~wechat_middleware.WeChat`."""

    @property
    def steps(self) -> Steps: ...

    clock: Callable[[], float]


class Engine:
    """One app's request loop, built once per middleware.

    Building it reads the app's rules, so a middleware that cannot run (no
    ``WECHAT_SECRET_KEY``) raises :class:`~wechat_middleware.ConfigError` when it is
    built, not at the first request. ``host_checked``: the framework has checked the
    Host already (Django's ``ALLOWED_HOSTS``), so any Host it passes is this site's.
    """

    __slots__ = ("clock", "hosts", "passes_untouched", "rules", "steps", "watches_proxy", "wechat")

    def __init__(self, wechat: EngineParts, *, host_checked: bool = False) -> None:
        self.wechat = wechat
        rules = wechat.rules
        self.hosts = ANY_HOST if host_checked else None
        self.rules = dataclasses.replace(rules, allowed_hosts=ANY_HOST) if host_checked else rules
        self.steps = wechat.steps
        self.clock = wechat.clock
        #: ``passes_untouched(path, user_agent, cookie)``: the request just reaches the
        #: app with no user, so no decision is needed (the rules' test, on raw strings).
        self.passes_untouched = self.rules.passes_untouched
        #: Whether the adapters hand :func:`proxied.check` the proxy headers of the
        #: requests the decision sees: with ``WECHAT_PUBLIC_URL`` they do not matter.
        self.watches_proxy = not rules.config.public_url
        _log_start(rules, wechat.tokens.store)

    def untouched(self, page: PageSource) -> WeChatContext:
        """The context of a request that passes untouched."""
        return WeChatContext(self.wechat, page, hosts=self.hosts)

    def serve(self, view: RequestView, read_body: Callable[[int], bytes]) -> Outcome:
        """The loop for a request the decision must see; ``read_body(limit)`` gives at
        most ``limit + 1`` bytes of the body (and leaves it readable for the app)."""
        action = self._decide(view)
        if isinstance(action, IO_STEPS):
            if action.max_body:
                action = with_body(action, read_body(action.max_body))
            action = self.steps.perform(action)
        if isinstance(action, Respond):
            return action
        return WeChatContext.passing(self.wechat, action, self.hosts)

    async def serve_async(
        self, view: RequestView, read_body: Callable[[int], Awaitable[bytes]]
    ) -> Outcome:
        """:meth:`serve` under an event loop: the I/O step runs in a worker thread, and a
        page that will likely read its signature has it made off the loop first."""
        action = self._decide(view)
        if isinstance(action, IO_STEPS):
            if action.max_body:
                action = with_body(action, await read_body(action.max_body))
            action = await run_in_thread(self.steps.perform, action)
        if isinstance(action, Respond):
            return action
        context = WeChatContext.passing(self.wechat, action, self.hosts)
        if action.wants_signature:
            await context.prefetch_signature()
        return context

    def _decide(self, view: RequestView) -> Action:
        rules = self.rules
        return decide(view, rules, session_of(view.cookie, rules), self.clock())


def _log_start(rules: Rules, store: object) -> None:
    """One INFO line when a middleware is built: what it runs as, so a deployment's log
    shows which app, store and URLs a problem happened under (no secret: the store's
    password is hidden)."""
    from . import __version__

    config = rules.config
    path = getattr(store, "path", None)  # the SQLite file, the default store's too
    where = hide_password(config.store) if config.store else f"sqlite:///{path}" if path else ""
    log.info(
        "wechat_middleware %s for %s app %s: store %s, public URL %s, paths %s",
        __version__,
        config.provider,
        config.app_id,
        where or type(store).__name__,
        config.public_url or "unset (built on the request's Host)",
        " ".join(sorted(rules.special_paths)),
    )
