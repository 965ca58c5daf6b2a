"""The store for many machines: Redis, through redis-py.

Every host then sees one access token, and one refresh reaches WeChat per expiry
however many hosts run. Expiry is Redis's own (``SET ... PX``), so a value outlives no
process and needs no sweeping. Two things must be atomic across hosts and are done by
Lua scripts inside Redis: taking a lock (take it when free, extend it when the caller
already holds it, else refuse) and compare-and-delete, which both drops a token only
while it is still the one the caller saw and releases a lock only for its owner (the
same script redis-py's own ``Lock`` releases with). Checking from Python and then
deleting would let another host slip in between.

Usage: ``WECHAT_STORE=redis://:password@redis.internal:6379/0`` (``rediss://`` for TLS,
``unix:///run/redis.sock?db=0`` for a local socket). Query options are passed on to
redis-py (``?socket_timeout=2``); unless given, operations time out after one second so
a dead Redis fails a request quickly instead of hanging a worker.
``redis+sentinel://sentinel-1:26379,sentinel-2:26379/mymaster/0`` follows the primary
Sentinel names, and ``redis+cluster://node-1:6379,node-2:6379/`` uses a Redis Cluster
(:mod:`.redis_urls`). On a cluster each operation, scripts included, touches one key and
every key of one app shares a hash slot (:mod:`wechat_middleware.keys`); change notices
use classic publish/subscribe, pinned to one node (:mod:`.redis_pubsub` says why).

Any other redis-py client works too (``RedisStore(client)``), e.g. a Sentinel whose
Sentinels need a password of their own.

A client you build keeps redis-py's defaults, which retry a refused connection ten
times with backoff (seconds, not milliseconds); to fail as fast as :meth:`from_url`
does, also pass ``socket_connect_timeout=1.0`` and
``retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))``.

Keys are ``{prefix}kv:{key}`` for values and ``{prefix}lock:{name}`` for locks, so the
two never collide; ``prefix`` lets several deployments share one database.

It is also a :class:`~wechat_middleware.stores.base.Broadcast` (the listening thread is
in :mod:`.redis_pubsub`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import (
    AuthenticationError,
    NoPermissionError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ..errors import ConfigError, StoreError
from ..redaction import password_in, scrub
from .redis_pubsub import Callback, Listener, announce, as_text, try_subscribe
from .redis_urls import parse

_T = TypeVar("_T")

# Options from_url sets unless the URL's query string gives them. Besides these, one
# immediate retry (_retry) replaces a pooled connection that Redis closed (a restart,
# an idle timeout) without the caller noticing; every operation here is idempotent.
_URL_DEFAULTS: dict[str, Any] = {
    "socket_timeout": 1.0,
    "socket_connect_timeout": 1.0,
    "health_check_interval": 30,
    "decode_responses": True,
}
_REASON_MAX = 300  # characters of a redis-py message kept in an error

# KEYS[1] = lock, ARGV[1] = owner, ARGV[2] = milliseconds. Free: take it. Held by the
# same owner: extend it (a holder may renew). Held by another owner: refuse.
_ACQUIRE = """
local holder = redis.call('get', KEYS[1])
if holder == false then
    redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2])
    return 1
end
if holder == ARGV[1] then
    redis.call('pexpire', KEYS[1], ARGV[2])
    return 1
end
return 0
"""

# KEYS[1] = counter, ARGV[1] = milliseconds: count one, and start the window on the first.
_INCR = """
local count = redis.call('incr', KEYS[1])
if count == 1 then
    redis.call('pexpire', KEYS[1], ARGV[1])
end
return count
"""

# KEYS[1] = key, ARGV[1] = expected value: delete only while it is still that value.
# The text of redis-py's Lock.LUA_RELEASE_SCRIPT.
_COMPARE_AND_DELETE = """
local token = redis.call('get', KEYS[1])
if not token or token ~= ARGV[1] then
    return 0
end
redis.call('del', KEYS[1])
return 1
"""


class RedisStore:
    """A :class:`~wechat_middleware.stores.base.Store` in Redis.

    ``client`` is any redis-py client (``redis.Redis``, a Sentinel ``master_for``
    client, ``redis.cluster.RedisCluster``), kept as :attr:`client`; the store owns it
    from then on and closes it in :meth:`close`. ``description`` names the store in
    error messages and must not contain a password; :meth:`from_url` derives it from
    the URL without one. Every redis-py failure becomes a :class:`StoreError`.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        prefix: str = "",
        description: str = "redis",
    ) -> None:
        self.prefix = prefix
        self.description = description
        self.client = client
        self._password = _password_of(client)
        self._acquire = client.register_script(_ACQUIRE)
        self._compare_and_delete = client.register_script(_COMPARE_AND_DELETE)
        self._incr = client.register_script(_INCR)
        self._closed = False
        self._mutex = threading.Lock()
        self._callbacks: dict[str, list[Callback]] = {}
        self._listener: Listener | None = None
        _STORES.add(self)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "") -> RedisStore:
        """Open ``redis://[[user]:password@]host:port/db``, ``rediss://...`` (TLS),
        ``unix:///path/redis.sock?db=0``, ``redis+sentinel://...`` or
        ``redis+cluster://...``. Nothing is contacted until first use, so a worker
        starts while Redis is briefly down and the first request reports it; except a
        cluster, whose client needs the slot map at once (a StoreError if no node
        answers)."""
        if url.strip().lower().startswith(("redis+sentinel://", "redis+cluster://")):
            topology = parse(url)
            try:
                client = topology.client({"retry": _retry(), **_URL_DEFAULTS})
            except (RedisError, RedisClusterException) as exc:
                where = f"token store {topology.description}"
                raise _explain(where, exc, lambda text: scrub(text, topology.password)) from exc
            return cls(client, prefix=prefix, description=topology.description)
        try:
            client = redis.Redis.from_url(url, retry=_retry(), **_URL_DEFAULTS)
        except (ValueError, TypeError) as exc:
            # urllib's and redis-py's messages name the bad part, never the password;
            # scrub it anyway, in case a future version echoes the URL.
            reason = scrub(str(exc), password_in(url))
            raise ConfigError(
                f"WECHAT_STORE is not a usable Redis URL ({reason}); use "
                "redis://[[user]:password@]host:6379/0, rediss://... or "
                "unix:///path/redis.sock?db=0"
            ) from exc
        return cls(client, prefix=prefix, description=_describe(client))

    def __repr__(self) -> str:
        return f"<RedisStore {self.description}>"

    def check(self) -> None:
        """Raise StoreError now if Redis refuses a command the store needs beyond GET
        and SET: EVALSHA and SCRIPT LOAD (the lock scripts), SUBSCRIBE and PUBLISH
        (change notices). A managed Redis may deny them (an ACL) or rename them; found
        here, when the app starts, rather than at its first token refresh. An unreachable
        Redis passes: it may be back by the first request, which then says so."""
        probe = f"{self.prefix}wechat_middleware:check"  # never written: nothing to clean
        steps: tuple[tuple[str, Callable[[], object]], ...] = (
            ("EVALSHA or SCRIPT LOAD", lambda: self._compare_and_delete(keys=[probe], args=[""])),
            ("SUBSCRIBE or PUBLISH", lambda: try_subscribe(self.client, self.prefix, probe)),
        )
        for commands, step in steps:
            try:
                self._call(step)
            except StoreError as exc:
                cause = exc.__cause__
                if isinstance(
                    cause, (RedisConnectionError, RedisTimeoutError, RedisClusterException)
                ):
                    return
                reason = self._scrub(str(cause)).rstrip(".")
                raise StoreError(
                    f"token store {self.description} refuses {commands} ({reason}): {_NEEDS}"
                ) from cause

    # -- the Store protocol ------------------------------------------------------

    def get(self, key: str) -> str | None:
        return as_text(self._call(lambda: self.client.get(self._value_key(key))))

    def set(self, key: str, value: str, ttl: float) -> None:
        self._call(lambda: self.client.set(self._value_key(key), value, px=_ms(ttl)))

    def delete(self, key: str, *, only_if: str | None = None) -> None:
        name = self._value_key(key)
        if only_if is None:
            self._call(lambda: self.client.delete(name))
        else:
            self._call(lambda: self._compare_and_delete(keys=[name], args=[only_if]))

    def incr(self, key: str, ttl: float) -> int:
        name = self._value_key(key)
        return int(self._call(lambda: self._incr(keys=[name], args=[_ms(ttl)])))

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        lock = self._lock_key(name)
        return bool(self._call(lambda: self._acquire(keys=[lock], args=[owner, _ms(ttl)])))

    def release_lock(self, name: str, owner: str) -> None:
        lock = self._lock_key(name)
        self._call(lambda: self._compare_and_delete(keys=[lock], args=[owner]))

    def close(self) -> None:
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            listener, self._listener = self._listener, None
        if listener is not None and listener.pid == os.getpid():
            listener.stop()
        with contextlib.suppress(RedisError, OSError):
            self.client.close()

    # -- publish/subscribe -------------------------------------------------------

    def publish(self, channel: str, message: str, *, wait: float = 0.0) -> None:
        announce(self.client, self._call, self.prefix, channel, message, wait=wait)

    def subscribe(self, channel: str, callback: Callback) -> None:
        with self._mutex:
            if self._closed:
                raise StoreError(f"token store {self.description} is closed")
            callbacks = self._callbacks.setdefault(channel, [])
            if callback not in callbacks:  # e.g. subscribed again in a forked child
                callbacks.append(callback)
        listener = self._ensure_listener()
        if listener is not None:
            listener.wait_until_subscribed(channel)

    # -- internals ---------------------------------------------------------------

    def _value_key(self, key: str) -> str:
        return f"{self.prefix}kv:{key}"

    def _lock_key(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    def _call(self, operation: Callable[[], _T]) -> _T:
        if self._closed:
            raise StoreError(f"token store {self.description} is closed")
        if self._callbacks:
            self._ensure_listener()
        try:
            return operation()
        except (RedisError, RedisClusterException) as exc:
            raise _explain(f"token store {self.description}", exc, self._scrub) from exc

    def _ensure_listener(self) -> Listener | None:
        """The listening thread of this process: threads do not survive fork(), so a
        forked worker starts its own (and hears ``None`` first: it missed messages)."""
        listener = self._listener
        if listener is not None and listener.pid == os.getpid():
            return listener
        with self._mutex:
            if self._closed:
                return None
            listener = self._listener
            if listener is None or listener.pid != os.getpid():
                listener = self._listener = Listener(
                    self.client,
                    prefix=self.prefix,
                    description=self.description,
                    channels=self._channels,
                    scrub=self._scrub,
                    forked=listener is not None,
                )
                listener.start()
            return listener

    def _channels(self) -> dict[str, list[Callback]]:
        with self._mutex:
            return {channel: list(callbacks) for channel, callbacks in self._callbacks.items()}

    def _scrub(self, text: str) -> str:
        return scrub(text, self._password)


_NEEDS = (
    "the Redis user needs GET, SET, DEL, INCR, PEXPIRE, LLEN, RPUSH, EXPIRE, EVALSHA, "
    "SCRIPT LOAD, PUBLISH and SUBSCRIBE under their own names (ACL: +@read +@write "
    "+@scripting +@pubsub ~* &*)"
)


def _explain(where: str, exc: Exception, scrub_text: Callable[[str], str]) -> StoreError:
    """A redis-py failure as a StoreError that says what to check, without the password."""
    reason = scrub_text(str(exc) or type(exc).__name__).rstrip(".")
    if len(reason) > _REASON_MAX:  # e.g. Sentinel's, which prints a whole client
        reason = reason[:_REASON_MAX] + "..."
    if isinstance(exc, AuthenticationError):
        message = f"{where} refused the credentials: {reason}; check the password in "
        message += "WECHAT_STORE"
    elif isinstance(exc, (RedisConnectionError, RedisTimeoutError, RedisClusterException)):
        message = f"{where} is unreachable: {reason}; check WECHAT_STORE and that "
        message += "Redis is running and reachable from this host"
    elif isinstance(exc, NoPermissionError):
        message = f"{where} denied a command: {reason}; {_NEEDS}"
    elif isinstance(exc, ReadOnlyError):
        message = f"{where} is a read-only replica: {reason}; point WECHAT_STORE at "
        message += "the primary (or use redis+sentinel://)"
    elif isinstance(exc, ResponseError):
        message = f"{where} answered with an error: {reason}; check WECHAT_STORE"
    else:
        message = f"{where} failed: {reason}; check WECHAT_STORE"
    return StoreError(message)


def _retry() -> Retry:
    # Connection errors only: a timeout retried would double the wait on a dead host.
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def _ms(ttl: float) -> int:
    # Redis refuses PX 0; a non-positive TTL means "expires at once", i.e. after 1 ms.
    return max(1, round(ttl * 1000))


def _password_of(client: object) -> str | None:
    # A cluster client keeps its connection settings on its nodes manager.
    pool = getattr(client, "connection_pool", None) or getattr(client, "nodes_manager", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    password = kwargs.get("password") if isinstance(kwargs, dict) else None
    return password if isinstance(password, str) and password else None


def _describe(client: redis.Redis) -> str:
    """``redis://host:port/db`` from the client's settings, never with the password."""
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    db = kwargs.get("db", 0)
    if issubclass(pool.connection_class, UnixDomainSocketConnection):
        return f"unix://{kwargs.get('path', '')}?db={db}"
    scheme = "rediss" if issubclass(pool.connection_class, SSLConnection) else "redis"
    host = str(kwargs.get("host", "localhost"))
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{kwargs.get('port', 6379)}/{db}"


# After fork() only the calling thread exists: a store mutex another thread held at
# that moment would stay locked in the child forever, so the child gets fresh ones.
_STORES: weakref.WeakSet[RedisStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._mutex = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
