"""Change notices over Redis publish/subscribe: the listening thread behind
:meth:`RedisStore.subscribe <wechat_middleware.stores.redis.RedisStore.subscribe>` and
the acknowledgements behind ``publish(..., wait=...)``.

Pub/sub delivers to whoever listens at that moment and keeps nothing, so the hard part
is knowing when messages may have been lost: the connection dropped and came back
(redis-py may even reconnect by itself, inside one read), or a forked worker started
listening late. Each time, every callback hears ``None`` once Redis has confirmed all
channels again, and treats anything it holds as possibly stale.

A publisher that waits appends an acknowledgement list's name to its message; each
receiving process pushes onto that list once its callbacks ran, and the publisher
returns when the list is as long as the number of receivers Redis reported.

On a Redis Cluster this is classic publish/subscribe (SUBSCRIBE, PUBLISH), not sharded
(SSUBSCRIBE, SPUBLISH): one connection carries every channel of a process, its own
wake-up channel included, where sharded channels of different hash slots would need a
connection per node and redis-py's separate ``get_sharded_message`` loop; it also works
before Redis 7. The cluster relays each PUBLISH to every node, but PUBLISH counts only
the receivers on the node it ran on, so every process subscribes and publishes on one
node: the owner of the hash slot of ``<prefix>wechat_middleware:notices``. Notices are
one per refresh, so sending them all through one node costs nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.sentinel import SentinelConnectionPool

log = logging.getLogger("wechat_middleware")

_T = TypeVar("_T")
Callback = Callable[[str | None], None]
#: The store's way to run a command: refuse when closed, turn failures into StoreError.
Run = Callable[[Callable[[], _T]], _T]

_ACK = "\x1f"  # separates a notice from the list its receivers acknowledge on
_ACK_POLL = 0.002
_ACK_TTL = 30  # seconds an acknowledgement list outlives a publisher that died waiting
_LISTEN_TIMEOUT = 1.0  # how long one get_message waits; bounds how late close() is noticed
_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 5.0
_SUBSCRIBE_WAIT = 2.0  # how long subscribe() waits for Redis to confirm
_MASTER_CHECK = 5.0  # seconds between asking Sentinel whether the master moved


class _PubSub(Protocol):
    """The part of redis-py's (untyped) PubSub the listener uses."""

    connection: Any

    def subscribe(self, *channels: str) -> None: ...
    def get_message(
        self, ignore_subscribe_messages: bool = False, timeout: float = 0.0
    ) -> dict[str, Any] | None: ...
    def close(self) -> None: ...


def as_text(value: object) -> str | None:
    """Replies are str with ``decode_responses=True``; a client without it gives bytes."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def publish(client: redis.Redis | RedisCluster, prefix: str, channel: str, message: str) -> int:
    """PUBLISH, on a cluster through the node every process listens on; the number of
    processes that received it."""
    node = _notice_node(client, prefix)
    return int(client.publish(channel, message, **({} if node is None else {"target_nodes": node})))


def open_pubsub(client: redis.Redis | RedisCluster, prefix: str) -> _PubSub:
    """A pubsub of ``client``, on a cluster on the node every process listens on."""
    node = _notice_node(client, prefix)
    pubsub = cast(Callable[..., _PubSub], client.pubsub)
    options = {} if node is None else {"node": node}
    return pubsub(ignore_subscribe_messages=False, **options)


def _notice_node(client: redis.Redis | RedisCluster, prefix: str) -> object | None:
    if not isinstance(client, RedisCluster):
        return None
    node_of: Callable[[str], object] = client.get_node_from_key  # untyped in redis-py
    return node_of(f"{prefix}wechat_middleware:notices")


def try_subscribe(client: redis.Redis | RedisCluster, prefix: str, channel: str) -> None:
    """Subscribe to ``channel`` until Redis confirms, publish on it, and leave: raises
    redis-py's error when Redis refuses either (an ACL, a renamed command)."""
    pubsub = open_pubsub(client, prefix)
    try:
        pubsub.subscribe(channel)
        deadline = time.monotonic() + _SUBSCRIBE_WAIT
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=_SUBSCRIBE_WAIT)
            if message is not None and as_text(message.get("type")) == "subscribe":
                break
        publish(client, prefix, channel, "")
    finally:
        with contextlib.suppress(RedisError, OSError):
            pubsub.close()


def announce(
    client: redis.Redis | RedisCluster,
    run: Run[Any],
    prefix: str,
    channel: str,
    message: str,
    *,
    wait: float,
) -> None:
    """Publish ``message`` on ``prefix + channel``; with ``wait``, wait up to that many
    seconds until every receiving process acknowledged it."""
    channel = prefix + channel
    if wait <= 0:
        run(lambda: publish(client, prefix, channel, message))
        return
    ack = f"{prefix}ack:{uuid.uuid4().hex}"
    receivers = run(lambda: publish(client, prefix, channel, f"{message}{_ACK}{ack}"))
    deadline = time.monotonic() + wait
    while receivers and time.monotonic() < deadline:
        if int(run(lambda: client.llen(ack))) >= receivers:
            break
        time.sleep(_ACK_POLL)
    with contextlib.suppress(RedisError, OSError):
        client.delete(ack)


class Listener(threading.Thread):
    """One process's subscription connection, and the thread that reads it.

    redis-py's PubSub is not thread-safe, so only this thread touches it; subscribe()
    registers a channel and wakes the thread with a message on a private channel.
    Redis confirms each channel it subscribed ("subscribe" messages, in RESP2 and
    RESP3 alike): that is when a subscribe() call returns, and after a reconnection,
    when the callbacks hear ``None``.

    ``channels`` returns the callbacks by channel name (without ``prefix``) each time
    it is called, so channels subscribed later are picked up; ``scrub`` removes the
    password from text that is logged.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        prefix: str,
        description: str,
        channels: Callable[[], dict[str, list[Callback]]],
        scrub: Callable[[str], str],
        forked: bool,
    ) -> None:
        super().__init__(name="wechat_middleware-redis-listener", daemon=True)
        self.client = client
        self.prefix = prefix
        self.description = description
        self._channels = channels
        self._scrub = scrub
        self.pid = os.getpid()
        self._stopping = threading.Event()
        self._wake_channel = f"{prefix}wechat_middleware:wake:{uuid.uuid4().hex}"
        self._waiters_lock = threading.Lock()
        self._waiters: list[tuple[str, threading.Event]] = []
        self._reconnects = 0
        self._next_master_check = 0.0
        # A forked worker missed whatever was sent before its thread existed.
        self._missed = forked

    def wait_until_subscribed(self, channel: str) -> None:
        done = threading.Event()
        with self._waiters_lock:
            self._waiters.append((self.prefix + channel, done))
        self._wake()
        done.wait(_SUBSCRIBE_WAIT)

    def stop(self) -> None:
        self._stopping.set()
        self._wake()
        if threading.current_thread() is not self and self.is_alive():
            self.join(_LISTEN_TIMEOUT + 1.0)

    def _wake(self) -> None:
        """Make a get_message that is waiting return now."""
        with contextlib.suppress(RedisError, OSError):
            publish(self.client, self.prefix, self._wake_channel, "")

    def _on_connect(self, connection: object) -> None:
        # redis-py reconnected the subscription by itself (its retry) and subscribes
        # again: messages sent in between are lost.
        self._reconnects += 1

    def run(self) -> None:
        delay = _BACKOFF_FIRST
        failing = False
        pubsub: _PubSub | None = None
        subscribed: set[str] = set()  # sent to Redis on this connection
        confirmed: set[str] = set()  # and confirmed by Redis
        reconnects_seen = 0
        while not self._stopping.is_set():
            try:
                if pubsub is None:
                    pubsub = open_pubsub(self.client, self.prefix)
                    subscribed, confirmed = set(), set()
                wanted = {self.prefix + c for c in self._channels()}
                new = (wanted | {self._wake_channel}) - subscribed
                if new:
                    pubsub.subscribe(*sorted(new))
                    if not subscribed:
                        pubsub.connection.register_connect_callback(self._on_connect)
                        reconnects_seen = self._reconnects
                    subscribed |= new
                self._progress(subscribed, confirmed)
                if self._on_demoted_master(pubsub):
                    raise RedisConnectionError("its server is no longer the master Sentinel names")
                message = pubsub.get_message(timeout=_LISTEN_TIMEOUT)
            except RedisError as exc:
                if not failing:
                    log.warning(
                        "token store %s: the subscription connection failed (%s); reconnecting",
                        self.description,
                        self._scrub(str(exc)),
                    )
                failing = True
                self._missed = True
                self._release(lambda channel: True)  # don't keep subscribe() waiting
                self._discard(pubsub)
                pubsub = None
                self._stopping.wait(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            if failing:
                log.info("token store %s: subscription restored", self.description)
                failing = False
            delay = _BACKOFF_FIRST
            if self._reconnects != reconnects_seen:
                reconnects_seen = self._reconnects
                confirmed.clear()
                self._missed = True
            if message is not None:
                self._handle(message, confirmed)
        self._release(lambda channel: True)
        self._discard(pubsub)

    def _on_demoted_master(self, pubsub: _PubSub) -> bool:
        """Whether a Sentinel-managed subscription is on a master that a failover has
        made a replica (checked every few seconds). Such a replica still relays what
        the new master publishes, but the new master's receiver count misses it, so a
        publisher's wait would end before this process heard."""
        pool = getattr(self.client, "connection_pool", None)
        now = time.monotonic()
        if not isinstance(pool, SentinelConnectionPool) or now < self._next_master_check:
            return False
        self._next_master_check = now + _MASTER_CHECK
        connection = pubsub.connection
        try:
            master_address: Callable[[], tuple[str, int]] = pool.get_master_address
            master = master_address()
        except RedisError:  # Sentinels unreachable: keep the subscription that works
            return False
        return connection is not None and (connection.host, int(connection.port)) != tuple(master)

    def _progress(self, subscribed: set[str], confirmed: set[str]) -> None:
        """Release subscribe() calls whose channel Redis confirmed; once every channel
        is confirmed after a gap, tell every callback that it may have missed messages."""
        self._release(confirmed.__contains__)
        if self._missed and subscribed <= confirmed:
            self._missed = False
            for name, callbacks in self._channels().items():
                for callback in callbacks:
                    self._deliver(callback, name, None)

    def _release(self, done: Callable[[str], bool]) -> None:
        with self._waiters_lock:
            waiting = self._waiters
            self._waiters = [(channel, event) for channel, event in waiting if not done(channel)]
        for channel, event in waiting:
            if done(channel):
                event.set()

    def _handle(self, message: dict[str, Any], confirmed: set[str]) -> None:
        kind = as_text(message.get("type"))
        channel = as_text(message.get("channel")) or ""
        if kind == "subscribe":
            confirmed.add(channel)
        elif kind == "message" and channel != self._wake_channel:
            if not channel.startswith(self.prefix):
                return
            name = channel[len(self.prefix) :]
            data = as_text(message.get("data"))
            ack = None
            if data is not None and _ACK in data:
                data, ack = data.split(_ACK, 1)
            for callback in self._channels().get(name, []):
                self._deliver(callback, name, data)
            if ack is not None:  # the publisher waits until every receiver got here
                with contextlib.suppress(RedisError, OSError):
                    self.client.rpush(ack, "1")
                    self.client.expire(ack, _ACK_TTL)

    def _deliver(self, callback: Callback, channel: str, message: str | None) -> None:
        try:
            callback(message)
        except Exception:
            log.exception("token store %s: a subscriber of %r failed", self.description, channel)

    def _discard(self, pubsub: _PubSub | None) -> None:
        if pubsub is None:
            return
        connection = pubsub.connection
        if connection is not None:
            # The connection goes back to the client's pool: stop hearing its reconnects.
            connection.deregister_connect_callback(self._on_connect)
        with contextlib.suppress(RedisError, OSError):
            pubsub.close()
