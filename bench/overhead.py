"""Section 2: what the middleware adds to a request, in process, without sockets.

Each case is one route served bare, behind a no-op middleware and behind
WeChatMiddleware (see :mod:`bench.overhead_apps`), called directly with a prebuilt
environ or scope. Rounds of the three alternate, rotating which goes first, so a burst
of load on the machine hits all of them alike; every per-request difference and ratio
is taken within a round (paired), then the median over the rounds is reported. The
rounds are short and many (5x the CLI's ``--rounds``, each a fifth of
``--round-seconds``): on a shared VM, bursts of load last longer than a short round,
so they spoil a few rounds that the median then ignores, instead of most rounds a bit. Each
column holds one statistic: the three medians in µs, the difference over the no-op
middleware in µs (what our code costs beyond being a middleware at all) and the ratio
to the bare app (what a user of the framework pays).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .children._timing import calibrate, time_calls, time_calls_async
from .overhead_apps import (
    CASES,
    LOGGED_IN,
    PASS_THROUGH,
    VARIANTS,
    Prepared,
    asgi_call,
    check_response,
    prepare,
    wsgi_call,
)
from .report import INFO, Table, check, median

TITLE = "2. middleware overhead in-process, µs per request (medians of paired rounds)"
HEADERS = (
    "app",
    "case",
    "bare µs",
    "no-op middleware µs",
    "WeChatMiddleware µs",
    "Δ over no-op, µs",
    "ratio to bare",
    "Δ interquartile range, µs",
    "target",
    "status",
)


@dataclass(frozen=True)
class Target:
    """At most this many µs over the no-op middleware and this ratio to bare."""

    delta_us: float | None = None
    ratio: float | None = None

    def describe(self) -> str:
        parts = []
        if self.delta_us is not None:
            parts.append(f"Δ <= {self.delta_us:g} µs")
        if self.ratio is not None:
            parts.append(f"<= {self.ratio:.2f}x bare")
        return ", ".join(parts)

    def met(self, delta_us: float, ratio: float) -> bool:
        return (self.delta_us is None or delta_us <= self.delta_us) and (
            self.ratio is None or ratio <= self.ratio
        )


TARGETS: dict[tuple[str, str], Target] = {
    ("Flask", PASS_THROUGH): Target(delta_us=1.5, ratio=1.05),
    ("Starlette", PASS_THROUGH): Target(delta_us=1.5),
    ("Flask", LOGGED_IN): Target(ratio=1.25),
    ("Starlette", LOGGED_IN): Target(delta_us=5.0),
}

Results = dict[tuple[str, str], list[float]]  # (case, variant) -> seconds per request, per round


def check_all(p: Prepared) -> None:
    """Every case answers as it should, while the fake still runs to verify signatures."""
    for case in CASES:
        for variant in VARIANTS:
            wsgi_call(p, case, variant)()
            check_response(p, "Flask", case, variant)

    async def asgi() -> None:
        for case in CASES:
            for variant in VARIANTS:
                await asgi_call(p, case, variant)()
                check_response(p, "Starlette", case, variant)

    asyncio.run(asgi())


SPLIT = 5  # rounds per CLI round (see the module docstring)


def _order(round_index: int) -> tuple[str, ...]:
    """The variants in a rotated order, so that none always runs first or last."""
    k = round_index % len(VARIANTS)
    return VARIANTS[k:] + VARIANTS[:k]


def measure_wsgi(p: Prepared, rounds: int, target: float) -> Results:
    calls = {(c, v): wsgi_call(p, c, v) for c in CASES for v in VARIANTS}
    numbers = {key: calibrate(fn, target) for key, fn in calls.items()}
    results: Results = {key: [] for key in calls}
    for r in range(-1, rounds):  # round -1 warms every variant up and is dropped
        for case in CASES:
            for variant in _order(r):
                key = (case, variant)
                seconds = time_calls(calls[key], numbers[key])
                if r >= 0:
                    results[key].append(seconds)
    return results


async def measure_asgi(p: Prepared, rounds: int, target: float) -> Results:
    calls: dict[tuple[str, str], Callable[[], Awaitable[None]]] = {
        (c, v): asgi_call(p, c, v) for c in CASES for v in VARIANTS
    }
    numbers: dict[tuple[str, str], int] = {}
    for key, fn in calls.items():
        await time_calls_async(fn, 200)  # warm-up
        per_call = await time_calls_async(fn, 2000)
        numbers[key] = max(1, int(target / max(per_call, 1e-9)))
    results: Results = {key: [] for key in calls}
    for r in range(-1, rounds):  # round -1 warms every variant up and is dropped
        for case in CASES:
            for variant in _order(r):
                key = (case, variant)
                seconds = await time_calls_async(calls[key], numbers[key])
                if r >= 0:
                    results[key].append(seconds)
    return results


def _iqr(values: list[float]) -> str:
    """The middle half of the rounds' values: how far apart typical rounds are."""
    if len(values) < 4:
        return ""
    low, _, high = statistics.quantiles(values, n=4)
    return f"{low:+.2f} .. {high:+.2f}"


def add_rows(table: Table, app: str, results: Results) -> None:
    for case in CASES:
        bare, noop, ours = (results[(case, v)] for v in VARIANTS)
        deltas = [(o - n) * 1e6 for o, n in zip(ours, noop, strict=True)]
        ratios = [o / b for o, b in zip(ours, bare, strict=True)]
        delta, ratio = median(deltas), median(ratios)
        target = TARGETS.get((app, case))
        table.add(
            app,
            case,
            f"{median(bare) * 1e6:.2f}",
            f"{median(noop) * 1e6:.2f}",
            f"{median(ours) * 1e6:.2f}",
            f"{delta:+.2f}",
            f"{ratio:.3f}x",
            _iqr(deltas),
            target.describe() if target else "",
            check(target.met(delta, ratio)) if target else INFO,
        )


def run(*, rounds: int, target_seconds: float) -> list[Table]:
    prepared, fake = prepare()
    try:
        check_all(prepared)
        upstream = fake.calls("cgi-bin/stable_token") + fake.calls("cgi-bin/ticket/getticket")
    finally:
        fake.stop()  # from here on, any network call would fail loudly
    if upstream != 2:
        raise RuntimeError(f"expected one token and one ticket fetch, saw {upstream}")
    rounds, target_seconds = rounds * SPLIT, target_seconds / SPLIT
    try:
        flask = measure_wsgi(prepared, rounds, target_seconds)
        starlette = asyncio.run(measure_asgi(prepared, rounds, target_seconds))
    finally:
        prepared.wechat.close()
    table = Table(TITLE, HEADERS, status=HEADERS.index("status"), key_columns=2)
    add_rows(table, "Flask", flask)
    add_rows(table, "Starlette", starlette)
    table.notes.append(
        f"{rounds} rounds of ~{target_seconds * 1000:.0f} ms per cell (after one dropped "
        "warm-up round). Δ and ratio are medians of per-round differences and ratios: the "
        "three variants of a case run back to back in each round."
    )
    return [table]
