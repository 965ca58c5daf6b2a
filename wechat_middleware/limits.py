"""A bound on OAuth code exchanges, counted in the shared store.

Minting a login ``state`` costs an attacker one request to the login path, and each
callback with such a state makes the server call WeChat once: without a bound, a
client could turn our server into an amplifier against WeChat's per-app quota. Counts
live in the store so the bound holds across every worker and host.
"""

from __future__ import annotations

import ipaddress

from .keys import StoreKeys
from .stores.base import Store

WINDOW = 60.0  # seconds; the limits are per minute


class ExchangeLimits:
    """At most ``per_client`` exchanges a minute from one address, ``total`` in all.

    Zero turns a limit off. A request whose address the server did not pass counts
    against the total only (it cannot be told apart from other clients), and so does
    one from a loopback or private address: that is most likely a reverse proxy whose
    client address was not passed on (``ProxyFix``, ``--proxy-headers``), and counting
    it per client would turn the per-client bound into a site-wide one.
    """

    def __init__(self, store: Store, keys: StoreKeys, *, per_client: int, total: int) -> None:
        self.store = store
        self.keys = keys
        self.per_client = per_client
        self.total = total

    def allow(self, client: str) -> bool:
        """Count one exchange; ``False`` when a limit is already reached (not counted)."""
        if self.per_client and client and not _behind_proxy(client):
            used = self.store.incr(self.keys.exchange_budget(client), WINDOW)
            if used > self.per_client:
                return False
        if self.total:
            used = self.store.incr(self.keys.exchange_budget("*"), WINDOW)
            if used > self.total:
                return False
        return True


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


def _behind_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # a Unix socket path, or a name: not a client address
        return True
    return any(ip in network for network in _PROXY_NETWORKS)
