"""Logging helpers: the library's logger, whose lines a browser cannot forge, and a
warning that cannot flood a log.

Many lines quote what a browser sent (a report's URL and ``errMsg``, an ``Origin``):
a CR or LF there would start a forged line, an ESC would drive an operator's terminal.
The logger's filter (:func:`escape_controls`) escapes every control character of every
message, repr-style (``\\r``, ``\\n``, ``\\x1b``), in this one place, so no line
needs to remember to.

While WeChat or the store is down, every page that wants a signature fails the same
way; a busy site would write thousands of identical lines a second. A
:class:`ThrottledWarning` writes the first one, then one line per window saying how
many more happened, which keeps the cause visible and the log readable.

An error marked :func:`logged_elsewhere` is not a failure of its own (a page that stopped
waiting for a fetch still going on: if the fetch fails, it logs why): a throttled line
quoting it is written at DEBUG and leaves the window to the next real failure.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("wechat_middleware")

# C0 controls (CR, LF, ESC, NUL...), DEL, C1 controls (NEL, CSI) and the Unicode line
# and paragraph separators: what can end a log line or drive a terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``text`` with each control character escaped as ``repr`` writes it."""
    if text.isprintable():  # the common case: nothing to escape
        return text
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], text)


_E = TypeVar("_E", bound=BaseException)
_REPORTED = "_wechat_middleware_logged_elsewhere"


def logged_elsewhere(error: _E) -> _E:
    """Mark ``error`` as logged where its cause is known: a :class:`ThrottledWarning`
    quoting it writes DEBUG. The mark survives ``flights.fresh`` copies."""
    setattr(error, _REPORTED, True)
    return error


class _EscapeControls(logging.Filter):
    """Every line of the library's logger is one line, whatever a browser sent."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped is not message:
            record.msg, record.args = escaped, ()
        return True


log.addFilter(_EscapeControls())


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
        if any(getattr(arg, _REPORTED, False) for arg in args):
            self._logger.debug(message, *args)
            return
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


class DedupedWarning:
    """One WARNING per distinct key per ``window`` seconds, and at most ``per_minute``
    lines a minute in all: what clients report (hostile ones too) cannot flood the log.
    Keys are remembered in a bounded table."""

    def __init__(
        self,
        window: float = 600.0,
        per_minute: int = 30,
        *,
        remember: int = 256,
        logger: logging.Logger = log,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.per_minute = per_minute
        self.remember = remember
        self._logger = logger
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._minute = (float("-inf"), 0)  # (start, lines written in it)

    def warning(self, key: str, message: str, *args: object) -> bool:
        """Write it unless the same key was written lately or the minute is full."""
        now = self._clock()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < self.window:
                return False
            start, lines = self._minute
            if now - start >= 60:
                start, lines = now, 0
            if lines >= self.per_minute:
                return False
            self._minute = (start, lines + 1)
            self._seen[key] = now
            self._seen.move_to_end(key)
            while len(self._seen) > self.remember:
                self._seen.popitem(last=False)
        self._logger.warning(message, *args)
        return True
