"""``request.wechat``: what a page needs from WeChat, computed only when read."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .errors import ForeignURLError, StoreError, WeChatError
from .jssdk import JSSignature, check_page_url
from .user import WeChatUser

if TYPE_CHECKING:
    from .wechat import WeChat

log = logging.getLogger("wechat_middleware")

_UNSET: Any = object()
# Characters that could end a <script> element or a JS string early when JSON is
# dropped into HTML; escaped as \\uXXXX they are still the same JSON.
_SCRIPT_UNSAFE = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)


def script_safe_json(value: Any) -> str:
    """JSON that is safe inside ``<script>`` in an HTML page (and still valid JSON)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_UNSAFE)


class WeChatContext:
    """Per-request view of WeChat: the page's JS-SDK signature, the user, the browser.

    ``signature`` is lazy: a request that never reads it costs no ticket look-up. If
    WeChat cannot be reached it is ``None`` (and a warning is logged) so the page still
    renders, just without the JS-SDK.
    """

    __slots__ = ("_page_url", "_signature", "_url_source", "_wechat", "is_wechat_browser", "user")

    def __init__(
        self,
        wechat: WeChat,
        *,
        page_url: str | Callable[[], str],
        user: WeChatUser | None,
        is_wechat_browser: bool,
    ) -> None:
        self._wechat = wechat
        # The URL is built on first use: most requests never sign anything.
        self._page_url = page_url if isinstance(page_url, str) else None
        self._url_source = page_url
        self.user = user
        self.is_wechat_browser = is_wechat_browser
        self._signature: JSSignature | None = _UNSET

    def __repr__(self) -> str:
        openid = self.user.openid if self.user else None
        return f"<WeChatContext url={self.page_url!r} openid={openid!r}>"

    @property
    def page_url(self) -> str:
        """The URL the browser shows for this request (what ``signature`` signs)."""
        if self._page_url is None:
            assert callable(self._url_source)
            self._page_url = self._url_source()
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
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self.sign, url)

    async def asignature(self) -> JSSignature | None:
        """:attr:`signature` for ``async`` code (the ticket fetch off the event loop)."""
        if self._signature is _UNSET:
            self._signature = await self.asign(self.page_url)
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
        target = next if next is not None else _path_of(self.page_url)
        return f"{self._wechat.config.login_path}?next={quote(target, safe='/')}"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, lower-cased."""
    scheme, _, rest = url.partition("://")
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found >= 0:
            end = min(end, found)
    return f"{scheme}://{rest[:end]}".lower()


def same_origin(url: str, other: str) -> bool:
    return origin_of(url) == origin_of(other)


def _path_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"
