"""``RequestView``: the few facts about a request the decision reads.

Each adapter builds one from its server's request (a WSGI environ, an ASGI scope, a
Django request) with the keyword constructor, so ``flow.decide`` reads the same
plain strings whatever the server, and a test builds one by hand.
"""

from __future__ import annotations

from .urls import Page


class RequestView(Page):
    """The request as the server received it; also its :class:`~wechat_middleware.urls.Page`,
    whose URL is built only if something reads it. Treat it as read-only."""

    __slots__ = (
        "accept",
        "authorization",
        "client",
        "cookie",
        "fetch_site",
        "if_none_match",
        "method",
        "origin",
        "path",
        "referer",
        "requested_with",
        "user_agent",
    )

    def __init__(
        self,
        *,
        method: str,
        scheme: str,
        host: str,
        path: str,  # decoded, for routing
        raw_path: str,  # as sent (percent-encoded), for rebuilding the browser's URL
        query: str,  # raw query string as sent, without "?"
        user_agent: str = "",
        accept: str = "",
        cookie: str = "",
        requested_with: str = "",
        client: str = "",  # the peer's address (behind a proxy: as the proxy passed it on)
        if_none_match: str = "",
        origin: str = "",
        fetch_site: str = "",  # Sec-Fetch-Site
        referer: str = "",
        authorization: str = "",  # read only by a relay's redeem endpoint
    ) -> None:
        super().__init__(scheme, host, raw_path, query)
        self.method = method
        self.path = path
        self.user_agent = user_agent
        self.accept = accept
        self.cookie = cookie
        self.requested_with = requested_with
        self.client = client
        self.if_none_match = if_none_match
        self.origin = origin
        self.fetch_site = fetch_site
        self.referer = referer
        self.authorization = authorization

    def __repr__(self) -> str:
        return f"<RequestView {self.method} {self.scheme}://{self.host}{self.raw_path}>"
