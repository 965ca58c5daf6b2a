"""Section B: ``python -m bench --profile CASE`` shows what a hot path spends its time on.

cProfile (or pyinstrument, when it is importable) runs one case over and over for a few
seconds; the report lists the functions with the most own time and says how much of
the total is spent in wechat_middleware's own code versus the framework's.
"""

from __future__ import annotations

import asyncio
import cProfile
import importlib.util
import io
import pstats
import time
from collections.abc import Awaitable, Callable
from functools import partial

from . import overhead_apps

SIGNATURE_CASES = ("signature", "get-signature-by-url")
MIDDLEWARE_CASES = {
    "passthrough": overhead_apps.PASS_THROUGH,
    "logged-in": overhead_apps.LOGGED_IN,
    "redirect": overhead_apps.REDIRECT,
}
#: ``{flask,starlette}-{case}`` profiles the app behind WeChatMiddleware;
#: ``-bare`` and ``-noop`` the same route without it (the redirect exists only with it).
CASES = (
    *SIGNATURE_CASES,
    *(
        f"{fw}-{short}{suffix}"
        for fw in ("flask", "starlette")
        for short in MIDDLEWARE_CASES
        for suffix in (("", "-bare", "-noop") if short != "redirect" else ("",))
    ),
)


def _library_share(stats: pstats.Stats) -> tuple[float, float]:
    """(own time in wechat_middleware, total own time), in seconds."""
    total = ours = 0.0
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        total += tottime
        if "wechat_middleware" in filename.replace("\\", "/"):
            ours += tottime
    return ours, total


def _run_for(fn: Callable[[], object], seconds: float) -> int:
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            fn()
        count += 100
    return count


async def _run_for_async(fn: Callable[[], Awaitable[None]], seconds: float) -> int:
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            await fn()
        count += 100
    return count


def profile(case: str, *, seconds: float = 3.0, top: int = 25) -> str:
    """Profile ``case`` for ``seconds`` and return the report."""
    if case not in CASES:
        raise SystemExit(f"unknown case {case!r}; choose one of: {', '.join(CASES)}")
    prepared, fake = overhead_apps.prepare()
    fake.stop()  # the token and ticket are in the store: no case does network I/O
    try:
        body = _body(case, prepared, seconds)
        if importlib.util.find_spec("pyinstrument") is not None:
            return _pyinstrument(case, body)
        return _cprofile(case, body, top)
    finally:
        prepared.wechat.close()


def _body(case: str, prepared: overhead_apps.Prepared, seconds: float) -> Callable[[], int]:
    """A function that runs ``case`` for ``seconds`` and returns how many calls it made."""
    if case == "signature":
        from wechat_middleware.signing import jsapi_signature, make_nonce

        ticket, url = "t" * 86, "https://shop.example.com/products/42?from=timeline"

        def sign() -> str:
            return jsapi_signature(ticket, make_nonce(), int(time.time()), url)

        return partial(_run_for, sign, seconds)
    if case == "get-signature-by-url":
        page = f"http://{overhead_apps.HOST}/page"
        return partial(_run_for, partial(prepared.wechat.jssdk.get_signature_by_url, page), seconds)
    framework, rest = case.split("-", 1)
    variant = "wechat"
    for suffix in ("bare", "noop"):
        if rest.endswith(f"-{suffix}"):
            rest, variant = rest[: -len(suffix) - 1], suffix
    name = MIDDLEWARE_CASES[rest]
    if framework == "flask":
        return partial(_run_for, overhead_apps.wsgi_call(prepared, name, variant), seconds)
    afn = overhead_apps.asgi_call(prepared, name, variant)

    def run_async() -> int:
        return asyncio.run(_run_for_async(afn, seconds))

    return run_async


def _cprofile(case: str, body: Callable[[], int], top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    calls = body()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    ours, total = _library_share(stats)
    per_call = total / calls * 1e6 if calls else 0.0
    out.write(
        f"case {case}: {calls} calls, {per_call:.1f} µs per call under cProfile "
        f"(profiling inflates small functions); wechat_middleware's own code: "
        f"{ours / total * 100 if total else 0:.0f}% of the time\n"
    )
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def _pyinstrument(case: str, body: Callable[[], int]) -> str:
    from pyinstrument import Profiler  # type: ignore[import-not-found] # optional

    profiler = Profiler(interval=0.0001)
    profiler.start()
    calls = body()
    profiler.stop()
    text: str = profiler.output_text(unicode=True, color=False)
    return f"case {case}: {calls} calls\n{text}"
