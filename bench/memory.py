"""Section 3: memory while signing many distinct URLs (the per-URL cache is a bounded LRU).

Each measurement runs in a fresh child process (``python -m bench.memory --child``) so
one cannot inherit another's heap: the child first signs enough URLs to fill the
default cache, then signs N more distinct URLs through
``wechat.jssdk.get_signature_by_url`` and reports how much its peak RSS (getrusage) and
its traced Python allocations (tracemalloc, a separate child: tracing costs memory
itself) grew over those N. Current RSS (/proc/self/statm) is the main number: the peak
(ru_maxrss) may already be set by start-up and then hides growth. A cache as large as
N stands for an unbounded one.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tracemalloc

from .peers import REPO_ROOT, child_env
from .report import INFO, Row, check

SECTION = "3. memory, distinct URLs"
DEFAULT_CACHE = 1024
FLAT_LIMIT_KIB = 1024  # "flat": less than 1 MiB of peak RSS growth over all the URLs
WARM_URLS = 2 * DEFAULT_CACHE


def _url(i: int) -> str:
    return f"https://shop.example.com/item/{i}?from=timeline&isappinstalled=0&ref=u{i * 7919}"


def _rss_kib() -> int:
    """Current resident set size, KiB (Linux /proc; the peak where that is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() // 1024
    except (OSError, ValueError, IndexError):
        return _maxrss_kib()


def _maxrss_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS reports bytes


def child(urls: int, cache_size: int, trace: bool) -> dict[str, int]:
    from wechat_middleware import WeChat, WeChatConfig

    wechat = WeChat(
        WeChatConfig(
            app_id="wx0123456789abcdef",
            app_secret="bench-secret",
            api_base="http://127.0.0.1:9",  # never called: the ticket is set below
            open_base="http://127.0.0.1:9",
            store="memory://",
            url_cache_size=cache_size,
        )
    )
    wechat.jssdk.update_access_token_or_ticket_globally("bench-token", "bench-ticket" * 7)
    sign = wechat.jssdk.get_signature_by_url
    if trace:
        tracemalloc.start()
    for i in range(WARM_URLS):
        sign(_url(-i - 1))
    traced_before = tracemalloc.get_traced_memory()[0] if trace else 0
    rss_before, peak_before = _rss_kib(), _maxrss_kib()
    for i in range(urls):
        sign(_url(i))
    result = {
        "rss_before_kib": rss_before,
        "rss_after_kib": _rss_kib(),
        "peak_growth_kib": _maxrss_kib() - peak_before,
        "cached": len(wechat.jssdk.get_cached_url_signature()),
    }
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result["traced_growth_kib"] = (current - traced_before) // 1024
        result["traced_peak_growth_kib"] = (peak - traced_before) // 1024
    wechat.close()
    return result


def _run_child(urls: int, cache_size: int, trace: bool) -> dict[str, int]:
    command = [sys.executable, "-m", "bench.memory", "--child", "--urls", str(urls)]
    command += ["--cache-size", str(cache_size)] + (["--trace"] if trace else [])
    done = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=child_env(with_repo=True),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise RuntimeError(f"memory child failed: {tail[0]}")
    data: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def run(*, urls: int) -> list[Row]:
    rows: list[Row] = []
    for cache_size, label in ((DEFAULT_CACHE, "default"), (urls, "as large as N ~ unbounded")):
        case = f"{urls:,} URLs, cache_size={cache_size:,} ({label})"
        try:
            rss = _run_child(urls, cache_size, trace=False)
            traced = _run_child(urls, cache_size, trace=True)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            rows.append(Row(SECTION, case, f"failed: {exc}", status=INFO))
            continue
        growth = rss["rss_after_kib"] - rss["rss_before_kib"]
        result = (
            f"RSS {growth:+,} KiB (peak {rss['peak_growth_kib']:+,}), "
            f"traced {traced['traced_growth_kib']:+,} KiB"
        )
        compare = (
            f"{rss['cached']:,} cached; RSS {rss['rss_before_kib']:,} -> "
            f"{rss['rss_after_kib']:,} KiB; traced peak {traced['traced_peak_growth_kib']:+,} KiB"
        )
        if cache_size == DEFAULT_CACHE:
            flat = (
                max(growth, rss["peak_growth_kib"]) < FLAT_LIMIT_KIB
                and rss["cached"] <= DEFAULT_CACHE
            )
            rows.append(
                Row(SECTION, case, result, compare, f"flat (< {FLAT_LIMIT_KIB} KiB)", check(flat))
            )
        else:
            rows.append(Row(SECTION, case, result, compare, "", INFO))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", action="store_true", required=True)
    parser.add_argument("--urls", type=int, default=100_000)
    parser.add_argument("--cache-size", type=int, default=DEFAULT_CACHE)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    print(json.dumps(child(args.urls, args.cache_size, args.trace)))


if __name__ == "__main__":
    main()
