"""``python -m bench``: every benchmark in one run, one table of ratios, exit 0.

Sections (``--only`` takes these names, comma-separated or repeated):

- ``signature``  one JS-SDK signature, ours vs wechatpy vs wechat-jssdk (node)
- ``overhead``   the middleware in-process vs the bare Flask / Starlette app
- ``memory``     peak RSS while signing 100,000 distinct URLs (bounded LRU)
- ``coldstart``  token/ticket fetches when 4 processes x 40 threads start cold
- ``hub``        the token hub: requests/s and p99 on one core; 100 cold followers
- ``servers``    real uvicorn and gunicorn on 127.0.0.1: the keep-alive stall check,
                 then requests/s of each example against its bare twin

``--write`` puts the tables into BENCHMARKS.md, draws them as SVG charts into
``docs/assets/benchmarks/`` (:mod:`bench.charts`) and saves them as ``bench/results.json``;
``--render`` redraws both from that file without running anything.

Every target is checked on numbers of this run and printed PASS or FAIL (ERROR: the
benchmark could not measure); a FAIL is not turned into a failing exit code. The peers
are installed on first use into ``bench/.peers/`` (git-ignored), never into the
project's environment; ``--no-peers`` skips them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from . import coldstart, hub, memory, overhead, signature
from .children._timing import CLOCKS, set_clock
from .peers import Peers, install_peers
from .report import (
    ERROR,
    REPO_ROOT,
    Results,
    Table,
    finish,
    format_table,
    load_results,
    machine,
    save_results,
    summary,
    tables_from_rows,
    write_benchmarks_md,
)

# Where --write and --render put BENCHMARKS.md, the charts and the saved results.
OUTPUT_ROOT = REPO_ROOT

SECTIONS = ("signature", "overhead", "memory", "coldstart", "hub", "servers")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    from .profiling import CASES as PROFILE_CASES

    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="short rounds, fewer URLs")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help=", ".join(SECTIONS)
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds per micro-benchmark (default 7; overhead: 5x as many)"
    )
    parser.add_argument(
        "--round-seconds",
        type=float,
        help="length of one round (default 0.25, quick 0.05; overhead's are a fifth as long)",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="cpu: process CPU time, robust on a busy machine (default); wall: perf_counter",
    )
    parser.add_argument("--urls", type=int, help="distinct URLs for the memory test")
    parser.add_argument(
        "--server-rounds", type=int, help="servers: rounds per app and traffic (8, quick 4)"
    )
    parser.add_argument("--server-seconds", type=float, help="servers: seconds per round (1)")
    parser.add_argument("--connections", type=int, default=8, help="servers: client connections")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="servers: wrk when installed (auto), or the Python fallback",
    )
    parser.add_argument("--no-peers", action="store_true", help="do not install or run peers")
    parser.add_argument(
        "--write",
        action="store_true",
        help="update BENCHMARKS.md, its charts (docs/assets/benchmarks/*.svg) and the saved "
        "results (bench/results.json)",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="run nothing: write BENCHMARKS.md's results block and the charts again from "
        "bench/results.json (the last --write)",
    )
    parser.add_argument(
        "--profile", metavar="CASE", choices=PROFILE_CASES, help=", ".join(PROFILE_CASES)
    )
    parser.add_argument("--profile-seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    only = [name.strip() for value in args.only for name in value.split(",") if name.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    args.only = only or list(SECTIONS)
    args.rounds = args.rounds or (5 if args.quick else 7)
    args.round_seconds = args.round_seconds or (0.05 if args.quick else 0.25)
    args.urls = args.urls or (20_000 if args.quick else 100_000)
    args.server_rounds = args.server_rounds or (4 if args.quick else 8)
    args.server_seconds = args.server_seconds or 1.0
    return args


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.render:
        results = load_results(OUTPUT_ROOT / "bench" / "results.json")
        for path in publish(results, save=False):
            _log(f"wrote {path}")
        return 0
    if args.profile:
        from .profiling import profile

        print(profile(args.profile, seconds=args.profile_seconds))
        return 0

    set_clock(args.clock)
    info = machine()
    _log(
        f"{info['nproc']} CPUs ({info['cpu']}), {info['python']}, load average "
        f"{info['loadavg']}; clock={args.clock}, rounds={args.rounds}"
    )
    needs_peers = {"signature", "coldstart"} & set(args.only)
    peers = (
        install_peers(not args.no_peers)
        if needs_peers
        else Peers(None, "not needed", None, None, "not needed")
    )
    runners: dict[str, Callable[[], list[Table]]] = {
        "signature": lambda: tables_from_rows(
            signature.run(
                peers, rounds=args.rounds, target_seconds=args.round_seconds, clock=args.clock
            )
        ),
        "overhead": lambda: overhead.run(rounds=args.rounds, target_seconds=args.round_seconds),
        "memory": lambda: tables_from_rows(memory.run(urls=args.urls)),
        "coldstart": lambda: tables_from_rows(coldstart.run(peers)),
        "hub": lambda: tables_from_rows(hub.run(seconds=2.0 if args.quick else 5.0)),
        "servers": lambda: _servers(args),
    }
    tables: list[Table] = []
    crashed = False
    for name in SECTIONS:
        if name not in args.only:
            continue
        _log(f"running {name} ...")
        started = time.perf_counter()
        try:
            tables += runners[name]()
        except Exception as exc:  # a bug in a benchmark: report it, run the others
            traceback.print_exc()
            failed = Table(name, ("case", "result", "status"), status=2)
            failed.add("the benchmark itself failed", f"{type(exc).__name__}: {exc}", ERROR)
            tables.append(failed)
            crashed = True
        _log(f"{name} took {time.perf_counter() - started:.1f} s")

    print("\n\n".join(format_table(table) for table in tables))
    print()
    print(summary(tables))
    if args.write:
        command = shlex.join(
            ["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])]
        )
        mode = f"{'quick' if args.quick else 'full'} run, clock={args.clock}, rounds={args.rounds}"
        results = finish(tables, command=command, mode=mode, at_start=info)
        for path in publish(results):
            _log(f"wrote {path}")
    return 1 if crashed else 0


def publish(results: Results, *, save: bool = True) -> list[Path]:
    """BENCHMARKS.md's results block and the charts, both from ``results``; with ``save``
    also ``bench/results.json``, from which ``--render`` writes them again."""
    from .charts import write_charts

    paths = [write_benchmarks_md(results, OUTPUT_ROOT / "BENCHMARKS.md")]
    paths += write_charts(results, OUTPUT_ROOT / "docs" / "assets" / "benchmarks")
    if save:
        paths.append(save_results(results, OUTPUT_ROOT / "bench" / "results.json"))
    return paths


def _servers(args: argparse.Namespace) -> list[Table]:
    """The stall check (a few seconds), then the wrapped-vs-bare throughput table."""
    from .load import stall, throughput

    with tempfile.TemporaryDirectory(prefix="wechat-bench-stall-") as tmp:
        stall_table = stall.run(Path(tmp), seconds=3.0 if args.quick else 5.0)
    return [
        stall_table,
        throughput.run(
            client=args.client,
            rounds=args.server_rounds,
            seconds=args.server_seconds,
            connections=args.connections,
        ),
    ]
