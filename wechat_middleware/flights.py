"""One call per key in a background thread, which callers wait on for a bounded time.

A page that needs the jsapi ticket must not wait on a slow WeChat or a hung store: the
call that gets the ticket (store look-up, store lock, WeChat) runs in a thread of its
own, one per key and process, and every request that needs the key meanwhile waits on
that one call, each no later than ``patience`` seconds after the call began. A request
that comes later, or waited that long, goes on without the value while the call keeps
going; the next request finds the value in memory.

Plain threads (``daemon``: a call stuck on a socket never holds up the interpreter's
exit), so it works the same under a sync gunicorn worker, a threaded one, and the
worker threads of an ASGI server.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")
_E = TypeVar("_E", bound=BaseException)


class Flight(Generic[_V]):
    """One call in flight: when it began, and its value or error once it ended."""

    __slots__ = ("_done", "error", "pid", "started", "value")

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.pid = os.getpid()  # a forked child has the object but not the thread
        self._done = threading.Event()
        self.value: _V | None = None
        self.error: BaseException | None = None

    def patience_left(self, patience: float) -> float:
        """Seconds until ``patience`` seconds after the call began (0 when past)."""
        return max(self.started + patience - time.monotonic(), 0.0)

    def wait(self, patience: float) -> bool:
        """Wait until the call ended, at most until ``patience`` seconds after it began;
        whether it ended."""
        return self._done.wait(self.patience_left(patience))

    def result(self) -> _V:
        """The value of a call that ended; raises (a copy of) its error."""
        if self.error is not None:
            raise fresh(self.error)
        assert self.value is not None
        return self.value

    def _end(self) -> None:
        self._done.set()


class Flights(Generic[_K, _V]):
    """At most one ``work(key)`` in flight per key in this process."""

    def __init__(self, work: Callable[[_K], _V], name: str) -> None:
        self._work = work
        self._name = name  # the threads' name, as a thread dump shows it
        self._lock = threading.Lock()
        self._flying: dict[_K, Flight[_V]] = {}

    def current(self, key: _K) -> Flight[_V] | None:
        """The call for ``key`` in flight in this process, if any."""
        flight = self._flying.get(key)
        return flight if flight is not None and flight.pid == os.getpid() else None

    def join(self, key: _K) -> Flight[_V]:
        """The call for ``key`` in flight, started now if there is none."""
        with self._lock:
            flight = self.current(key)
            if flight is not None:
                return flight
            flight = self._flying[key] = Flight()
        thread = threading.Thread(
            target=self._run, args=(key, flight), name=f"{self._name} {key}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no thread to be had (exhausted, interpreter shutting down)
            self._run(key, flight)
        return flight

    def _run(self, key: _K, flight: Flight[_V]) -> None:
        try:
            flight.value = self._work(key)
        except BaseException as exc:  # handed to whoever waits; the thread ends quietly
            flight.error = exc
        finally:
            with self._lock:
                if self._flying.get(key) is flight:
                    del self._flying[key]
            flight._end()


def fresh(error: _E) -> _E:
    """A copy of ``error`` to raise in one more thread: an exception object raised
    again and again would grow its traceback each time (and share it)."""
    copy = type(error).__new__(type(error))
    copy.args = error.args
    copy.__dict__.update(error.__dict__)
    return copy
