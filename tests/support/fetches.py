"""Waiting for the background fetch of a token or ticket, in tests that count calls.

A page waits for a fetch in flight half a second at most (``TokenManager.page_wait``)
and renders without a signature after that, while the fetch goes on in its own thread;
a test that counts what reached WeChat, or moves the fake's clock past a back-off,
waits for that thread first.
"""

from __future__ import annotations

import time

from wechat_middleware import WeChat
from wechat_middleware.tokens import KINDS


def fetches_ended(wechat: WeChat, timeout: float = 10.0) -> None:
    """Return once no fetch of ``wechat``'s token or tickets runs in the background."""
    deadline = time.monotonic() + timeout
    while any(wechat.tokens.in_flight(kind) for kind in KINDS):
        assert time.monotonic() < deadline, f"a fetch still runs after {timeout:g}s"
        time.sleep(0.01)
