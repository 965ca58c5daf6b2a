"""A store inside one process: for tests, demos and single-worker servers.

Nothing is shared with other processes, so every worker process fetches its own
tokens; use the SQLite or Redis store when there is more than one worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Expired entries and locks nobody touches again (OAuth tokens of users who never
# return, the lock of every claimed OAuth state) are swept after this many writes or
# lock claims, so memory stays bounded without a timer thread.
_SWEEP_EVERY = 256


class MemoryStore:
    """Dictionaries behind one lock; entries and locks expire by ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._mutex = threading.Lock()
        self._values: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._writes = 0

    def get(self, key: str) -> str | None:
        with self._mutex:
            entry = self._values.get(key)
            if entry is None or entry[1] <= self._clock():
                return None
            return entry[0]

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._mutex:
            now = self._clock()
            self._values[key] = (value, now + ttl)
            self._count_write(now)

    def delete(self, key: str, *, only_if: str | None = None) -> None:
        with self._mutex:
            entry = self._values.get(key)
            if entry is not None and (only_if is None or entry[0] == only_if):
                del self._values[key]

    def incr(self, key: str, ttl: float) -> int:
        with self._mutex:
            now = self._clock()
            entry = self._values.get(key)
            if entry is None or entry[1] <= now:
                count, expires_at = 1, now + ttl
            else:
                count, expires_at = int(entry[0]) + 1, entry[1]
            self._values[key] = (str(count), expires_at)
            self._count_write(now)
            return count

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        with self._mutex:
            now = self._clock()
            held = self._locks.get(name)
            if held is not None and held[0] != owner and held[1] > now:
                return False
            self._locks[name] = (owner, now + ttl)
            self._count_write(now)
            return True

    def release_lock(self, name: str, owner: str) -> None:
        with self._mutex:
            held = self._locks.get(name)
            if held is not None and held[0] == owner:
                del self._locks[name]

    def _count_write(self, now: float) -> None:
        """Sweep everything expired every ``_SWEEP_EVERY`` writes (the mutex is held)."""
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            self._values = {k: e for k, e in self._values.items() if e[1] > now}
            self._locks = {k: e for k, e in self._locks.items() if e[1] > now}

    def close(self) -> None:
        with self._mutex:
            self._values.clear()
            self._locks.clear()
