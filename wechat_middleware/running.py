"""Running a command: stopping cleanly on Ctrl-C and SIGTERM, and a quiet library log.

Shared by the command line and the demo.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def library_log_quiet() -> Iterator[None]:
    """Keep the library's warnings off the terminal while a command explains failures
    itself; an application that configured logging (a handler on the root) still gets them.
    """
    if logging.getLogger().handlers:
        yield
        return
    logger = logging.getLogger("wechat_middleware")
    handler = logging.NullHandler()  # a handler, so logging's last resort stays silent
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while a long-running command waits.

    A background job (``cmd &``) ignores SIGINT, and supervisors stop with SIGTERM:
    both must end the command as cleanly as Ctrl-C does.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def wait_until_interrupted(done: Callable[[], bool] = lambda: False) -> None:
    """Sleep in short steps until Ctrl-C or SIGTERM (or ``done()``).

    A signal may be delivered to any thread; Python runs its handler in the main
    thread only when that thread runs again, so the main thread never blocks for long.
    """
    while not done():
        time.sleep(0.2)
