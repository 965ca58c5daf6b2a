"""Logging helpers: the library's logger, and a warning that cannot flood a log.

While WeChat or the store is down, every page that wants a signature fails the same
way; a busy site would write thousands of identical lines a second. A
:class:`ThrottledWarning` writes the first one, then one line per window saying how
many more happened, which keeps the cause visible and the log readable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("wechat_middleware")


class ThrottledWarning:
    """At most one WARNING per ``window`` seconds, with the count of those held back."""

    def __init__(
        self,
        window: float,
        *,
        logger: logging.Logger = log,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self._logger = logger
        self._clock = clock
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._held_back = 0

    def warning(self, message: str, *args: object) -> None:
        now = self._clock()
        with self._lock:
            if now - self._last < self.window:
                self._held_back += 1
                return
            held_back, self._held_back, self._last = self._held_back, 0, now
        if held_back:
            message += " (%d more like this in the last %.0fs)"
            args = (*args, held_back, self.window)
        self._logger.warning(message, *args)
