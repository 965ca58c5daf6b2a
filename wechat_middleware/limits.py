"""A bound on OAuth code exchanges, counted in the shared store.

Minting a login ``state`` costs an attacker one request to the login path, and each
callback with such a state makes the server call WeChat once: without a bound, a
client could turn our server into an amplifier against WeChat's per-app quota. Counts
live in the store so the bound holds across every worker and host.

The per-client bound is the protection; the total is WeChat's own limit on the
exchange (docs/wechat-protocol.md section 5.3), so it refuses only what WeChat would
refuse anyway, without calling it. A lower total would turn away a campaign's first
visitors: a page shared in a group brings tens of first visits a second.
"""

from __future__ import annotations

import ipaddress

from .keys import StoreKeys
from .stores.base import Store

WINDOW = 60.0  # seconds; the limits are per minute


class ExchangeLimits:
    """At most ``per_client`` exchanges a minute from one client, ``total`` in all.

    Zero turns a limit off. A client is an IPv4 address, or an IPv6 /64: one subscriber
    holds a whole /64 and may use any address in it. An IPv4 address in its IPv6 form
    (``::ffff:203.0.113.7``, what a server bound to ``[::]`` sees) is that IPv4 address.
    A request whose address the server did not pass counts against the total only (it
    cannot be told apart from other clients), and so does one from a loopback or
    private address: that is most likely a reverse proxy whose client address was not
    passed on (``ProxyFix``, ``--proxy-headers``), and counting it per client would
    turn the per-client bound into a site-wide one.

    Once the total is reached nothing more is written: a flood from many addresses
    leaves no counter per address behind.
    """

    def __init__(self, store: Store, keys: StoreKeys, *, per_client: int, total: int) -> None:
        self.store = store
        self.keys = keys
        self.per_client = per_client
        self.total = total

    def allow(self, address: str) -> bool:
        """Count one exchange; ``False`` when a limit is already reached."""
        everyone = self.keys.exchange_budget("*")
        if self.total and int(self.store.get(everyone) or 0) >= self.total:
            return False
        client = client_of(address) if self.per_client else None
        if client is not None:
            used = self.store.incr(self.keys.exchange_budget(client), WINDOW)
            if used > self.per_client:
                return False
        # The look above is not atomic with this count (concurrent callbacks all pass
        # it), so the count decides.
        return not self.total or self.store.incr(everyone, WINDOW) <= self.total


# Where reverse proxies usually sit: loopback, RFC 1918, unique-local and link-local.
_PROXY_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)


def client_of(address: str) -> str | None:
    """Whom a peer address counts as: an IPv4 address, an IPv6 /64, or ``None`` for a
    likely proxy (or no address at all), which is not counted per client."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # empty, a Unix socket path, or a name: not a client address
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _PROXY_NETWORKS):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
