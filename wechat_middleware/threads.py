"""Running blocking work off an event loop, with whatever async library is installed.

Starlette and FastAPI run on anyio (asyncio or trio underneath), so anyio's worker
threads are used when it is there; without it (another ASGI framework on plain
asyncio), asyncio's own. The package imports neither at load time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

try:
    from anyio.to_thread import run_sync as _run_sync
except ImportError:  # pragma: no cover - anyio comes with Starlette
    _run_sync: Callable[..., Awaitable[Any]] = asyncio.to_thread  # type: ignore[no-redef]


async def run_in_thread(work: Callable[..., _T], *args: object) -> _T:
    """``await`` ``work(*args)`` run in a worker thread."""
    result: _T = await _run_sync(work, *args)
    return result
