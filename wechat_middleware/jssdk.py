"""The seed's JS-SDK API: signatures for page URLs, over the shared token manager.

Method names are the seed's (``getSignatureByURL`` -> ``get_signature_by_url``) and
so are their defaults. One deliberate difference: what goes to the browser never
carries the jsapi ticket or the access token, and the per-URL cache is bounded (least
recently used out, approximately) so that a flood of distinct URLs cannot grow it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from .render import script_safe_json
from .signing import credential_id, jsapi_signature, make_nonce, verify_server_check
from .tokens import Kind, TokenManager
from .urls import check_page_url, normalize_url


class JSSignature(TypedDict):
    """What ``wx.config`` needs (``nonceStr`` is camelCase on the client)."""

    appId: str
    timestamp: int
    nonceStr: str
    signature: str
    url: str


class AgentSignature(TypedDict):
    """What ``wx.agentConfig`` needs besides ``jsApiList`` (a WeCom app)."""

    corpid: str
    agentid: str
    timestamp: int
    nonceStr: str
    signature: str


class SignatureInfo(JSSignature):
    """A signature plus the ticket it was made with: server-side only."""

    jsapi_ticket: str


def public(info: SignatureInfo | JSSignature) -> JSSignature:
    return {
        "appId": info["appId"],
        "timestamp": info["timestamp"],
        "nonceStr": info["nonceStr"],
        "signature": info["signature"],
        "url": info["url"],
    }


class Signed:
    """A signature ready for a page, rendered once per URL and nonce: a page signs its
    URL on every request, and the cached signature's JSON need not be built again."""

    __slots__ = ("info", "json", "public", "ticket", "ticket_id", "used", "wx_config_fields")

    def __init__(self, info: SignatureInfo) -> None:
        self.info = info
        self.ticket = info["jsapi_ticket"]
        self.ticket_id = credential_id(self.ticket)
        self.used = False  # read since it was cached or last spared (JSSDK._evict)
        self.public = public(info)
        self.json = script_safe_json(self.public)
        # '"appId":...,"timestamp":...,"nonceStr":...,"signature":...': the middle of
        # the argument of wx.config, between "debug" and "jsApiList".
        self.wx_config_fields = script_safe_json(
            {name: self.public[name] for name in ("appId", "timestamp", "nonceStr", "signature")}
        )[1:-1]


class JSSDK:
    """``wechat.jssdk``: sign page URLs, check WeChat's server requests, manage tokens."""

    def __init__(
        self,
        tokens: TokenManager,
        *,
        app_id: str,
        server_token: str | None = None,
        cache_size: int = 1024,
        clock: Callable[[], float] = time.time,
        agent_id: str | None = None,
    ) -> None:
        self.tokens = tokens
        self.app_id = app_id
        self.agent_id = agent_id  # a WeCom app's AgentId: it signs wx.agentConfig too
        self._server_token = server_token
        self.cache_size = cache_size
        self._clock = clock
        # URL -> signature, oldest first. Read without the lock (one get, atomic under
        # the GIL: every signed page reads it); changed only under the lock.
        self._cache: OrderedDict[str, Signed] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- signatures ----------------------------------------------------------

    def get_signature_by_url(self, url: str, force_new_signature: bool = False) -> JSSignature:
        """The signature for ``url``: from the cache while its ticket is current."""
        url = check_page_url(url)
        if force_new_signature:
            ticket = self.tokens.jsapi_ticket()
            return public(self.save_new_signature(self.gen_signature(ticket, url)))
        return public(self.signed(url).info)

    def signed(self, url: str, *, for_page: bool = False) -> Signed:
        """The cached signature of ``url`` (a URL :func:`check_page_url` passed), signed
        anew when the ticket changed; what ``request.wechat`` renders into pages.

        ``for_page``: never wait long for a ticket being fetched (the token manager's
        ``get_for_page``; :class:`~wechat_middleware.CredentialPendingError` instead)."""
        ticket = self._ticket("jsapi_ticket", for_page)
        signed = self._cache.get(url)
        # A signature made with an older ticket is never served: WeChat rejects it. (``==``
        # as the ticket re-read from the store is an equal string, not the same object.)
        if signed is not None and signed.ticket == ticket:
            signed.used = True
            return signed
        return self._keep(Signed(self.gen_signature(ticket, url)))  # signed outside the lock

    def agent_signature(self, url: str) -> AgentSignature:
        """A WeCom app's ``wx.agentConfig`` signature for ``url``: the same algorithm as
        ``wx.config``'s, with the app's own ticket (docs/wecom-and-qrconnect.md 1.5).
        Not cached: the ticket is held in memory and a SHA-1 costs a microsecond."""
        return self.agent_signed(url)[0]

    def agent_signed(self, url: str, *, for_page: bool = False) -> tuple[AgentSignature, str]:
        """:meth:`agent_signature` and the id of the ticket it was made with (what a
        browser's report names, never the ticket itself); ``for_page`` as in
        :meth:`signed`."""
        if self.agent_id is None:
            raise ValueError("wx.agentConfig is WeCom's: this app has no WECHAT_AGENT_ID")
        url = check_page_url(url)
        ticket = self._ticket("agent_ticket", for_page)
        nonce = make_nonce()
        timestamp = int(self._clock())
        signature: AgentSignature = {
            "corpid": self.app_id,
            "agentid": self.agent_id,
            "timestamp": timestamp,
            "nonceStr": nonce,
            "signature": jsapi_signature(ticket, nonce, timestamp, url),
        }
        return signature, credential_id(ticket)

    def _ticket(self, kind: Kind, for_page: bool) -> str:
        return (self.tokens.get_for_page(kind) if for_page else self.tokens.get(kind)).value

    def create_new_signature(self, url: str) -> JSSignature:
        """Sign ``url`` now, with a new nonce and timestamp, and cache it."""
        return self.get_signature_by_url(url, force_new_signature=True)

    def gen_signature(
        self,
        ticket: str,
        url: str,
        token: str | None = None,
        *,
        nonce: str | None = None,
        timestamp: int | None = None,
    ) -> SignatureInfo:
        """Sign ``url`` with ``ticket``. ``token`` is accepted as wechat-jssdk's is, and unused.

        ``nonce`` and ``timestamp`` default to a fresh random nonce and the clock; pass a
        page's own to reproduce its signature (``wechat-middleware sign --nonce``).
        """
        url = normalize_url(url)
        nonce = make_nonce() if nonce is None else nonce
        timestamp = int(self._clock()) if timestamp is None else timestamp
        return {
            "appId": self.app_id,
            "timestamp": timestamp,
            "nonceStr": nonce,
            "signature": jsapi_signature(ticket, nonce, timestamp, url),
            "url": url,
            "jsapi_ticket": ticket,
        }

    def prepare_new_signature(self) -> dict[str, str]:
        """The token and ticket a signature needs, fetched if not held."""
        ticket = self.tokens.jsapi_ticket()
        return {"access_token": self.tokens.access_token(), "jsapi_ticket": ticket}

    def save_new_signature(self, info: SignatureInfo) -> SignatureInfo:
        """Put a signature in the per-URL cache (evicting one not read lately)."""
        return self._keep(Signed(info)).info

    def _keep(self, signed: Signed) -> Signed:
        url = normalize_url(signed.info["url"])
        with self._cache_lock:
            self._cache[url] = signed
            self._cache.move_to_end(url)  # a new signature goes to the back of the line
            self._evict()
        return signed

    def _evict(self) -> None:
        """Bring the cache back to ``cache_size`` (the caller holds the lock).

        A second chance, as a page cache does: the oldest signature goes unless it was
        read since it was cached, in which case it is moved to the back, unmarked. That is
        close to least-recently-used out, while a hit only sets a flag (no lock, no
        reordering)."""
        while len(self._cache) > self.cache_size:
            url, oldest = self._cache.popitem(last=False)
            if oldest.used:
                oldest.used = False
                self._cache[url] = oldest

    def update_signature_by_url(self, url: str, info: Mapping[str, Any]) -> SignatureInfo | None:
        """Merge ``info`` into the cached signature of ``url``; ``None`` if none is cached."""
        url = normalize_url(url)
        with self._cache_lock:
            current = self._cache.get(url)
            if current is None:
                return None
            merged: SignatureInfo = {**current.info, **info}  # type: ignore[typeddict-item]
            self._cache[url] = Signed(merged)
            return merged

    def get_token_from_cache(self, url: str) -> JSSignature | None:
        """The cached signature of ``url`` (if its ticket is still current), no fetching."""
        cached = self._cache.get(normalize_url(url))
        held = self.tokens.cached("jsapi_ticket")
        if cached is None or held is None or cached.ticket != held.value:
            return None
        cached.used = True
        return public(cached.info)

    def get_cached_url_signature(self) -> dict[str, JSSignature]:
        """Every cached signature by URL (at most ``cache_size``)."""
        with self._cache_lock:
            return {url: public(signed.info) for url, signed in self._cache.items()}

    # -- server check ----------------------------------------------------------

    def verify_signature(self, query: Mapping[str, str]) -> bool:
        """WeChat's server check: ``signature`` over the token, ``timestamp`` and ``nonce``."""
        return verify_server_check(self._server_token, query)

    # -- global token and ticket -------------------------------------------------

    def get_access_token(self) -> dict[str, Any]:
        """The global access token (shared and cached; fetched once when missing)."""
        credential = self.tokens.get("access_token")
        return {
            "access_token": credential.value,
            "expires_in": max(int(credential.expires_at - self._clock()), 0),
        }

    def get_wechat_ticket(self, access_token: str) -> dict[str, Any]:
        """Ask WeChat for the jsapi ticket with ``access_token`` (a direct call)."""
        return self.tokens.client.fetch_ticket("jsapi_ticket", access_token)

    def update_access_token_or_ticket_globally(
        self, token: str | None = None, ticket: str | None = None
    ) -> None:
        """Store a token and/or ticket for every worker, e.g. from a central service."""
        self.tokens.set_globally(token, ticket)

    def get_new_token_and_ticket(self, force: bool = False) -> dict[str, str]:
        """Fetch a new token and ticket; unforced, at most 5 times within 2 hours."""
        token, ticket = self.tokens.refresh(force=force)
        return {"access_token": token.value, "jsapi_ticket": ticket.value}

    def get_cached_global_token(self) -> dict[str, Any] | None:
        """The held token and ticket with their expiry times, or ``None``; never fetches."""
        token = self.tokens.cached("access_token")
        ticket = self.tokens.cached("jsapi_ticket")
        if token is None and ticket is None:
            return None
        return {
            "access_token": token.value if token else None,
            "jsapi_ticket": ticket.value if ticket else None,
            "access_token_expires_at": token.expires_at if token else None,
            "jsapi_ticket_expires_at": ticket.expires_at if ticket else None,
        }
