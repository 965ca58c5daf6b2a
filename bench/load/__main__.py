"""``python -m bench.load [mix|compare|stall] [options]``: see :mod:`bench.load`.

Exit status 0 when the mode passed (``mix``: no error, no 5xx and no extra token or
ticket fetched; ``compare``: every server answered correctly); 1 otherwise; 130 when
interrupted. Servers run in their own process groups and are killed on exit, Ctrl-C
and SIGTERM included.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from wechat_middleware.testing import FakeWeChat

from ..report import ERROR, format_table, summary
from . import mix, servers, stall, throughput


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the finally blocks that stop the servers


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description=sys.modules["bench.load"].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode", nargs="?", choices=("mix", "compare", "stall"), default="mix")
    parser.add_argument(
        "--seconds",
        type=float,
        help="mix: load per server (30); compare: per round (1); stall: per row (5)",
    )
    parser.add_argument("--clients", type=int, default=16, help="mix: client threads")
    parser.add_argument("--only", choices=tuple(mix.MIX_SERVERS), action="append", help="mix")
    parser.add_argument("--rounds", type=int, default=8, help="compare: rounds per cell")
    parser.add_argument("--connections", type=int, default=8, help="compare: connections")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="compare: wrk if installed (auto), or the Python fallback",
    )
    args = parser.parse_args(argv)
    args.seconds = args.seconds or {"mix": 30.0, "compare": 1.0, "stall": 5.0}[args.mode]
    if not (0 < args.seconds <= 3600) or not (0 < args.clients <= 256):
        parser.error("--seconds must be in (0, 3600] and --clients in (0, 256]")
    if not (0 < args.rounds <= 100) or not (0 < args.connections <= 256):
        parser.error("--rounds must be in (0, 100] and --connections in (0, 256]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if args.mode == "compare":
            table = throughput.run(
                client=args.client,
                rounds=args.rounds,
                seconds=args.seconds,
                connections=args.connections,
            )
            print(format_table(table))
            print(summary([table]))
            return 1 if any(row[-1] == ERROR for row in table.rows) else 0
        with tempfile.TemporaryDirectory(prefix="wechat-load-") as tmp:
            if args.mode == "stall":
                print(format_table(stall.run(Path(tmp), seconds=args.seconds)))
                return 0
            with FakeWeChat() as fake:
                names = args.only or list(mix.MIX_SERVERS)
                return 0 if mix.run(fake, Path(tmp), names, args.seconds, args.clients) else 1
    except KeyboardInterrupt:
        print("load: interrupted: servers stopped", file=sys.stderr)
        return 130
    finally:
        servers.stop_all()


if __name__ == "__main__":
    sys.exit(main())
