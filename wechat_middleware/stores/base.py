"""The storage interface: a handful of methods every backend implements.

Tokens and tickets are shared through a store so that one fetch serves every worker
process and host. The interface is deliberately small (like cachelib's ``BaseCache``):
string values with a time to live, and a lock with an owner and a time to live so a
crashed holder never blocks the others for longer than the lock's TTL.

One capability is optional, as some of cachelib's operations are: :class:`Broadcast`
(change notices between processes). Only stores that can deliver it implement it (the
Redis store); callers check ``isinstance(store, Broadcast)`` and do without it otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Store(Protocol):
    """A key-value store with expiry and owner-checked locks.

    Keys and values are ``str``. ``ttl`` is in seconds. Implementations must be safe
    to call from many threads; ``sqlite`` and ``redis`` stores are also safe across
    processes. Failures raise :class:`~wechat_middleware.errors.StoreError`.
    """

    def get(self, key: str) -> str | None:
        """Return the value, or ``None`` when missing or expired."""
        ...

    def set(self, key: str, value: str, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""
        ...

    def delete(self, key: str, *, only_if: str | None = None) -> None:
        """Remove ``key``; with ``only_if``, only while its value still equals it.

        The compare-and-delete lets a process drop a token it found invalid without
        dropping a newer one another process stored in the meantime.
        """
        ...

    def incr(self, key: str, ttl: float) -> int:
        """Add 1 to the counter ``key`` and return its new value, atomically.

        A counter that does not exist starts at 0 and lives ``ttl`` seconds from its
        first increment (a fixed window); later increments do not extend it.
        """
        ...

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        """Take the lock ``name`` for ``owner`` unless someone else holds it.

        Returns at once: ``True`` when taken (or already held by ``owner``),
        ``False`` when another owner holds an unexpired lock.
        """
        ...

    def release_lock(self, name: str, owner: str) -> None:
        """Release ``name`` if ``owner`` still holds it; otherwise do nothing."""
        ...

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...


@runtime_checkable
class Broadcast(Protocol):
    """Change notices between processes, the optional half of a store (the Redis
    store's): a process that refreshed a token tells the others at once, and they drop
    their in-memory copies; without it they notice when their short copy ages out.
    Failures raise :class:`~wechat_middleware.errors.StoreError`.
    """

    def publish(self, channel: str, message: str, *, wait: float = 0.0) -> None:
        """Send ``message`` to every process subscribed to ``channel``.

        With ``wait``, return once every receiving process has run its callbacks, or
        after ``wait`` seconds, so a change that returned has been heard, not just sent.
        """
        ...

    def subscribe(self, channel: str, callback: Callable[[str | None], None]) -> None:
        """Call ``callback(message)`` from a background thread for each message on
        ``channel``, and ``callback(None)`` whenever messages may have been missed
        (the connection was lost and regained, or a forked process began to listen).

        Returns once the subscription is in place, or after a short wait when the
        store is unreachable; it then starts, with a ``None`` call, when it is back.
        """
        ...
