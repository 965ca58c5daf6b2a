"""The OAuth relay's I/O: its one-time tickets in the store, and a target's redeem call.

WeChat sends a login back only to the account's registered OAuth domain. A relay there
exchanges the code itself (the code never leaves it) and keeps the user under a ticket
that is random (256 bits), short-lived (:data:`TICKET_TTL`), bound to one target origin
and that target's state, and taken at most once (the store's lock, atomic on every
store). The target redeems it server to server with the shared ``WECHAT_RELAY_KEY``:
the ticket in the browser's URL is worth nothing without the key, and the relay never
calls a target (docs/several-domains.md).
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any

import requests

from .errors import StoreError
from .keys import StoreKeys
from .session import make_ticket, valid_ticket
from .stores.base import Store
from .user import User, user_from_dict

#: Seconds a ticket can be redeemed: the browser's one hop from the relay to the target.
TICKET_TTL = 60.0
MAX_ANSWER_BYTES = 16384


class RelayError(Exception):
    """A redeem that gave no user; ``refused``: the relay answered no (a 4xx), else it
    could not be asked."""

    def __init__(self, reason: str, *, refused: bool) -> None:
        super().__init__(reason)
        self.refused = refused


class Tickets:
    """A relay's tickets in its store."""

    def __init__(self, store: Store, keys: StoreKeys, clock: Callable[[], float]) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock

    def issue(self, user: User, target: str, state: str) -> str:
        """A new ticket for ``user``, redeemable once by ``target`` with ``state``."""
        ticket = make_ticket()
        held = {"user": user.to_dict(), "target": target, "state": state, "at": self.clock()}
        self.store.set(self.keys.relay_ticket(ticket), json.dumps(held), TICKET_TTL)
        return ticket

    def take(self, ticket: str, target: str, state: str) -> tuple[int, dict[str, Any]]:
        """The answer to a redeem: 200 and the user once, else a 4xx and why. Any
        attempt spends the ticket, so a wrong guess of target or state ends it too."""
        if not valid_ticket(ticket):
            return 404, {"error": "unknown or expired ticket"}
        key = self.keys.relay_ticket(ticket)
        try:
            if not self.store.acquire_lock(key + ":taken", uuid.uuid4().hex, TICKET_TTL):
                return 410, {"error": "ticket already used"}
            raw = self.store.get(key)
            self.store.delete(key)
        except StoreError:
            return 503, {"error": "store unavailable"}
        held = json.loads(raw) if raw else None
        if not isinstance(held, dict) or not 0 <= self.clock() - held["at"] <= TICKET_TTL:
            return 404, {"error": "unknown or expired ticket"}
        if not (_same(held["target"], target) and _same(held["state"], state)):
            return 403, {"error": "ticket issued for another site or login"}
        return 200, {"user": held["user"]}


def _same(held: str, given: str) -> bool:
    return hmac.compare_digest(held.encode(), given.encode("utf-8", "surrogateescape"))


def read_redeem(body: bytes) -> tuple[str, str, str] | None:
    """``{"ticket", "target", "state"}`` of a redeem's JSON body, else ``None``."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    fields = tuple(data.get(name) for name in ("ticket", "target", "state"))
    return fields if all(isinstance(f, str) and len(f) <= 300 for f in fields) else None  # type: ignore[return-value]


class RelayClient:
    """A target's calls to its relay: redeem a ticket, and ``doctor``'s check."""

    def __init__(self, relay: str, relay_path: str, key: str, timeout: float) -> None:
        self.base = relay + relay_path
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {key}"}
        self.session = requests.Session()

    def redeem(self, ticket: str, target: str, state: str) -> User:
        """The user the relay holds under ``ticket`` for ``target`` and ``state``."""
        body = {"ticket": ticket, "target": target, "state": state}
        reply = self._call("POST", "/redeem", json=body)
        if 400 <= reply.status_code < 500:
            raise RelayError(f"the relay refused the ticket ({reply.status_code})", refused=True)
        user = None
        if reply.status_code == 200 and len(reply.content) <= MAX_ANSWER_BYTES:
            try:
                data = reply.json()
                user = user_from_dict(data["user"]) if isinstance(data, dict) else None
            except (ValueError, KeyError, TypeError):
                user = None
        if user is None:
            raise RelayError(f"the relay answered {reply.status_code}", refused=False)
        return user

    def check(self, target: str) -> dict[str, Any]:
        """The relay's ``/check`` answer for ``target`` (``listed``, ``key``)."""
        reply = self._call("GET", "/check", params={"target": target})
        try:
            answer = reply.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise RelayError(f"the relay answered {reply.status_code}", refused=False)
        return answer

    def _call(self, method: str, path: str, **options: Any) -> requests.Response:
        try:
            return self.session.request(
                method,
                self.base + path,
                headers=self._headers,
                timeout=self.timeout,
                allow_redirects=False,
                **options,
            )
        except requests.RequestException as exc:
            reason = f"cannot reach the relay: {type(exc).__name__}"
            raise RelayError(reason, refused=False) from None

    def close(self) -> None:
        self.session.close()
