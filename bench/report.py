"""Rows of results, the table printed to stdout, and the BENCHMARKS.md block."""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = REPO_ROOT / "BENCHMARKS.md"
BEGIN = "<!-- bench:begin (written by `python -m bench --write`; edit outside this block) -->"
END = "<!-- bench:end -->"

OK = "ok"
MISSED = "MISSED"
INFO = "-"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Row:
    """One line of the table. ``status`` is OK, MISSED, INFO or UNAVAILABLE."""

    section: str
    case: str
    result: str
    compare: str = ""
    target: str = ""
    status: str = INFO


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """The rounds' relative spread (max-min over median), to show how noisy a number is."""
    if len(values) < 2:
        return ""
    mid = statistics.median(values)
    return f"±{(max(values) - min(values)) / 2 / mid * 100:.0f}%" if mid else ""


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs"


def check(ok: bool) -> str:
    return OK if ok else MISSED


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = "?"
    return {
        "nproc": str(os.cpu_count() or "?"),
        "cpu": cpu,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "loadavg": load,
    }


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table for the terminal, one block per section."""
    headers = ("case", "result", "compared", "target", "status")
    cells = [(r.case, r.result, r.compare, r.target, r.status) for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    section = None
    for row, cell in zip(rows, cells, strict=True):
        if row.section != section:
            section = row.section
            out.append(f"[{section}]")
        out.append(line(cell))
    return "\n".join(out)


def markdown_table(rows: Sequence[Row]) -> str:
    out = [
        "| section | case | result | compared | target | status |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        values = (
            r.section,
            r.case,
            r.result,
            r.compare,
            r.target,
            f"**{r.status}**" if r.status == MISSED else r.status,
        )
        out.append("| " + " | ".join(v.replace("|", "\\|") for v in values) + " |")
    return "\n".join(out)


def summary(rows: Sequence[Row]) -> str:
    missed = [r for r in rows if r.status == MISSED]
    if not missed:
        return "All targets met."
    names = "; ".join(f"{r.section}: {r.case}" for r in missed)
    return f"Targets missed ({len(missed)}): {names}."


def write_benchmarks_md(rows: Sequence[Row], *, command: str, mode: str) -> Path:
    """Replace the generated block of BENCHMARKS.md (creating the file if needed)."""
    info = machine()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = "\n".join(
        [
            BEGIN,
            "",
            f"Measured {now} with `{command}` ({mode}).",
            "",
            f"- Machine: {info['nproc']} CPUs, {info['cpu']}, {info['os']}",
            f"- Python: {info['python']}; load average at start: {info['loadavg']}",
            "",
            markdown_table(rows),
            "",
            summary(rows),
            "",
            END,
        ]
    )
    if BENCHMARKS_MD.exists():
        text = BENCHMARKS_MD.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(BEGIN.split(" (")[0]) + r".*?" + re.escape(END), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text, count=1)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
    else:
        text = "# Benchmarks\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(text, encoding="utf-8")
    return BENCHMARKS_MD
