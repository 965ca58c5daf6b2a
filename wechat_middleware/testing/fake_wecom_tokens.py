"""WeCom's rules for access tokens and JS-SDK tickets (docs/wecom-and-qrconnect.md
sections 1.1, 1.2 and 1.5).

``cgi-bin/gettoken``: each app (agent) has its own secret, and its token serves that app
only; within its lifetime a repeated call returns the same token with what is left of
its life. ``cgi-bin/get_jsapi_ticket`` (the corp ticket, for ``wx.config``) and
``cgi-bin/ticket/get?type=agent_config`` (the app ticket, for ``wx.agentConfig``) are
issued to an agent's token and cached until they expire; both are limited per hour.
Every error is HTTP 200 with WeCom's errcode; every method runs with the fake's lock held.

Assumptions, as in FakeWeChat (docs/corrections.md section 1, finding J): a cached ticket
answers the rest of its life, and a replaced ticket still verifies signatures for
``TICKET_OVERLAP`` seconds.
"""

from __future__ import annotations

import math
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .fake_records import (
    AGENT_TICKET_TYPE,
    AGENT_TICKETS_PER_AGENT_HOUR,
    CORP_TICKETS_PER_AGENT_HOUR,
    CORP_TICKETS_PER_CORP_HOUR,
    Reply,
    Request,
    WeComSettings,
    wecom_error_reply,
    wecom_json_reply,
)
from .fake_tokens import TicketShelf, signed_with_any

HOUR = 3600.0


@dataclass
class AgentToken:
    """An app's access token. After ``revoked_at`` it answers 40014, after ``expires_at`` 42001."""

    value: str
    agent_id: str  # the app whose secret it was issued for: it serves that app only
    expires_at: float
    revoked_at: float = math.inf

    def errcode(self, now: float) -> int:
        if now >= self.revoked_at:
            return 40014
        if now >= self.expires_at:
            return 42001
        return 0


class HourlyLimit:
    """At most ``limit`` calls in any hour of the fake's clock; a refused call is not counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.times: deque[float] = deque()

    def full(self, now: float) -> bool:
        while self.times and self.times[0] <= now - HOUR:
            self.times.popleft()
        return len(self.times) >= self.limit

    def count(self, now: float) -> None:
        self.times.append(now)


class WeComTokenRules:
    """Tokens per agent, the corp and app tickets issued to them, and the hourly limits."""

    def __init__(self, fake: WeComSettings, clock: Callable[[], float]) -> None:
        self.fake = fake  # its corp id, agents and TTLs
        self.clock = clock
        self.tokens: dict[str, AgentToken] = {}
        self.current: dict[str, AgentToken] = {}  # per agent: what gettoken answers
        self.corp_tickets = TicketShelf()
        self.agent_tickets = TicketShelf()
        self.corp_limit = HourlyLimit(CORP_TICKETS_PER_CORP_HOUR)
        self.corp_limits = {a: HourlyLimit(CORP_TICKETS_PER_AGENT_HOUR) for a in fake.agents}
        self.agent_limits = {a: HourlyLimit(AGENT_TICKETS_PER_AGENT_HOUR) for a in fake.agents}

    # ----------------------------------------------------------------- state

    def agent_of(self, value: str) -> str | Reply:
        """The agent behind a live access token, or the error a call with it gets."""
        if not value:
            return wecom_error_reply(41001)
        token = self.tokens.get(value)
        errcode = 40014 if token is None else token.errcode(self.clock())
        if token is None or errcode:
            return wecom_error_reply(errcode)
        return token.agent_id

    def revoke_all(self) -> None:
        now = self.clock()
        for token in self.tokens.values():
            token.revoked_at = min(token.revoked_at, now)

    def expire_all(self) -> None:
        now = self.clock()
        for token in self.tokens.values():
            token.expires_at = min(token.expires_at, now)

    def agent_known(self, agent_id: str) -> bool:
        return agent_id in self.fake.agents

    def signature_valid(
        self, url: str, noncestr: str, timestamp: str | int, signature: str
    ) -> bool:
        """``wx.config``: signed with the corp ticket as issued to any of the corp's agents."""
        tickets = self.corp_tickets.verifying(self.fake.agents, self.clock())
        return signed_with_any(tickets, url, noncestr, timestamp, signature)

    def agent_signature_valid(
        self, agent_id: str, url: str, noncestr: str, timestamp: str | int, signature: str
    ) -> bool:
        """``wx.agentConfig``: signed with this agent's app ticket."""
        tickets = self.agent_tickets.verifying([agent_id], self.clock())
        return signed_with_any(tickets, url, noncestr, timestamp, signature)

    # ----------------------------------------------------------------- endpoints

    def gettoken(self, request: Request) -> Reply:
        """An app's token: the same one while it lives, a new one once it is dead."""
        corpid, secret = request.arg("corpid"), request.arg("corpsecret")
        if not corpid:
            return wecom_error_reply(41002)
        if corpid != self.fake.corp_id:
            return wecom_error_reply(40013)
        if not secret:
            return wecom_error_reply(41004)
        agent_id = next((a for a, s in self.fake.agents.items() if s == secret), None)
        if agent_id is None:
            return wecom_error_reply(40001)
        now = self.clock()
        token = self.current.get(agent_id)
        if token is None or token.errcode(now):
            token = AgentToken(secrets.token_urlsafe(160), agent_id, now + self.fake.token_ttl)
            self.tokens[token.value] = self.current[agent_id] = token
        return wecom_json_reply(
            {"access_token": token.value, "expires_in": round(token.expires_at - now)}
        )

    def jsapi_ticket(self, request: Request) -> Reply:
        """The corp ticket: 400 an hour per corp, at most 100 of them per app."""
        agent_id = self.agent_of(request.arg("access_token"))
        if isinstance(agent_id, Reply):
            return agent_id
        limits = (self.corp_limit, self.corp_limits[agent_id])
        return self._ticket(self.corp_tickets, agent_id, limits)

    def agent_ticket(self, request: Request) -> Reply:
        """The app ticket (``type=agent_config``): 100 an hour per app.

        Another ``type`` is 91040, "获取ticket的类型无效" (invalid ticket type) in WeCom's
        error table (WxJava's WxCpErrorMsgEnum; docs/wecom-and-qrconnect.md section 1.2
        does not list it).
        """
        agent_id = self.agent_of(request.arg("access_token"))
        if isinstance(agent_id, Reply):
            return agent_id
        if request.arg("type") != AGENT_TICKET_TYPE:
            return wecom_error_reply(91040)
        return self._ticket(self.agent_tickets, agent_id, (self.agent_limits[agent_id],))

    def _ticket(self, shelf: TicketShelf, agent_id: str, limits: tuple[HourlyLimit, ...]) -> Reply:
        now = self.clock()
        if any(limit.full(now) for limit in limits):
            return wecom_error_reply(45009)
        for limit in limits:
            limit.count(now)
        ticket = shelf.issue(agent_id, now, self.fake.ticket_ttl)
        return wecom_json_reply(
            {"ticket": ticket.value, "expires_in": round(ticket.expires_at - now)}
        )
