"""WeChat's rules for global access tokens (classic and stable) and JS-SDK tickets.

The endpoints ``cgi-bin/token``, ``cgi-bin/stable_token`` and ``cgi-bin/ticket/getticket``,
and the signature check the JS-SDK runs against the live (or just retired) jsapi ticket.
Every method runs with the fake's lock held.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable

from .fake_records import (
    STABLE_FORCE_INTERVAL,
    STABLE_RENEW_WINDOW,
    TICKET_OVERLAP,
    TICKET_TYPES,
    FakeSettings,
    GlobalToken,
    Reply,
    Request,
    Ticket,
    error_reply,
    json_reply,
)


def credentials_error(fake: FakeSettings, appid: str, secret: str) -> Reply | None:
    """WeChat's answer to a wrong or missing app id or secret, or None when both are right."""
    if not appid:
        return error_reply(41002)
    if appid != fake.app_id:
        return error_reply(40013)
    if not secret:
        return error_reply(41004)
    if secret != fake.app_secret:
        return error_reply(40125)
    return None


def whitelist_error(fake: FakeSettings, request: Request) -> Reply | None:
    """40164 for a token call from an address off the app's IP whitelist (when the fake
    keeps one): WeChat checks the whitelist on the token endpoints only."""
    if fake.ip_whitelist is None or request.client in fake.ip_whitelist:
        return None
    return error_reply(40164, ip=request.client)


def jsapi_signature(ticket: str, noncestr: str, timestamp: str, url: str) -> str:
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's algorithm


class TicketShelf:
    """Tickets by key (a ticket type, a WeCom agent): the current one, and the one it
    replaced (which keeps verifying signatures for ``TICKET_OVERLAP``)."""

    def __init__(self) -> None:
        self.current: dict[str, Ticket] = {}
        self.previous: dict[str, Ticket] = {}

    def issue(self, key: str, now: float, ttl: int) -> Ticket:
        """The live ticket of ``key``, or a new one when there is none."""
        ticket = self.current.get(key)
        if ticket is None or now >= ticket.expires_at:
            if ticket is not None:
                self.previous[key] = ticket
            ticket = self.current[key] = Ticket(secrets.token_urlsafe(64), now + ttl)
        return ticket

    def live(self, key: str, now: float) -> str | None:
        ticket = self.current.get(key)
        return ticket.value if ticket is not None and now < ticket.expires_at else None

    def retire(self, key: str) -> None:
        """The next issue makes a new ticket; this one keeps its overlap."""
        ticket = self.current.pop(key, None)
        if ticket is not None:
            self.previous[key] = ticket

    def revoke(self, key: str) -> None:
        """The current and previous tickets stop verifying now."""
        self.current.pop(key, None)
        self.previous.pop(key, None)

    def verifying(self, keys: Iterable[str], now: float) -> list[Ticket]:
        """The tickets a signature may still be made with, for these keys."""
        candidates = [shelf.get(k) for k in keys for shelf in (self.current, self.previous)]
        return [t for t in candidates if t is not None and now < t.expires_at + TICKET_OVERLAP]


def signed_with_any(
    tickets: list[Ticket], url: str, noncestr: str, timestamp: str | int, signature: str
) -> bool:
    """The JS-SDK's check: sha1 over one of these tickets and the page URL without ``#``."""
    page_url = url.split("#", 1)[0]
    return any(
        hmac.compare_digest(
            jsapi_signature(t.value, noncestr, str(timestamp), page_url).encode(),
            signature.encode(),
        )
        for t in tickets
    )


class TokenRules:
    """Global tokens and tickets: what is issued, what is still accepted, and until when."""

    def __init__(self, fake: FakeSettings, clock: Callable[[], float]) -> None:
        self.fake = fake  # its app id, secret and TTLs
        self.clock = clock
        self.global_tokens: dict[str, GlobalToken] = {}
        self.stable_current: GlobalToken | None = None
        self.stable_forced_at: float | None = None
        self.tickets = TicketShelf()  # per type

    # ----------------------------------------------------------------- state

    @staticmethod
    def errcode(token: GlobalToken, now: float) -> int:
        if now >= token.revoked_at:
            return 40001
        if now >= token.expires_at:
            return 42001
        return 0

    def token_error(self, value: str) -> Reply | None:
        """The error a call with global token ``value`` gets, or None if it is live."""
        if not value:
            return error_reply(41001)
        token = self.global_tokens.get(value)
        errcode = 40001 if token is None else self.errcode(token, self.clock())
        return error_reply(errcode) if errcode else None

    def valid_tokens(self) -> set[str]:
        now = self.clock()
        return {v for v, token in self.global_tokens.items() if self.errcode(token, now) == 0}

    def revoke_all(self) -> None:
        now = self.clock()
        for token in self.global_tokens.values():
            token.revoked_at = min(token.revoked_at, now)

    def expire_all(self) -> None:
        now = self.clock()
        for token in self.global_tokens.values():
            token.expires_at = min(token.expires_at, now)

    def live_ticket(self, kind: str) -> str | None:
        return self.tickets.live(kind, self.clock())

    def retire_ticket(self, kind: str) -> None:
        """The next getticket issues a new ticket; this one keeps its overlap."""
        self.tickets.retire(kind)

    def revoke_tickets(self, kind: str) -> None:
        """The current and previous tickets stop verifying now; the next getticket issues one."""
        self.tickets.revoke(kind)

    def signature_valid(
        self, url: str, noncestr: str, timestamp: str | int, signature: str
    ) -> bool:
        """Would the JS-SDK accept this ``wx.config`` signature for this page (no fragment)?"""
        tickets = self.tickets.verifying(["jsapi"], self.clock())
        return signed_with_any(tickets, url, noncestr, timestamp, signature)

    def _new_token(self, kind: str, now: float) -> GlobalToken:
        token = GlobalToken(secrets.token_urlsafe(120), kind, now + self.fake.token_ttl)
        self.global_tokens[token.value] = token
        return token

    @staticmethod
    def _token_reply(token: GlobalToken, now: float) -> Reply:
        return json_reply(
            {"access_token": token.value, "expires_in": round(token.expires_at - now)}
        )

    # ----------------------------------------------------------------- endpoints

    def token(self, request: Request) -> Reply:
        """Classic token: every call issues a new one and retires the previous ones."""
        if request.arg("grant_type") != "client_credential":
            return error_reply(40002)
        error = credentials_error(self.fake, request.arg("appid"), request.arg("secret"))
        if error:
            return error
        error = whitelist_error(self.fake, request)
        if error:
            return error
        now = self.clock()
        for token in self.global_tokens.values():
            if token.kind == "classic":
                token.revoked_at = min(token.revoked_at, now + self.fake.token_overlap)
        return self._token_reply(self._new_token("classic", now), now)

    def stable_token(self, request: Request) -> Reply:
        """Stable token: shared while it lives; force_refresh renews, at most every 30 s."""
        try:
            body = json.loads(request.body)
        except ValueError:
            return error_reply(47001)
        if not isinstance(body, dict):
            return error_reply(47001)
        grant_type, appid, secret = (body.get(k, "") for k in ("grant_type", "appid", "secret"))
        force = body.get("force_refresh", False)
        if not all(isinstance(v, str) for v in (grant_type, appid, secret)):
            return error_reply(47001)
        if not isinstance(force, bool):
            return error_reply(47001)
        if grant_type != "client_credential":
            return error_reply(40002)
        error = credentials_error(self.fake, appid, secret) or whitelist_error(self.fake, request)
        if error:
            return error

        now = self.clock()
        current = self.stable_current
        if current is not None and self.errcode(current, now) == 0:
            if force:
                last = self.stable_forced_at
                if last is not None and now - last < STABLE_FORCE_INTERVAL:
                    return self._token_reply(current, now)  # too soon: current, unchanged
            elif current.expires_at - now > STABLE_RENEW_WINDOW:
                return self._token_reply(current, now)
        # Here a new token is due: forced, near or past expiry, or the current one is dead.
        if force:
            self.stable_forced_at = now
            if current is not None:
                current.revoked_at = min(current.revoked_at, now)
        # A normal renewal leaves the old token valid until its own expiry.
        self.stable_current = self._new_token("stable", now)
        return self._token_reply(self.stable_current, now)

    def ticket(self, request: Request) -> Reply:
        """JS-SDK ticket: one per app and type, cached by WeChat until it expires."""
        error = self.token_error(request.arg("access_token"))
        if error:
            return error
        kind = request.arg("type")
        if kind not in TICKET_TYPES:
            return error_reply(40097)
        now = self.clock()
        ticket = self.tickets.issue(kind, now, self.fake.ticket_ttl)
        return json_reply(
            {
                "errcode": 0,
                "errmsg": "ok",
                "ticket": ticket.value,
                "expires_in": round(ticket.expires_at - now),
            }
        )
