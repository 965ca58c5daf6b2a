"""``wechat.on_login(fn)``: the app's code that runs once per completed login.

The use case is the app's own user table: upsert the row for ``user.openid`` (or
``unionid``). A hook may be a plain function or a coroutine function. It runs in the
I/O step of the login: inline on WSGI, in a worker thread on ASGI (a coroutine is then
run on the app's event loop, through anyio; with no loop to return to, in a new one).
If it raises, the login is not kept: the browser gets a 500 page, no session cookie.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from .user import User

Hook = Callable[[User, bool], Any]  # returns None, or an awaitable of None


class LoginHooks:
    """The hooks of one app, called in the order they were added."""

    def __init__(self) -> None:
        self._hooks: list[Hook] = []
        self._lock = threading.Lock()

    def add(self, hook: Hook) -> Hook:
        with self._lock:
            self._hooks = [*self._hooks, hook]
        return hook

    def run(self, user: User, is_new: bool) -> None:
        """Call every hook with the user and whether they are new to this browser."""
        for hook in self._hooks:
            result = hook(user, is_new)
            if inspect.isawaitable(result):
                _wait(result)


def _wait(awaitable: Awaitable[Any]) -> None:
    async def run() -> Any:
        return await awaitable

    try:
        from anyio.from_thread import run as run_on_loop

        run_on_loop(run)  # in an anyio worker thread: on the app's own loop
        return
    except (ImportError, RuntimeError):  # not in a worker thread of a running loop
        pass
    asyncio.run(run())
