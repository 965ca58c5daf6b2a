"""``redis+sentinel://`` and ``redis+cluster://`` URLs: the clients redis-py builds for
a Sentinel-watched primary and for a Redis Cluster, from one WECHAT_STORE value.

    redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db]
    redis+cluster://[[user]:password@]host:port[,host:port...]/

The hosts are Sentinels (asked for the current primary of ``service_name`` on every new
connection, so a failover is followed) or any nodes of the cluster (asked for its slot
map). The password is the data nodes', never sent to Sentinels, which usually have none.
Parsing is strict: a URL that does not have exactly this shape is a ConfigError naming
WECHAT_STORE, with the password hidden, rather than a client that fails at some later
request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from ..errors import ConfigError
from ..redaction import hide_password

SENTINEL_FORM = "redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db]"
CLUSTER_FORM = "redis+cluster://[[user]:password@]host:port[,host:port...]/"

_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})")
_SERVICE = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Topology:
    """What a ``redis+sentinel://`` or ``redis+cluster://`` URL says."""

    scheme: str
    hosts: tuple[tuple[str, int], ...]
    service: str = ""  # Sentinel only
    db: int = 0  # Sentinel only: a cluster has database 0 alone
    username: str | None = None
    password: str | None = None

    @property
    def description(self) -> str:
        """The URL without user or password, as error messages name the store."""
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.hosts)
        path = f"{self.service}/{self.db}" if self.scheme == "redis+sentinel" else ""
        return f"{self.scheme}://{hosts}/{path}"

    def client(self, options: dict[str, Any]) -> redis.Redis | RedisCluster:
        """The redis-py client, with ``options`` (timeouts, retry) for every connection.

        A cluster client reads the slot map at once (redis-py has no lazy mode), so it
        raises when no node answers; a Sentinel client asks on first use.
        """
        options = {**options, "username": self.username, "password": self.password}
        if self.scheme == "redis+cluster":
            make_node: Any = ClusterNode  # untyped in redis-py
            nodes = [make_node(host, port) for host, port in self.hosts]
            return RedisCluster(startup_nodes=nodes, **options)
        timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
        sentinel = Sentinel(list(self.hosts), sentinel_kwargs=timeouts, **timeouts)
        client: redis.Redis = sentinel.master_for(self.service, db=self.db, **options)
        return client


def parse(url: str) -> Topology:
    """Read a ``redis+sentinel://`` or ``redis+cluster://`` URL, strictly."""
    scheme, _, rest = url.strip().partition("://")
    scheme = scheme.lower()
    form = SENTINEL_FORM if scheme == "redis+sentinel" else CLUSTER_FORM

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"WECHAT_STORE={hide_password(url)}: {why}; use {form}")

    userinfo, at, rest = rest.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        if not colon or not secret:
            raise refuse("the part before '@' must be [user]:password")
        username, password = unquote(user) or None, unquote(secret)
    if "?" in rest or "#" in rest:
        raise refuse("it takes no query string or fragment")
    hostlist, _, path = rest.partition("/")
    hosts = []
    for item in hostlist.split(","):
        found = _HOST_PORT.fullmatch(item)
        if found is None or not 0 < int(found.group(2)) < 65536:
            raise refuse(f"{item!r} is not host:port (IPv6 in brackets)")
        hosts.append((found.group(1).strip("[]"), int(found.group(2))))
    if scheme == "redis+cluster":
        if path:
            raise refuse("a cluster has database 0 alone: nothing may follow the last '/'")
        return Topology(scheme, tuple(hosts), username=username, password=password)
    service, _, db = path.partition("/")
    if not _SERVICE.fullmatch(service):
        raise refuse("the service name (Sentinel's name of the primary) is missing or odd")
    if db and not re.fullmatch(r"[0-9]{1,5}", db):
        raise refuse(f"the database {db!r} is not a number")
    return Topology(scheme, tuple(hosts), service, int(db or 0), username, password)
