"""``request.wechat``: what a page needs from WeChat, computed only when read.

A :class:`WeChatContext` is built for every request the app sees, so it holds plain
data (the page's parts, the user) and does nothing until read: a request that never
signs costs no ticket look-up and not even the joining of its URL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .actions import PassThrough
from .answers import Respond
from .errors import ForeignURLError, StoreError, WeChatError
from .flow import is_page_request
from .guard import login_needed
from .logs import DedupedWarning
from .render import HTML, jssdk_tags, script_safe_json, wx_config_json
from .threads import run_in_thread
from .urls import (
    LazyPage,
    PageSource,
    check_page_url,
    host_refusal,
    origin_of,
    page_url,
    path_of,
    safe_next,
    same_origin,
    site_url,
    with_next,
)
from .user import User

if TYPE_CHECKING:
    from .config import WeChatConfig
    from .jssdk import JSSDK, AgentSignature, JSSignature, Signed
    from .logs import ThrottledWarning
    from .messages import Message
    from .rules import Rules
    from .tokens import TokenManager

log = logging.getLogger("wechat_middleware")

_UNSET: Any = object()
# A page asked for on a Host this site does not serve: one line per host now and then.
_unserved = DedupedWarning()


class SigningParts(Protocol):
    """What a context uses of its :class:`~wechat_middleware.WeChat`."""

    config: WeChatConfig
    jssdk: JSSDK
    tokens: TokenManager
    signing_failures: ThrottledWarning

    @property
    def rules(self) -> Rules: ...


class HeaderLookup(Protocol):
    """A request's headers, looked up by name in any case (werkzeug's, Starlette's and
    Django's all are)."""

    def get(self, key: str, default: str, /) -> str: ...


class WeChatContext:
    """Per-request view of WeChat: the page's JS-SDK signature, the user, the browser.

    ``signature`` is lazy: a request that never reads it costs no ticket look-up. If
    WeChat cannot be reached it is ``None`` (and a warning is logged) so the page still
    renders, just without the JS-SDK; so it is while the ticket is being fetched, once
    the fetch has taken half a second (``WECHAT_PAGE_WAIT``): a page never waits
    longer on WeChat or the store. In ``async`` code use ``await asignature()`` and
    ``await asign(url)``, which do that waiting off the event loop.
    """

    __slots__ = (
        "_hosts",
        "_page",
        "_page_url",
        "_signed",
        "_wechat",
        "is_wechat_browser",
        "logins_paused",
        "message",
        "user",
    )

    def __init__(
        self,
        wechat: SigningParts,
        page: PageSource | None = None,
        page_url: str | None = None,
        user: User | None = None,
        is_wechat_browser: bool = False,
        logins_paused: bool = False,
        message: Message | None = None,
        hosts: tuple[str, ...] | None = None,
    ) -> None:
        self._wechat = wechat
        self._hosts = hosts  # the Host headers pages may be signed for; None: the config's
        self.logins_paused = logins_paused
        #: A push to the verify path (WeCom's, or an Official Account's): the XML,
        #: decrypted and its signature checked; ``None`` on every other request.
        self.message = message
        self._page = page
        self._page_url = page_url  # given, or joined from ``page`` on first use
        self.user = user
        self.is_wechat_browser = is_wechat_browser
        self._signed: Signed | None = _UNSET

    @classmethod
    def passing(
        cls, wechat: SigningParts, action: PassThrough, hosts: tuple[str, ...] | None = None
    ) -> WeChatContext:
        """The context of a request the decision passes through to the app."""
        return cls(
            wechat,
            page=action.page,
            user=action.user,
            is_wechat_browser=action.is_wechat,
            logins_paused=action.logins_paused,
            message=action.message,
            hosts=hosts,
        )

    def __repr__(self) -> str:
        return f"<WeChatContext url={self.page_url!r} openid={self.openid!r}>"

    @property
    def page_url(self) -> str:
        """The URL the browser shows for this request (what ``signature`` signs)."""
        if self._page_url is None:
            page = self._page
            self._page_url = page.url(self._wechat.config.public_url) if page else ""
        return self._page_url

    @property
    def openid(self) -> str | None:
        return self.user.openid if self.user else None

    @property
    def userid(self) -> str | None:
        """A WeCom member's userid (``None`` for a visitor, or on an Official Account)."""
        return getattr(self.user, "userid", None)

    @property
    def jssdk_url(self) -> str:
        return self._wechat.config.jssdk_url

    @property
    def signature(self) -> JSSignature | None:
        """``{appId, timestamp, nonceStr, signature, url}`` for the URL the browser shows.

        On ASGI, in ``async`` code that may run before the ticket is held (a JSON
        endpoint), use ``await asignature()`` instead: this property may wait (half a
        second at most) for the ticket and would block the event loop meanwhile.
        """
        signed = self._page_signed()
        return dict(signed.public) if signed else None  # type: ignore[return-value]

    @property
    def signing_needs_io(self) -> bool:
        """Whether reading :attr:`signature` now would wait for the store or WeChat (the
        ticket is not held fresh in this process, fetching it is not known to be
        failing, and no fetch of it has been in flight so long that pages stopped
        waiting for it): what an event loop should run in a worker thread."""
        return self._signed is _UNSET and self._wechat.tokens.would_wait("jsapi_ticket")

    @property
    def agent_signature(self) -> AgentSignature | None:
        """A WeCom app's ``wx.agentConfig`` fields for this page (``corpid``, ``agentid``,
        ``timestamp``, ``nonceStr``, ``signature``); add your ``jsApiList``. ``None``
        (and a warning) when WeCom cannot be reached. Pages using the browser helper
        (``jssdk_tags``) need not read it: the helper calls ``wx.agentConfig`` itself."""
        refused = self._host_refused()
        if refused is not None:
            _unserved.warning(refused, "not signing this page for wx.agentConfig: %s", refused)
            return None
        try:
            url = check_page_url(self.page_url)
            return self._wechat.jssdk.agent_signed(url, for_page=True)[0]
        except ValueError as exc:
            log.warning("cannot sign this page's URL for wx.agentConfig: %s", exc)
        except (WeChatError, StoreError) as exc:
            self._wechat.signing_failures.warning("no wx.agentConfig signature: %s", exc)
        return None

    def sign(self, url: str) -> JSSignature | None:
        """Sign another URL of this site, e.g. the landing URL an iOS SPA reports.

        Only URLs of this site's own origin (``WECHAT_PUBLIC_URL``, else the scheme and
        host of this request) are signed: anything else raises :class:`ForeignURLError`
        (a ``ValueError``), so the method cannot serve as a signing oracle for other
        sites. ``None`` (and a warning, at most one per few seconds) when WeChat or the
        store cannot be reached.
        """
        url = check_page_url(url)
        if not same_origin(url, self.page_url):
            raise ForeignURLError(
                f"refusing to sign {url[:200]!r}: only URLs of this site's origin "
                f"{origin_of(self.page_url)!r} are signed (set WECHAT_PUBLIC_URL to the public "
                "origin if this is your site behind a proxy)"
            )
        refused = self._host_refused()
        if refused is not None:
            raise ForeignURLError(f"refusing to sign {url[:200]!r}: {refused}")
        signed = self._signed_or_none(url)
        return dict(signed.public) if signed else None  # type: ignore[return-value]

    async def asign(self, url: str) -> JSSignature | None:
        """:meth:`sign` for ``async`` code: a ticket fetch runs in a worker thread, so a
        slow WeChat never blocks the event loop."""
        if self._wechat.tokens.held_fresh("jsapi_ticket"):
            return self.sign(url)  # no I/O: the ticket is in memory
        from .threads import run_in_thread

        return await run_in_thread(self.sign, url)

    async def asignature(self) -> JSSignature | None:
        """:attr:`signature` for ``async`` code (the ticket fetch off the event loop)."""
        await self.prefetch_signature()
        return self.signature

    async def prefetch_signature(self) -> None:
        """Sign this page now, in a worker thread when that needs the store or WeChat, so
        that reading the signature afterwards never blocks an event loop."""
        if self.signing_needs_io:
            await run_in_thread(self._page_signed)

    def signature_json(self) -> HTML:
        """The signature as script-safe JSON (``null`` when unavailable), markup that
        templates insert as it is."""
        signed = self._page_signed()
        return HTML(signed.json if signed else "null")

    def config_json(
        self,
        js_api_list: Iterable[str],
        debug: bool = False,
        open_tag_list: Iterable[str] = (),
    ) -> HTML:
        """The argument of ``wx.config(...)``, safe to drop into a ``<script>`` as it is
        (markup: templates need no ``|safe``); without a signature (WeChat unreachable)
        its ``signature`` is empty, so ``wx.error`` fires."""
        signed = self._page_signed()
        if signed is not None:
            fields = signed.wx_config_fields
        else:
            fields = script_safe_json(
                {
                    "appId": self._wechat.config.app_id,
                    "timestamp": 0,
                    "nonceStr": "",
                    "signature": "",
                }
            )[1:-1]
        return HTML(wx_config_json(fields, js_api_list, debug, open_tag_list))

    def jssdk_tags(
        self,
        js_api_list: Iterable[str],
        open_tag_list: Iterable[str] = (),
        debug: bool = False,
    ) -> HTML:
        """The script tags that give a server-rendered page a working ``wx``: the browser
        helper (which signs the URL WeChat checks on iOS and on Android, and keeps
        ``wx`` configured across route changes) and its ``ready`` call. Safe to put
        in a template as it is (``{{ request.wechat.jssdk_tags([...]) }}``)."""
        _, script, _ = self._wechat.config.jssdk_paths
        return jssdk_tags(script, js_api_list, open_tag_list, debug)

    def login_needed(
        self, scope: str, method: str, headers: HeaderLookup, *, members_only: bool = False
    ) -> Respond | None:
        """What a route that needs a login with ``scope`` answers (a redirect to log
        in, or a 401 JSON for a ``fetch``; 403 for a WeCom visitor who is not a member
        when ``members_only``), or ``None`` when this user may go on. The markers of
        :mod:`wechat_middleware.integrations` call it with their request's method and
        (case-insensitive) headers."""
        page_url = self.page_url
        return login_needed(
            self._wechat.rules,
            self.user,
            scope,
            is_wechat=self.is_wechat_browser,
            navigation=is_page_request(
                method, headers.get("Accept", ""), headers.get("X-Requested-With", "")
            ),
            page=safe_next(path_of(page_url)),
            referer=headers.get("Referer", ""),
            site=origin_of(page_url) if page_url else None,
            paused=self.logins_paused,
            members_only=members_only,
        )

    def logout_url(self, next: str | None = None) -> str:
        """Where a logout form posts (``<form method="post" action="...">``); it comes back
        to ``next`` (a local path), by default this page."""
        target = next if next is not None else path_of(self.page_url)
        return with_next(self._wechat.config.logout_path, safe_next(target))

    def login_url(self, next: str | None = None, scope: str | None = None) -> str:
        """Where to send the browser to log in and come back to ``next`` (a local path)."""
        target = next if next is not None else path_of(self.page_url)
        return with_next(self._wechat.config.login_path, target, scope)

    def _page_signed(self) -> Signed | None:
        """This page's signature, made on first use (its own URL needs no origin check)."""
        if self._signed is _UNSET:
            page = self._page.page() if isinstance(self._page, LazyPage) else self._page
            if page is not None and self._page_url is None:
                # The site's origin for this Host (memoised) is also the URL's base.
                base = self._site(page.scheme, page.host)
                refused = None if base is not None else host_refusal(page.host)
                if base is not None:
                    self._page_url = page_url(base, page.raw_path, page.query)
            else:
                refused = self._host_refused()
            if refused is not None:
                _unserved.warning(refused, "not signing this page: %s", refused)
                self._signed = None
                return None
            try:
                url = check_page_url(self.page_url)
            except ValueError as exc:  # an unsignable page URL (e.g. over 4 KB)
                log.warning("cannot sign this page's URL: %s", exc)
                self._signed = None
            else:
                self._signed = self._signed_or_none(url)
        return self._signed

    def _site(self, scheme: str, host: str) -> str | None:
        """The origin pages of ``host`` are signed on (``urls.site_url``), or ``None``."""
        config = self._wechat.config
        allowed = config.served_hosts if self._hosts is None else self._hosts
        return site_url(config.public_url, scheme, host, allowed)

    def _host_refused(self) -> str | None:
        """Why this page is not signed for its own origin (a Host this site does not
        serve: docs in ``urls.site_url``), or ``None`` when it may be."""
        scheme, _, host = origin_of(self.page_url).partition("://")
        return None if self._site(scheme, host) is not None else host_refusal(host)

    def _signed_or_none(self, url: str) -> Signed | None:
        try:
            return self._wechat.jssdk.signed(url, for_page=True)
        except (WeChatError, StoreError) as exc:
            self._wechat.signing_failures.warning("no JS-SDK signature for this page: %s", exc)
        return None
