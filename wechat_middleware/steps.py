"""The I/O steps a decision may ask for: completing a login, claiming a server check,
opening a push, signing a single-page app's config, receiving its reports.

``flow.decide`` is pure; when a request needs the store or WeChat it returns a step
(:mod:`wechat_middleware.actions`), and :meth:`Steps.perform` carries it out (in the
request's thread, or for an async server in a worker thread) and answers with a plain
action again. Every failure here becomes an answer the browser can act on, never an
exception out of the middleware.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from . import answers
from .actions import (
    ClaimServerCheck,
    CompleteLogin,
    IOStep,
    OpenMessage,
    PassThrough,
    ReceiveReport,
    RedeemTicket,
    SignConfig,
)
from .answers import Respond
from .errors import (
    CredentialPendingError,
    CryptoError,
    InvalidCodeError,
    StoreError,
    SystemBusyError,
    WeChatError,
    WeChatUnavailableError,
)
from .flow import MAX_CLOCK_SKEW
from .hooks import LoginHooks
from .jssdk import JSSDK
from .limits import WINDOW, ExchangeLimits
from .logs import DedupedWarning, ThrottledWarning
from .messages import Message
from .oauth import OAuth
from .relay import RelayClient, RelayError, Tickets, read_redeem
from .render import script_safe_json
from .rules import Rules
from .session import Session
from .signing import credential_id
from .spa import diagnose, parse_report
from .stores.base import Store
from .tokens import Kind
from .urls import relay_return_url
from .user import LoginResult

log = logging.getLogger("wechat_middleware")

STATE_CLAIM_TTL = 600.0  # as long as a state lives (session.STATE_TTL)
SERVER_CHECK_CLAIM_TTL = 2 * MAX_CLOCK_SKEW + 60.0  # past either edge of the window
REJECTED_TICKET_INTERVAL = 600.0  # at most one refetch a rejected ticket per 10 minutes


class CodeExchange(Protocol):
    """What turns a callback's code into a user: an Official Account's
    :class:`~wechat_middleware.oauth.OAuth` or a WeCom app's
    :class:`~wechat_middleware.wecom_login.WeComLogin`."""

    def login(self, code: str, *, via: str = ..., scope: str = ...) -> LoginResult: ...


class Steps:
    """Carries out the decision's I/O steps with what they need: the store (claims),
    the code exchange, the JS-SDK (signing), the login limits and hooks."""

    def __init__(
        self,
        rules: Rules,
        store: Store,
        oauth: CodeExchange,
        jssdk: JSSDK,
        limits: ExchangeLimits,
        clock: Callable[[], float],
        signing_failures: ThrottledWarning,
        hooks: LoginHooks,
        web_oauth: OAuth | None = None,
        relay: RelayClient | None = None,
    ) -> None:
        self.rules = rules
        self.store = store
        self.oauth = oauth
        self.jssdk = jssdk
        self.tokens = jssdk.tokens
        self.limits = limits
        self.clock = clock
        self.signing_failures = signing_failures
        self.hooks = hooks
        self.web_oauth = web_oauth  # the website app's, for desktop QR logins
        self.relay = relay  # a relay's target: where its tickets are redeemed
        self.tickets = Tickets(store, rules.keys, clock)  # a relay's own tickets
        self.report_log = DedupedWarning()

    def perform(self, step: IOStep) -> Respond | PassThrough:
        """Carry out ``step``; what to answer, or to pass through."""
        if isinstance(step, CompleteLogin):
            return self.complete_login(step)
        if isinstance(step, ClaimServerCheck):
            return self.claim_server_check(step)
        if isinstance(step, SignConfig):
            return self.sign_config(step)
        if isinstance(step, OpenMessage):
            return self.open_message(step)
        if isinstance(step, RedeemTicket):
            return self.redeem_ticket(step)
        return self.receive_report(step)

    def redeem_ticket(self, step: RedeemTicket) -> Respond:
        """A relay answers a target's redeem (its key checked already): the user, once."""
        if len(step.body) > step.max_body:
            return answers.json_error(413, f"a redeem is at most {step.max_body} bytes")
        fields = read_redeem(step.body)
        if fields is None:
            return answers.json_error(400, 'a redeem is JSON {"ticket", "target", "state"}')
        status, answer = self.tickets.take(*fields)
        if status != 200:
            log.warning("relay: refused to redeem a ticket: %s", answer["error"])
        return answers.json_answer(status, json.dumps(answer, ensure_ascii=False))

    def open_message(self, step: OpenMessage) -> Respond | PassThrough:
        """Check and decrypt a push (pure), then claim its timestamp and nonce once."""
        opened = open_message(step, self.rules)
        if isinstance(opened, Respond):
            return opened
        return self.claim_server_check(ClaimServerCheck(step.key, opened))

    def sign_config(self, step: SignConfig) -> Respond:
        """The argument of ``wx.config`` for the page URL the helper asks for, plus the
        URL signed and the ticket's id (for reports)."""
        request = step.request
        try:
            signed = self.jssdk.signed(request.url, for_page=True)
        except (WeChatError, StoreError) as exc:
            self.signing_failures.warning("no JS-SDK signature for a config request: %s", exc)
            return self._unsigned("jsapi_ticket", "WeChat", exc)
        config: dict[str, Any] = {
            "debug": request.debug,
            **{name: signed.public[name] for name in ("appId", "timestamp", "nonceStr")},
            "signature": signed.public["signature"],
            "jsApiList": list(request.apis),
            "openTagList": list(request.open_tags),
            "url": signed.public["url"],
            "ticketId": signed.ticket_id,
        }
        if self.rules.provider.signs_agent_config:
            # WeCom: wx.config in beta mode (the corp's identity), then wx.agentConfig
            # (the app's), signed with the app's own ticket (wecom-and-qrconnect.md 1.5).
            try:
                agent, agent_ticket_id = self.jssdk.agent_signed(request.url, for_page=True)
            except (WeChatError, StoreError) as exc:
                self.signing_failures.warning("no wx.agentConfig signature: %s", exc)
                return self._unsigned("agent_ticket", "WeCom", exc)
            config["beta"] = True
            config["agentConfig"] = {
                **agent,
                "jsApiList": list(request.apis),
                "ticketId": agent_ticket_id,  # for reports
            }
        return answers.json_answer(200, script_safe_json(config))

    def _unsigned(self, kind: Kind, provider: str, error: Exception) -> Respond:
        """503 while the ticket is being fetched (not waited for: a request that waits
        holds a worker) or fetching it fails; ``Retry-After`` says when to ask again."""
        if isinstance(error, CredentialPendingError):
            reason = f"the JS-SDK ticket is being fetched from {provider}; try again shortly"
        else:
            reason = f"{provider} is unavailable right now; try again later"
        retry_after = [("Retry-After", str(self.tokens.retry_after(kind)))]
        return answers.json_error(503, reason, retry_after)

    def receive_report(self, step: ReceiveReport) -> Respond:
        """Diagnose a ``wx.error`` report in one log line; refetch a rejected ticket."""
        if len(step.body) > step.max_body:
            return answers.json_error(413, f"a report is at most {step.max_body} bytes")
        report = parse_report(step.body)
        if isinstance(report, str):
            return answers.json_error(400, report)
        # WeCom's wx.agentConfig signs with the app's own ticket, wx.config with the corp's.
        kind: Kind = "agent_ticket" if report.err_msg.startswith("agentConfig") else "jsapi_ticket"
        try:  # the ticket every worker signs with now (the store's, if not held here)
            current = self.tokens.cached(kind)
        except StoreError:
            current = None
        held = current.value if current is not None else None
        diagnosis = diagnose(report, step.site, credential_id(held) if held else None)
        self.report_log.warning(
            f"{diagnosis.kind} {report.url[:300]}",
            "JS-SDK config failed in a browser: %s",
            diagnosis.text,
        )
        if diagnosis.ticket_rejected and held is not None:
            try:
                if self.tokens.invalidate_rejected(
                    kind, held, at_most_every=REJECTED_TICKET_INTERVAL
                ):
                    log.warning("dropped the %s WeChat rejected; fetching a new one", kind)
            except (StoreError, WeChatError) as exc:
                log.warning("could not drop the rejected %s: %s", kind, exc)
        return Respond(204, [answers.NO_STORE], b"")

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
                    extra=[("Retry-After", str(int(WINDOW)))],
                )
            claimed = self.store.acquire_lock(
                self.rules.keys.used_state(step.state), uuid.uuid4().hex, STATE_CLAIM_TTL
            )
            if not claimed:
                log.warning("OAuth callback replayed: its state was already used")
                return self._failed(400, "This login link was already used.", step, session)
            if step.relay_target and self.relay is not None:
                user = self.relay.redeem(step.code, step.relay_target, step.state)
                result = LoginResult(user, False)
            else:
                via = step.pending.via
                oauth = self.web_oauth if via == "qrconnect" and self.web_oauth else self.oauth
                scope = step.pending.scope or self.rules.config.scope
                result = oauth.login(step.code, via=via, scope=scope)
                if step.pending.target:
                    return self._hand_over(step, result)
        except RelayError as exc:
            log.warning("login through the relay failed: %s", exc)
            if exc.refused:
                return self._failed(
                    400, "This login link was already used or has expired.", step, session
                )
            return self._failed(
                503,
                f"{self.rules.provider.app_name} login is unavailable right now.",
                step,
                session,
            )
        except InvalidCodeError as exc:
            log.warning("OAuth code rejected by WeChat (%s)", exc.errcode)
            return self._failed(
                400, "This login link was already used or has expired.", step, session
            )
        except (WeChatUnavailableError, SystemBusyError, StoreError) as exc:
            log.warning("login failed, WeChat or the store is unavailable: %s", exc)
            return self._failed(
                503,
                f"{self.rules.provider.app_name} login is unavailable right now.",
                step,
                session,
            )
        except WeChatError as exc:
            log.warning("login failed: %s", exc)
            return self._failed(
                502, f"{self.rules.provider.app_name} refused the login.", step, session
            )
        if result.user is None:
            # A snapshot-page visitor has a virtual openid and no profile until they tap
            # through: do not log them in, and do not send them to OAuth again.
            kept = Session(attempts=session.attempts)
            session = kept.pause_logins_until(self.clock() + self.rules.anonymous_pause)
            return answers.back_to(self.rules, next_url, session, secure=secure)
        user = result.user
        is_new = session.user is None or session.user.key != user.key
        try:
            self.hooks.run(user, is_new)
        except Exception:  # the app's hook: anything it raises fails this login only
            log.exception("the on_login hook failed; the login is not kept")
            return self._failed(500, "Login could not be completed.", step, None)
        session = session.logged_in(user, self.clock(), step.pending)
        return answers.back_to(self.rules, next_url, session, secure=secure)

    def _hand_over(self, step: CompleteLogin, result: LoginResult) -> Respond:
        """On a relay: keep the user under a one-time ticket and send the browser back to
        the target's callback. ``on_login`` and the session are the target's; without a
        user (a snapshot visitor) the target is sent back with no ticket, as declined."""
        pending = step.pending
        ticket = None
        if result.user is not None:
            ticket = self.tickets.issue(result.user, pending.target, pending.target_state)
        back = relay_return_url(
            pending.target, self.rules.config.callback_path, pending.target_state, ticket
        )
        return answers.see_other(self.rules, back, step.session, secure=step.secure)

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


def open_message(step: OpenMessage, rules: Rules) -> Respond | PassThrough:
    """Pure: the push checked and decrypted, as what the app is called with (the
    replay claim comes after, in :meth:`Steps.open_message`)."""
    if step.msg_signature is None:
        message = Message.read(step.body) if len(step.body) <= step.max_body else None
        return PassThrough(None, False, step.page, False, message=message)
    if len(step.body) > step.max_body:
        return answers.text(413, "message too large")
    if rules.crypto is None:
        log.warning("an encrypted push arrived but there is no WECHAT_ENCODING_AES_KEY to open it")
        return answers.text(403, "encrypted messages are not configured")
    try:
        plain = rules.crypto.decrypt(step.msg_signature, step.timestamp, step.nonce, step.body)
    except CryptoError as exc:
        rules.bad_signatures.warning("rejected an encrypted push: %s", exc)
        return answers.text(403, "invalid signature")
    return PassThrough(None, False, step.page, False, message=Message.read(plain, rules.crypto))
