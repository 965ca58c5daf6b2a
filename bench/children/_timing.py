"""The one timing loop every micro-benchmark uses, ours and the peers' (stdlib only).

Child scripts import it as ``_timing`` (their own folder is on ``sys.path``), the
in-process benchmarks as ``bench.children._timing``: the same loop, so a ratio compares
like with like. As in :mod:`timeit`, the garbage collector is off while a round runs.

The clock is the process's CPU time by default, not the wall clock: on a busy machine
a round's wall time counts whatever else ran on the core meanwhile, CPU time does not;
on a quiet machine the two agree (``--clock wall`` gives timeit's ``perf_counter``).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable
from itertools import repeat

CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
_clock: list[Callable[[], float]] = [time.process_time]


def set_clock(name: str) -> None:
    """Use the ``cpu`` (process CPU time) or ``wall`` (perf_counter) clock from now on."""
    _clock[0] = CLOCKS[name]


def time_calls(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn``, over ``number`` back-to-back calls."""
    clock = _clock[0]
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        for _ in repeat(None, number):
            fn()
        return (clock() - start) / number
    finally:
        if enabled:
            gc.enable()


async def time_calls_async(fn: Callable[[], Awaitable[object]], number: int) -> float:
    """Seconds per awaited call of ``fn``, over ``number`` back-to-back calls."""
    clock = _clock[0]
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        for _ in repeat(None, number):
            await fn()
        return (clock() - start) / number
    finally:
        if enabled:
            gc.enable()


def calibrate(fn: Callable[[], object], target_seconds: float) -> int:
    """How many calls make one round last about ``target_seconds`` (like timeit.autorange)."""
    clock = _clock[0]
    number = 1
    while True:
        start = clock()
        time_calls(fn, number)
        elapsed = clock() - start
        if elapsed >= target_seconds / 4 or number >= 10_000_000:
            per_call = max(elapsed / number, 1e-9)
            return max(1, int(target_seconds / per_call))
        number *= 4
