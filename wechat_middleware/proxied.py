"""A reverse proxy's headers that nothing applied: one WARNING per process.

Behind nginx the browser's ``https://shop.example.com`` reaches the app as
``http://127.0.0.1:8000``; the proxy says so in ``X-Forwarded-Proto``/``-Host``/``-For``
or ``Forwarded``, and something must apply them (werkzeug's ``ProxyFix`` around the
middleware, uvicorn's ``--proxy-headers``, Django's ``SECURE_PROXY_SSL_HEADER``), or
``WECHAT_PUBLIC_URL`` must name the site. When neither happened, every signature is
made for a URL the browser never shows and WeChat answers "invalid signature", with
nothing in the log: so the adapters hand the headers of the requests the decision sees
here (never those that pass untouched), and a disagreement is said once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .view import RequestView

log = logging.getLogger("wechat_middleware")

#: Whether this process has warned already (one line, whatever the number of apps).
_warned = threading.Event()

_ADVICE = (
    "apply the proxy's headers before the middleware (Flask: app.wsgi_app = "
    "ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1) after init_app; uvicorn "
    "--proxy-headers --forwarded-allow-ips; Django: SECURE_PROXY_SSL_HEADER and "
    "USE_X_FORWARDED_HOST), or set WECHAT_PUBLIC_URL=https://your.domain (docs/proxy.md)"
)


def check(
    view: RequestView,
    proto: str | None,
    host: str | None,
    for_: str | None,
    forwarded: str | None,
) -> None:
    """Warn once if the proxy headers of a request disagree with what the middleware
    sees (``view``'s scheme, host and client): they were not applied."""
    if _warned.is_set() or not (proto or host or for_ or forwarded):
        return
    said = _rfc7239(forwarded) if forwarded else {}
    url = _unapplied(
        ("X-Forwarded-Proto", _items(proto), view.scheme, _same),
        ("X-Forwarded-Host", _items(host), view.host, _same_host),
        ("Forwarded proto", said.get("proto", []), view.scheme, _same),
        ("Forwarded host", said.get("host", []), view.host, _same_host),
    )
    client = _unapplied(
        ("X-Forwarded-For", _items(for_), view.client, _same_address),
        ("Forwarded for", said.get("for", []), view.client, _same_address),
    )
    if not (url or client) or _warned.is_set():
        return
    _warned.set()
    effects = []
    if url:
        effects.append(
            f"signatures and the OAuth redirect_uri are built on {view.scheme}://{view.host}, "
            "not on the URL the browser shows"
        )
    if client:
        effects.append("logins are limited per client on the proxy's address")
    log.warning(
        "proxy headers arrive that nothing applied (%s): %s; %s",
        "; ".join(url + client),
        " and ".join(effects),
        _ADVICE,
    )


_Check = tuple[str, list[str], str, Callable[[str, str], bool]]


def _unapplied(*checks: _Check) -> list[str]:
    """What each header says that the request as seen disagrees with."""
    return [
        f"{name} says {values[0]}, the app sees {seen or '(nothing)'}"
        for name, values, seen, same in checks
        if values and not any(same(value, seen) for value in values)
    ]


def _items(header: str | None) -> list[str]:
    return [item.strip() for item in header.split(",") if item.strip()] if header else []


def _rfc7239(header: str) -> dict[str, list[str]]:
    """``Forwarded: for=192.0.2.1;proto=https;host=a.com, for=...`` by parameter."""
    found: dict[str, list[str]] = {}
    for element in header.split(","):
        for pair in element.split(";"):
            name, _, value = pair.strip().partition("=")
            if value:
                found.setdefault(name.lower(), []).append(value.strip().strip('"'))
    return found


def _same(said: str, seen: str) -> bool:
    return said.lower() == seen.lower()


def _same_host(said: str, seen: str) -> bool:
    """Hosts alike but for a default port (``a.com:443`` is ``a.com``)."""
    return _bare(said) == _bare(seen)


def _bare(host: str) -> str:
    host = host.lower()
    return host.rsplit(":", 1)[0] if host.endswith((":80", ":443")) else host


def _same_address(said: str, seen: str) -> bool:
    """An address alike but for RFC 7239's brackets and a port (``"[::1]:4711"``)."""
    if said.startswith("["):
        said = said[1:].partition("]")[0]
    elif said.count(":") == 1:
        said = said.partition(":")[0]
    return said == seen
