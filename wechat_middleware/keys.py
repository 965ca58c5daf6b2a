"""Every key the library writes to a store, in one place.

A store is shared: by every worker and host of one app, and often by several apps (an
Official Account and a WeCom app, staging and production) and by test runs against a
fake WeChat. A key therefore names both the app and the *issuer* of what it holds: a
token or ticket fetched from one API host must never be served to an app that talks to
another. The issuer is the API base URL, hashed to keep keys short; the app id stays
readable for whoever inspects the store.

Layout: ``wechat_middleware:{<app id>:<8 hex of the API base>}:<what>``. The braces are
a Redis Cluster hash tag: the cluster places a key by the text between its first ``{``
and ``}`` alone, so every key and lock of one app lives in one hash slot, on one node,
and a script or transaction touching several of them stays possible. Elsewhere they are
plain characters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

NAMESPACE = "wechat_middleware"


def issuer_tag(api_base: str) -> str:
    """8 hex characters naming the API host that issued the credentials."""
    return hashlib.sha256(api_base.rstrip("/").encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class StoreKeys:
    """The keys of one app against one issuer."""

    prefix: str

    @classmethod
    def for_app(cls, app_id: str, api_base: str) -> StoreKeys:
        return cls(f"{NAMESPACE}:{{{app_id}:{issuer_tag(api_base)}}}:")

    # -- global credentials (tokens.py) ------------------------------------------

    def credential(self, kind: str) -> str:
        """A token or ticket: ``[value, expires_at, refresh_at]``."""
        return self.prefix + kind

    def lock(self, name: str) -> str:
        """The single-flight lock of a refresh (or of the manual-refresh counter)."""
        return f"{self.prefix}lock:{name}"

    def rejected(self, kind: str) -> str:
        """Held while a ``kind`` a browser reported rejected is fetched again: at most
        one such refetch per window for every worker and host."""
        return self.lock(f"rejected:{kind}")

    def failure(self, kind: str) -> str:
        """The last failed fetch of ``kind``, kept for the back-off window."""
        return f"{self.prefix}failure:{kind}"

    def ticket_budget(self, kind: str) -> str:
        """Ticket fetches counted against the provider's hourly limit (WeCom)."""
        return f"{self.prefix}budget:{kind}"

    @property
    def manual_refresh(self) -> str:
        """The seed's 5-per-2-hours counter of unforced refreshes."""
        return self.prefix + "manual_refresh"

    @property
    def changed(self) -> str:
        """The pub/sub channel announcing a new or dropped token or ticket."""
        return self.prefix + "changed"

    # -- users and logins (oauth.py, steps.py) -------------------------------------

    def oauth_token(self, openid: str) -> str:
        """One user's OAuth access and refresh token."""
        return f"{self.prefix}oauth:{openid}"

    def used_state(self, state: str) -> str:
        """An OAuth ``state`` claimed at the callback (replay protection)."""
        return f"{self.prefix}state:{state}"

    def used_server_check(self, timestamp: str, nonce: str) -> str:
        """A server-check ``timestamp``+``nonce`` pair already accepted (replay protection)."""
        return f"{self.prefix}check:{timestamp}:{nonce}"

    def exchange_budget(self, scope: str) -> str:
        """Code exchanges counted per client (an IPv4 address or an IPv6 /64; ``*`` for
        all) in a window."""
        return f"{self.prefix}exchanges:{scope}"

    def relay_ticket(self, ticket: str) -> str:
        """A relay's one-time ticket: the user it hands one target once. Hashed, so a
        look into the store gives no ticket to redeem."""
        return f"{self.prefix}relay:{hashlib.sha256(ticket.encode()).hexdigest()[:32]}"

    # -- the token hub (hub.py) ---------------------------------------------------------

    def hub_calls(self, client: str) -> str:
        """One hub client's calls in a window (its rate limit)."""
        return f"{self.prefix}hub:calls:{client}"

    def hub_refusals(self, address: str) -> str:
        """Calls refused for a wrong key from one address in a window (brute force)."""
        return f"{self.prefix}hub:refusals:{address}"

    @property
    def hub_forced(self) -> str:
        """Held while a ``force_refresh`` without ``rejected`` may not fetch again."""
        return self.prefix + "hub:forced"

    @property
    def hub_health(self) -> str:
        """What ``/healthz`` reads to see the store answer."""
        return self.prefix + "hub:health"

    # -- tools ----------------------------------------------------------------------

    def probe(self, token: str) -> str:
        """A throwaway value ``doctor`` writes, reads back and deletes."""
        return f"{self.prefix}doctor:{token}"
