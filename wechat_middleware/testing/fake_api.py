"""What a fake of Tencent's HTTP API is, whatever it fakes: a clock, counters, faults, routes.

:class:`FakeWeChat` and :class:`FakeWeCom` are built on :class:`FakeTencentAPI`: one
lock over all state, a clock that tests move forward, a call counter and a fault queue
per path, and the dispatch that applies them before an endpoint runs. Both fakes stand
on it, so a test moves between them without relearning anything.

Endpoint handlers run with the lock held; a latency fault sleeps without it, so other
requests keep flowing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from .fake_http import HTTPService
from .fake_records import (
    HTML_TYPE,
    PATH_JSSDK_SCRIPT,
    Fault,
    QueuedFault,
    Reply,
    Request,
    json_reply,
)
from .lifetime import Closing

__all__ = ["FakeTencentAPI", "Route"]

logger = logging.getLogger(__name__)
_Server = TypeVar("_Server", bound="FakeTencentAPI")


class Route(NamedTuple):
    method: str
    handler: Callable[[Request], Reply]


class FakeTencentAPI(Closing):
    """A loopback HTTP server over routes, with a movable clock, counters and faults.

    A subclass fills :attr:`_routes` and answers :meth:`_wrong_method`; it may list paths
    whose CORS preflight it answers (uncounted, no fault) in :attr:`_preflight`.
    """

    _routes: dict[str, Route]
    _preflight: dict[str, Callable[[Request], Reply]]

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._offset = 0.0
        self._counts: Counter[str] = Counter()
        self._faults: dict[str, deque[QueuedFault]] = {}
        self._routes = {}
        self._preflight = {}
        self._http: HTTPService | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self: _Server) -> _Server:
        """Bind (a random free port by default) and serve from a daemon thread."""
        name = type(self).__name__
        if self._http is not None:
            raise RuntimeError(f"{name} is already running")
        http = HTTPService(self._handle, self.host, self.port, name=name)
        self.port = http.port
        self._http = http.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open keep-alive connections and release the port."""
        http, self._http = self._http, None
        if http is not None:
            http.stop()

    def __enter__(self: _Server) -> _Server:
        return self.start()

    def close(self) -> None:
        """The same as :meth:`stop` (for ``with``)."""
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: every host this fake stands for."""
        if self._http is None:
            raise RuntimeError(f"{type(self).__name__} is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """For the API host (``{api_base}/cgi-bin/...``): this server."""
        return self.base_url

    @property
    def open_base(self) -> str:
        """For the OAuth host (``{open_base}/connect/oauth2/authorize``): this server."""
        return self.base_url

    @property
    def jssdk_url(self) -> str:
        """The JS-SDK stand-in script, for ``WECHAT_JSSDK_URL``."""
        return f"{self.base_url}/{PATH_JSSDK_SCRIPT}"

    # ----------------------------------------------------------------- clock

    def now(self) -> float:
        """The fake's clock: real time plus whatever :meth:`advance` added."""
        with self._lock:
            return self._now()

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward, so expiry can be tested without waiting."""
        if seconds < 0:
            raise ValueError("the fake's clock only moves forward")
        with self._lock:
            self._offset += seconds

    def _now(self) -> float:
        return time.time() + self._offset

    # ----------------------------------------------------------------- counters and faults

    def calls(self, path: str) -> int:
        """How many requests reached ``path`` (e.g. "cgi-bin/gettoken"), faulted ones included."""
        with self._lock:
            return self._counts[path.lstrip("/")]

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    def inject(self, path: str, fault: Fault) -> None:
        """Queue a fault for ``path``; queued faults are served in order."""
        with self._lock:
            self._faults.setdefault(path.lstrip("/"), deque()).append(QueuedFault(fault))

    def clear_faults(self, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path.lstrip("/"), None)

    def _take_fault(self, path: str) -> Fault | None:
        queue = self._faults.get(path)
        if not queue:
            return None
        queued = queue[0]
        if queued.remaining is not None:
            queued.remaining -= 1
            if queued.remaining <= 0:
                queue.popleft()
        return queued.fault

    # ----------------------------------------------------------------- request dispatch

    def _wrong_method(self, route: Route) -> Reply:
        raise NotImplementedError

    def _handle(self, request: Request) -> Reply:
        """Count, apply a queued fault, route. Called by server threads, without the lock."""
        preflight = self._preflight.get(request.path)
        if request.method == "OPTIONS" and preflight is not None:
            return preflight(request)  # the browser asking permission, not a call
        with self._lock:
            self._counts[request.path] += 1
            fault = self._take_fault(request.path)
        if fault is not None:
            if fault.kind != "latency":
                return self._fault_reply(fault)
            time.sleep(fault.value)  # never under the lock
        route = self._routes.get(request.path)
        if route is None:
            return json_reply({"errcode": 40066, "errmsg": "invalid url"}, status=404)
        if request.method != route.method:
            return self._wrong_method(route)
        try:
            with self._lock:
                return route.handler(request)
        except Exception:
            logger.exception("%s failed on %s", type(self).__name__, request.path)
            return json_reply({"errcode": -1, "errmsg": "system error"}, status=500)

    @staticmethod
    def _fault_reply(fault: Fault) -> Reply:
        if fault.kind == "status":
            status = int(fault.value)
            bodiless = status < 200 or status in (204, 304)  # HTTP forbids a body for these
            body = b"" if bodiless else f"{status} {fault.errmsg}".encode()
            return Reply(status, body, HTML_TYPE)
        if fault.kind == "errcode":
            return json_reply({"errcode": int(fault.value), "errmsg": fault.errmsg})
        if fault.kind == "malformed":
            return Reply(200, b'{"access_tok')
        return Reply(0, drop=True)
