"""``request.wechat``: what a page needs from WeChat, computed only when read.

A :class:`WeChatContext` is built for every request the app sees, so it holds plain
data (the page's parts, the user) and does nothing until read: a request that never
signs costs no ticket look-up and not even the joining of its URL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ForeignURLError, StoreError, WeChatError
from .urls import Page, check_page_url, origin_of, same_origin
from .user import WeChatUser

if TYPE_CHECKING:
    from .config import WeChatConfig
    from .jssdk import JSSDK, JSSignature
    from .login import LoginSteps
    from .logs import ThrottledWarning
    from .rules import Rules
    from .tokens import TokenManager

log = logging.getLogger("wechat_middleware")

_UNSET: Any = object()
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# Characters that could end a <script> element or a JS string early when JSON is
# dropped into HTML; escaped as \\uXXXX they are still the same JSON.
_SCRIPT_UNSAFE = (
    ("&", "\\u0026"),
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def script_safe_json(value: Any) -> str:
    """JSON that is safe inside ``<script>`` in an HTML page (and still valid JSON)."""
    text = _ENCODE(value)
    for char, escaped in _SCRIPT_UNSAFE:
        if char in text:  # usually only "&" (a query string): skip the rest cheaply
            text = text.replace(char, escaped)
    return text


class SigningParts(Protocol):
    """What a context uses of its :class:`~wechat_middleware.WeChat`."""

    config: WeChatConfig
    jssdk: JSSDK
    tokens: TokenManager
    signing_failures: ThrottledWarning


class MiddlewareParts(SigningParts, Protocol):
    """What an adapter uses of its :class:`~wechat_middleware.WeChat`."""

    @property
    def rules(self) -> Rules: ...

    @property
    def login_steps(self) -> LoginSteps: ...

    clock: Callable[[], float]


class WeChatContext:
    """Per-request view of WeChat: the page's JS-SDK signature, the user, the browser.

    ``signature`` is lazy: a request that never reads it costs no ticket look-up. If
    WeChat cannot be reached it is ``None`` (and a warning is logged) so the page still
    renders, just without the JS-SDK. In ``async`` code use ``await asignature()`` and
    ``await asign(url)``, which fetch a due ticket off the event loop.
    """

    __slots__ = ("_page", "_page_url", "_signature", "_wechat", "is_wechat_browser", "user")

    def __init__(
        self,
        wechat: SigningParts,
        *,
        page: Page | None = None,
        page_url: str | None = None,
        user: WeChatUser | None,
        is_wechat_browser: bool,
    ) -> None:
        self._wechat = wechat
        self._page = page
        self._page_url = page_url  # given, or joined from ``page`` on first use
        self.user = user
        self.is_wechat_browser = is_wechat_browser
        self._signature: JSSignature | None = _UNSET

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
    def jssdk_url(self) -> str:
        return self._wechat.config.jssdk_url

    @property
    def signature(self) -> JSSignature | None:
        """``{appId, timestamp, nonceStr, signature, url}`` for the URL the browser shows.

        On ASGI, in ``async`` code that may run before the ticket is held (a JSON
        endpoint), use ``await asignature()`` instead: this property may fetch the
        ticket and would block the event loop meanwhile.
        """
        if self._signature is _UNSET:
            try:
                self._signature = self.sign(self.page_url)
            except ValueError as exc:  # an unsignable page URL (e.g. over 4 KB)
                log.warning("cannot sign this page's URL: %s", exc)
                self._signature = None
        return self._signature

    @property
    def signing_needs_io(self) -> bool:
        """Whether reading :attr:`signature` now would reach the store or WeChat (the
        ticket is not held fresh in this process, and fetching it is not known to be
        failing): what an event loop should run in a worker thread."""
        tokens = self._wechat.tokens
        return (
            self._signature is _UNSET
            and not tokens.held_fresh("jsapi_ticket")
            and not tokens.backing_off("jsapi_ticket")
        )

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
        try:
            return self._wechat.jssdk.get_signature_by_url(url)
        except (WeChatError, StoreError) as exc:
            self._wechat.signing_failures.warning("no JS-SDK signature for this page: %s", exc)
        return None

    async def asign(self, url: str) -> JSSignature | None:
        """:meth:`sign` for ``async`` code: a ticket fetch runs in a worker thread, so a
        slow WeChat never blocks the event loop."""
        if self._wechat.tokens.held_fresh("jsapi_ticket"):
            return self.sign(url)  # no I/O: the ticket is in memory
        from .threads import run_in_thread

        return await run_in_thread(self.sign, url)

    async def asignature(self) -> JSSignature | None:
        """:attr:`signature` for ``async`` code (the ticket fetch off the event loop)."""
        if self._signature is _UNSET:
            if self.signing_needs_io:
                from .threads import run_in_thread

                await run_in_thread(lambda: self.signature)
            else:
                return self.signature
        return self._signature

    def signature_json(self) -> str:
        """The signature as script-safe JSON (``null`` when unavailable)."""
        return script_safe_json(self.signature)

    def config_json(
        self,
        js_api_list: Iterable[str],
        debug: bool = False,
        open_tag_list: Iterable[str] = (),
    ) -> str:
        """The argument of ``wx.config(...)``, safe to drop into a ``<script>``."""
        signature = self.signature
        config: dict[str, Any] = {
            "debug": bool(debug),
            "appId": self._wechat.config.app_id,
            "timestamp": signature["timestamp"] if signature else 0,
            "nonceStr": signature["nonceStr"] if signature else "",
            "signature": signature["signature"] if signature else "",
            "jsApiList": list(js_api_list),
        }
        tags = list(open_tag_list)
        if tags:
            config["openTagList"] = tags
        return script_safe_json(config)

    def login_url(self, next: str | None = None) -> str:
        """Where to send the browser to log in and come back to ``next`` (a local path)."""
        from urllib.parse import quote

        target = next if next is not None else _path_of(self.page_url)
        return f"{self._wechat.config.login_path}?next={quote(target, safe='/')}"


def _path_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"
