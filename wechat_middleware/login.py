"""The I/O steps a decision may ask for: completing a login, claiming a server check.

``flow.decide`` is pure; when a request needs the store or WeChat it returns a step,
and :meth:`LoginSteps.perform` carries it out (the WSGI adapter inline, the ASGI
adapter in a worker thread) and answers with a plain action again. Every failure here
becomes an answer the browser can act on, never an exception out of the middleware.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from . import answers
from .answers import Respond
from .errors import (
    InvalidCodeError,
    StoreError,
    SystemBusyError,
    WeChatError,
    WeChatUnavailableError,
)
from .flow import MAX_CLOCK_SKEW, ClaimServerCheck, CompleteLogin, IOStep, PassThrough
from .limits import ExchangeLimits
from .oauth import OAuth
from .rules import Rules
from .session import Session
from .stores.base import Store

log = logging.getLogger("wechat_middleware")

STATE_CLAIM_TTL = 600.0  # as long as a state lives (session.STATE_TTL)
SERVER_CHECK_CLAIM_TTL = 2 * MAX_CLOCK_SKEW + 60.0  # past either edge of the window


class LoginSteps:
    """What ``perform`` needs: the store (claims), OAuth (the exchange), the bound."""

    def __init__(
        self,
        rules: Rules,
        store: Store,
        oauth: OAuth,
        limits: ExchangeLimits,
        clock: Callable[[], float],
    ) -> None:
        self.rules = rules
        self.store = store
        self.oauth = oauth
        self.limits = limits
        self.clock = clock

    def perform(self, step: IOStep) -> Respond | PassThrough:
        """Carry out ``step``; what to answer, or to pass through."""
        if isinstance(step, CompleteLogin):
            return self.complete_login(step)
        return self.claim_server_check(step)

    def claim_server_check(self, step: ClaimServerCheck) -> Respond | PassThrough:
        """Accept each signed ``timestamp``+``nonce`` once: a captured URL cannot be
        replayed within the clock-skew window (with another body, or another echostr)."""
        try:
            fresh = self.store.acquire_lock(step.key, uuid.uuid4().hex, SERVER_CHECK_CLAIM_TTL)
        except StoreError as exc:
            log.warning("cannot check a server-check request for replay: %s", exc)
            return answers.text(503, "store unavailable")
        if not fresh:
            log.warning("rejected a replayed server-check request (timestamp and nonce reused)")
            return answers.text(403, "replayed request")
        return step.then

    def complete_login(self, step: CompleteLogin) -> Respond:
        """Within the bound, claim the state once, exchange the code, send the browser back."""
        session, next_url, secure = step.session, step.next_url, step.secure
        try:
            if not self.limits.allow(step.client):
                log.warning(
                    "OAuth code exchanges over the limit (%d a minute per client, %d in all); "
                    "answering 429 without calling WeChat",
                    self.limits.per_client,
                    self.limits.total,
                )
                return self._failed(
                    429,
                    "Too many logins right now. Please try again in a minute.",
                    step,
                    None,
                    extra=[("Retry-After", "60")],
                )
            claimed = self.store.acquire_lock(
                self.rules.keys.used_state(step.state), uuid.uuid4().hex, STATE_CLAIM_TTL
            )
            if not claimed:
                log.warning("OAuth callback replayed: its state was already used")
                return self._failed(400, "This login link was already used.", step, session)
            result = self.oauth.login(step.code)
        except InvalidCodeError as exc:
            log.warning("OAuth code rejected by WeChat (%s)", exc.errcode)
            return self._failed(
                400, "This login link was already used or has expired.", step, session
            )
        except (WeChatUnavailableError, SystemBusyError, StoreError) as exc:
            log.warning("login failed, WeChat or the store is unavailable: %s", exc)
            return self._failed(503, "WeChat login is unavailable right now.", step, session)
        except WeChatError as exc:
            log.warning("login failed: %s", exc)
            return self._failed(502, "WeChat refused the login.", step, session)
        if result.user is None:
            # A snapshot-page visitor has a virtual openid and no profile until they tap
            # through: do not log them in, and do not send them to OAuth again.
            kept = Session(attempts=session.attempts)
            session = kept.pause_logins_until(self.clock() + self.rules.anonymous_pause)
        else:
            session = session.logged_in(result.user)
        return answers.back_to(self.rules, next_url, session, secure=secure)

    def _failed(
        self,
        status: int,
        message: str,
        step: CompleteLogin,
        session: Session | None,
        extra: answers.Headers | None = None,
    ) -> Respond:
        return answers.page(
            self.rules, status, message, step.next_url, session, secure=step.secure, extra=extra
        )
