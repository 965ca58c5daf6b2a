"""Which URL: the one home for every URL the middleware reads, builds or checks.

Pure: no I/O. The JS-SDK signature must cover the URL the *browser* shows
(docs/wechat-protocol.md section 4.3), byte for byte, and the OAuth ``redirect_uri``
must be on the public host (section 5.1). Both adapters turn what their server passed
(a WSGI environ, an ASGI scope) into the same few strings through the helpers here, so
the two cannot drift apart; and every redirect target is checked here to stay on the
site.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from urllib.parse import quote, urlencode, urlsplit

from .protocol import SCOPE_LOGIN

MAX_NEXT_LENGTH = 2048
MAX_PAGE_URL_LENGTH = 4096
MAX_REDIRECT_URL_LENGTH = 4096

# What may stay unescaped in a path or query we rebuild (the rest is percent-encoded).
URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_PATH_SAFE = "/%;=@"
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9/%;=@._~!$&'()*+,:-]")
_PORT = r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5]?[0-9]{1,4}))?"
_HOST = re.compile(rf"[A-Za-z0-9.\-]{{1,253}}{_PORT}|\[[0-9A-Fa-f:.]{{2,45}}\]{_PORT}")
_DEFAULT_PORTS = {"http": 80, "https": 443}
UNUSABLE_HOST = "invalid-host"  # in a page's URL when its Host header was malformed


# -- what the server passed -> what the browser sent ------------------------------------


def host_of(host_header: str, server: tuple[str, int | None] | None, scheme: str) -> str:
    """The ``host[:port]`` the browser addressed: the Host header, or else the server's
    own address (an IPv6 address in brackets, the scheme's default port left out)."""
    if host_header:
        return host_header
    if not server:
        return ""
    name, port = server
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    return name if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{name}:{port}"


def raw_path_of(raw_target: str | None, decoded_path: bytes) -> str:
    """The path as the browser sent it (percent-encoded).

    ``raw_target`` is the request target as sent when the server passes it (gunicorn's
    ``RAW_URI``, ASGI's ``raw_path``); otherwise the decoded path (its bytes) is encoded
    again, leaving what was already safe as it was.
    """
    if raw_target and raw_target.startswith("/"):
        return raw_target.split("?", 1)[0]
    path = decoded_path.decode("latin-1")
    if _NEEDS_QUOTING.search(path):
        return quote(decoded_path, safe=_PATH_SAFE)
    return path


def valid_host(host: str) -> bool:
    """``host[:port]`` with a real port (0-65535): anything else is not a host we build on."""
    return _HOST.fullmatch(host) is not None


def base_url(public_url: str | None, scheme: str, host: str) -> str | None:
    """The scheme and host the browser sees: ``public_url`` when configured, else the
    request's (``None`` when its Host cannot be trusted to build a URL on)."""
    if public_url:
        return public_url
    if not valid_host(host):
        return None
    return f"{scheme}://{host}"


# -- which hosts this site is ----------------------------------------------------------------

#: The hosts served when neither ``WECHAT_PUBLIC_URL`` nor ``WECHAT_ALLOWED_HOSTS`` is
#: set: this machine's own names, as Django allows them under ``DEBUG`` with an empty
#: ``ALLOWED_HOSTS`` (``.localhost`` is ``localhost`` and its subdomains).
LOOPBACK_HOSTS = (".localhost", "127.0.0.1", "[::1]")
ANY_HOST = ("*",)  # the Host was checked already (Django's ALLOWED_HOSTS)


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``host[:port]`` is one of ``allowed``, read as Django reads
    ``ALLOWED_HOSTS``: ``*`` is any host, ``.example.com`` that domain and its
    subdomains, anything else one exact name; the port and a final dot do not count."""
    name = host.lower()
    name = name[: name.find("]") + 1] if name.startswith("[") else name.rsplit(":", 1)[0]
    name = name.rstrip(".")
    return any(
        pattern == "*"
        or name == pattern
        or (pattern.startswith(".") and (name.endswith(pattern) or name == pattern[1:]))
        for pattern in allowed
    )


@functools.lru_cache(maxsize=256)  # a page asks on every signature; forged Hosts churn it only
def site_url(
    public_url: str | None, scheme: str, host: str, allowed: tuple[str, ...]
) -> str | None:
    """The origin a signature or a ``redirect_uri`` is built on: ``public_url`` when
    configured, else the request's own scheme and host when the Host is well formed
    and one this site serves (``allowed``); ``None`` otherwise (:func:`host_refusal`
    says why). A Host the site does not serve gets nothing built on it: neither a
    valid JS-SDK signature for its pages nor an OAuth login coming back to it."""
    if not public_url and not host_allowed(host, allowed):
        return None
    return base_url(public_url, scheme, host)


def host_refusal(host: str) -> str:
    """Why :func:`site_url` built nothing on ``host``, with the setting to fix it."""
    if not valid_host(host) or host == UNUSABLE_HOST:
        return "bad Host header"
    return (
        f"the Host {host!r} is not a host this site serves: add it to WECHAT_ALLOWED_HOSTS "
        "(Django: ALLOWED_HOSTS), or set WECHAT_PUBLIC_URL to the site's public URL"
    )


def page_url(base: str | None, raw_path: str, query: str) -> str:
    """The URL the browser shows for this request, without a fragment (it never sends one)."""
    base = base or f"http://{UNUSABLE_HOST}"
    if query and not query.isascii():
        query = quote(query.encode("latin-1", "replace"), safe=URL_SAFE)
    return f"{base}{raw_path}?{query}" if query else f"{base}{raw_path}"


class Page:
    """The parts of the browser's URL, joined only when someone reads :meth:`url`:
    most requests never sign anything."""

    __slots__ = ("_url", "host", "query", "raw_path", "scheme")

    def __init__(self, scheme: str, host: str, raw_path: str, query: str) -> None:
        self.scheme = scheme
        self.host = host
        self.raw_path = raw_path
        self.query = query
        self._url: str | None = None

    def url(self, public_url: str | None) -> str:
        if self._url is None:
            base = base_url(public_url, self.scheme, self.host)
            self._url = page_url(base, self.raw_path, self.query)
        return self._url

    def local(self) -> str:
        """Path and query, as a safe place to come back to after a login."""
        raw = f"{self.raw_path}?{self.query}" if self.query else self.raw_path
        return safe_next(raw if len(raw) <= MAX_NEXT_LENGTH else self.raw_path)


class LazyPage:
    """A request's :class:`Page`, made only if something reads it: most requests never
    sign. ``make(*values)`` builds it from the few values an adapter copied (holding
    its environ or scope instead would make a reference cycle through the context
    stored in it)."""

    __slots__ = ("_make", "_page", "_values")

    def __init__(self, make: Callable[..., Page], *values: object) -> None:
        self._make = make
        self._values = values
        self._page: Page | None = None

    def page(self) -> Page:
        if self._page is None:
            self._page = self._make(*self._values)
        return self._page

    def url(self, public_url: str | None) -> str:
        return self.page().url(public_url)


#: Where a request's page comes from: its parts, or the values to make them from.
PageSource = Page | LazyPage


# -- URLs to sign --------------------------------------------------------------------------


def normalize_url(url: str) -> str:
    """The URL WeChat signs: everything the browser sent, without the fragment.

    The query is kept byte for byte (no re-encoding, no re-ordering): the browser
    computes its URL the same way, and any change breaks the signature.
    """
    fragment = url.find("#")
    return url if fragment < 0 else url[:fragment]


def check_page_url(url: str) -> str:
    """The URL to sign as the browser's ``location.href`` has it, or ``ValueError`` if
    WeChat could never accept it.

    A bare origin gets its path ``/`` (``https://a.com?x=1`` is ``https://a.com/?x=1``
    in the browser, and WeChat checks that: docs/wechat-protocol.md section 4.3).
    """
    url = normalize_url(url)
    if len(url) > MAX_PAGE_URL_LENGTH:
        raise ValueError(f"URL longer than {MAX_PAGE_URL_LENGTH} characters")
    host_at = 8 if url.startswith("https://") else 7 if url.startswith("http://") else 0
    if not host_at or len(url) == host_at or url[host_at] in "/?":
        raise ValueError("the URL to sign must be absolute (http:// or https://)")
    at = url.find("/", host_at)  # where the host ends: its path, else its query
    query = url.find("?", host_at, None if at < 0 else at)
    if query >= 0 or at < 0:
        at = query if query >= 0 else len(url)
        return f"{url[:at]}/{url[at:]}"
    return url


_ORIGIN = re.compile(r"[^:/?#]*://[^/?#]*")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, lower-cased."""
    found = _ORIGIN.match(url)
    return found.group(0).lower() if found else url.lower()


def same_origin(url: str, other: str) -> bool:
    return origin_of(url) == origin_of(other)


# -- where a browser is sent -----------------------------------------------------------------


def safe_next(raw: str) -> str:
    """A same-origin path to return to; ``/`` for anything that could leave the site.

    Collapsing leading slashes defeats ``//evil.example`` (a scheme-relative URL), and
    backslashes, control characters, lone surrogates (which cannot be encoded, so
    ``quote`` would raise) and over-long values are refused outright. The length limit
    holds for the encoded path, which is what is stored in the cookie.
    """
    if (
        not raw.startswith("/")
        or len(raw) > MAX_NEXT_LENGTH
        or "\\" in raw
        or any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in raw)
    ):
        return "/"
    quoted = "/" + quote(raw.lstrip("/"), safe=URL_SAFE)
    return quoted if len(quoted) <= MAX_NEXT_LENGTH else "/"


def location(public_url: str | None, next_url: str) -> str:
    """A ``Location`` header for a local path, checked again where it becomes a header."""
    return (public_url or "") + safe_next(next_url)


def authorize_url(
    open_base: str,
    app_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    *,
    force_popup: bool = False,
    agent_id: str | None = None,
) -> str:
    """WeChat's OAuth authorize URL, parameters in the documented order (section 5.1).

    ``#wechat_redirect`` is required: without it WeChat shows an error page instead of
    the consent screen. A WeCom app passes its corp id as ``app_id`` and its
    ``agent_id``, which ``snsapi_privateinfo`` needs (docs/wecom-and-qrconnect.md
    section 1.3).
    """
    extra = [("agentid", agent_id)] if agent_id is not None else []
    if force_popup:
        extra.append(("forcePopup", "true"))
    query = _code_request(app_id, redirect_uri, scope, state, *extra)
    return f"{open_base}/connect/oauth2/authorize?{query}#wechat_redirect"


def qrconnect_url(open_base: str, web_app_id: str, redirect_uri: str, state: str) -> str:
    """A website app's QR login page (docs/wechat-protocol.md section 9): the desktop
    browser shows a QR code that the user scans with WeChat."""
    query = _code_request(web_app_id, redirect_uri, SCOPE_LOGIN, state)
    return f"{open_base}/connect/qrconnect?{query}#wechat_redirect"


def _code_request(
    app_id: str, redirect_uri: str, scope: str, state: str, *extra: tuple[str, str]
) -> str:
    """The query asking WeChat for a code, its parameters in the documented order."""
    params = [("appid", app_id), ("redirect_uri", redirect_uri), ("response_type", "code")]
    return _query([*params, ("scope", scope), ("state", state), *extra])


def _query(params: list[tuple[str, str]]) -> str:
    """Every value percent-encoded, ``/`` included (``redirect_uri`` must be: section 5.1)."""
    return urlencode(params, quote_via=quote, safe="")


def wecom_login_url(
    login_base: str, corp_id: str, agent_id: str, redirect_uri: str, state: str
) -> str:
    """WeCom's web login page for a self-built app (docs/wecom-and-qrconnect.md section
    1.4): a QR code to scan with WeCom, or the WeCom desktop client's one-click login."""
    params = [("login_type", "CorpApp"), ("appid", corp_id), ("agentid", agent_id)]
    query = _query([*params, ("redirect_uri", redirect_uri), ("state", state)])
    return f"{login_base}/wwlogin/sso/login?{query}"


def local_referer(referer: str, site: str | None) -> str:
    """The path and query of ``referer`` when it is a page of ``site``, else ``/``: where
    a login started by a page's ``fetch`` comes back to."""
    if site is None or not referer or origin_of(referer) != origin_of(site):
        return "/"
    return safe_next(path_of(referer).split("#", 1)[0])


def path_of(url: str) -> str:
    """The path and what follows it of an absolute URL (``/`` when it has no path)."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def with_next(path: str, next: str, scope: str | None = None) -> str:
    """``path?next=...`` (and ``&scope=...``): a link to our login or logout path that
    comes back to the local path ``next``."""
    link = f"{path}?next={quote(next, safe='/')}"
    return f"{link}&scope={scope}" if scope else link


def is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_redirect_url(url: str) -> str:
    """WeChat sends the browser back here: it must be an absolute http(s) URL."""
    if (
        not isinstance(url, str)
        or len(url) > MAX_REDIRECT_URL_LENGTH
        or any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url)
        or not is_http_url(url)
    ):
        raise ValueError("the redirect URL must be an absolute http:// or https:// URL")
    return url


# -- the OAuth relay's origins (docs/several-domains.md) ----------------------------------------

#: Suffixes under which anyone may register a name: ``*`` directly under one of these
#: would list every stranger's site. A small built-in list of the common ones (China's
#: included), not the full Public Suffix List; every one-label suffix (``*.com``,
#: ``*.xyz``) is refused as well.
# fmt: off
PUBLIC_SUFFIXES = frozenset((
    "com.cn", "net.cn", "org.cn", "gov.cn", "edu.cn", "ac.cn", "mil.cn", "com.hk", "com.tw",
    "org.tw", "net.tw", "com.mo", "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "com.au",
    "net.au", "org.au", "co.jp", "ne.jp", "or.jp", "co.kr", "com.sg", "com.br", "co.nz",
    "co.in", "co.za", "com.mx", "github.io", "gitlab.io", "vercel.app", "netlify.app",
    "pages.dev", "workers.dev", "web.app", "firebaseapp.com", "appspot.com", "herokuapp.com",
    "azurewebsites.net", "cloudfront.net", "onrender.com", "fly.dev",
))
# fmt: on
_ORIGIN_PARTS = re.compile(
    r"(https?)://(\*\.)?([a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*|\[[0-9a-f:.]{2,45}\])"
    rf"{_PORT}/?"
)


def parse_origin(text: str, *, wildcard: bool = False) -> str | None:
    """``scheme://host[:port]`` as a browser's origin has it (lower case, the scheme's
    default port left out), or ``None`` for anything else: a path, a query, credentials,
    non-ASCII, a second ``*``. With ``wildcard``, one ``*.`` may begin the host."""
    found = _ORIGIN_PARTS.fullmatch(text.lower()) if len(text) <= 300 else None
    if found is None or (found.group(2) and not wildcard):
        return None
    scheme, star, host, port = found.group(1), found.group(2) or "", found.group(3), found.group(4)
    if port and int(port[1:]) == _DEFAULT_PORTS[scheme]:
        port = None
    return f"{scheme}://{star}{host}{port or ''}"


def wildcard_refusal(origin: str) -> str | None:
    """Why a ``*`` origin may not be listed (directly under a public suffix), or ``None``."""
    if "*" not in origin:
        return None
    rest = origin.split("*.", 1)[1]
    if rest.startswith("["):
        return "a '*' cannot stand for part of an IP address"
    rest = rest.split(":", 1)[0]
    if ("." not in rest and rest != "localhost") or rest in PUBLIC_SUFFIXES:
        return f"'*.{rest}' is directly under a public suffix: anyone could register a match"
    return None


def origin_listed(origin: str, listed: tuple[str, ...]) -> bool:
    """Whether the exact ``origin`` is one of ``listed``, where ``*`` stands for exactly
    one label (scheme and port exact: two ports on one host are two origins)."""
    for pattern in listed:
        if pattern == origin:
            return True
        if "*" in pattern:
            head, tail = pattern.split("*", 1)
            if origin.startswith(head) and origin.endswith(tail):
                label = origin[len(head) : len(origin) - len(tail)]
                if label and re.fullmatch(r"[a-z0-9-]{1,63}", label):
                    return True
    return False


def relay_start_url(
    relay: str, relay_path: str, target: str, state: str, scope: str, via: str
) -> str:
    """Where a target sends the browser to log in through its relay."""
    query = _query([("target", target), ("state", state), ("scope", scope), ("via", via)])
    return f"{relay}{relay_path}/start?{query}"


def relay_return_url(target: str, callback_path: str, state: str, ticket: str | None = None) -> str:
    """The target's callback the relay sends the browser back to: a listed origin and the
    callback path, nothing taken from the request but the checked origin and state."""
    params = [("relay_ticket", ticket)] if ticket else []
    return f"{target}{callback_path}?{_query([*params, ('state', state)])}"
