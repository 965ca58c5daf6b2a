"""Tables of results, printed to stdout and written into BENCHMARKS.md and its charts.

Each section returns :class:`Table` objects whose columns hold one statistic each, so
that a reader never has to guess whether a cell is a ratio, a difference or a rate.
The simpler sections build a five-column table from :class:`Row` objects. A run's tables
and where and when it ran are one :class:`Results`: BENCHMARKS.md's results block and the
charts (:mod:`bench.charts`) are both drawn from it, and ``--write`` saves it as
``bench/results.json`` for ``--render``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = REPO_ROOT / "BENCHMARKS.md"
RESULTS_JSON = REPO_ROOT / "bench" / "results.json"  # the last --write's results
BEGIN = "<!-- bench:begin (written by `python -m bench --write`; edit outside this block) -->"
END = "<!-- bench:end -->"

PASS = "PASS"  # a target checked in this run and met
FAIL = "FAIL"  # a target checked in this run and missed
INFO = "-"
UNAVAILABLE = "unavailable"
ERROR = "ERROR"  # the benchmark itself could not measure (a wrong answer, a crash)


@dataclass(frozen=True)
class Row:
    """One line of a five-column table. ``status`` is PASS, FAIL, INFO or UNAVAILABLE."""

    section: str
    case: str
    result: str
    compare: str = ""
    target: str = ""
    status: str = INFO


@dataclass
class Table:
    """A titled table: ``headers`` name one statistic per column.

    ``status`` is the index of the column whose FAIL/ERROR cells are missed targets,
    named in the summary by the row's first ``key_columns`` cells.
    """

    title: str
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    status: int | None = None
    key_columns: int = 1
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.headers)} columns")
        self.rows.append(tuple(cells))

    def missed(self) -> list[str]:
        if self.status is None:
            return []
        bad = (FAIL, ERROR)
        return [
            f"{self.title}: {' / '.join(r[: self.key_columns])}"
            for r in self.rows
            if r[self.status] in bad
        ]


def tables_from_rows(rows: Sequence[Row]) -> list[Table]:
    """One five-column table per section, in the order the sections first appear."""
    tables: dict[str, Table] = {}
    for r in rows:
        table = tables.get(r.section)
        if table is None:
            table = tables[r.section] = Table(
                r.section, ("case", "result", "compared", "target", "status"), status=4
            )
        table.add(r.case, r.result, r.compare, r.target, r.status)
    return list(tables.values())


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
    return PASS if ok else FAIL


def commit() -> str:
    """The measured commit, ``+ uncommitted changes`` when the work tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head} + uncommitted changes" if dirty else head


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


def format_table(table: Table) -> str:
    """A plain-text table for the terminal."""
    widths = [
        max([len(h)] + [len(row[i]) for row in table.rows]) for i, h in enumerate(table.headers)
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [f"[{table.title}]", line(table.headers), line(["-" * w for w in widths])]
    out += [line(row) for row in table.rows]
    out += table.notes
    return "\n".join(out)


def markdown_table(table: Table) -> str:
    def cells(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    out = [f"**{table.title}**", "", cells(table.headers), cells(["---"] * len(table.headers))]
    for row in table.rows:
        out.append(
            cells(
                [
                    f"**{v}**" if i == table.status and v in (FAIL, ERROR) else v
                    for i, v in enumerate(row)
                ]
            )
        )
    if table.notes:
        out += ["", *table.notes]
    return "\n".join(out)


def summary(tables: Sequence[Table]) -> str:
    """One line: how many targets passed, and every one that did not."""
    statuses = [row[t.status] for t in tables if t.status is not None for row in t.rows]
    passed = statuses.count(PASS)
    missed = [name for table in tables for name in table.missed()]
    if not missed:
        return f"All {passed} targets checked: PASS."
    return f"Targets: {passed} PASS, {len(missed)} FAIL or ERROR: {'; '.join(missed)}."


@dataclass
class Results:
    """One run's tables and where and when they were measured: the one home of its numbers.

    ``python -m bench --write`` renders BENCHMARKS.md's results block
    (:func:`render_block`) and the charts (:mod:`bench.charts`) from it, and saves it as
    ``bench/results.json`` (:meth:`to_json`), from which ``--render`` renders both again.
    """

    tables: list[Table]
    measured: str  # "YYYY-MM-DD HH:MM UTC", when the run ended
    command: str
    mode: str
    commit: str
    machine: dict[str, str]  # :func:`machine` at the end of the run
    loadavg_at_start: str

    def table(self, title: str) -> Table | None:
        """The table of that title, None when the run did not produce it."""
        return next((t for t in self.tables if t.title == title), None)

    def to_json(self) -> str:
        """Indented JSON with one line per table row, so that a new run reads as a diff."""

        def dump(value: object) -> str:
            return json.dumps(value, ensure_ascii=False)

        head = {
            "measured": self.measured,
            "command": self.command,
            "mode": self.mode,
            "commit": self.commit,
            "machine": self.machine,
            "loadavg_at_start": self.loadavg_at_start,
        }
        out = ["{"] + [f" {dump(k)}: {dump(v)}," for k, v in head.items()] + [' "tables": [']
        for n, t in enumerate(self.tables):
            out += [
                f'  {{"title": {dump(t.title)},',
                f'   "headers": {dump(list(t.headers))},',
                f'   "status": {dump(t.status)}, "key_columns": {t.key_columns},',
                f'   "notes": {dump(t.notes)},',
                '   "rows": [',
                ",\n".join(f"    {dump(list(row))}" for row in t.rows),
                "   ]}" + ("," if n < len(self.tables) - 1 else ""),
            ]
        return "\n".join([*out, " ]", "}", ""])

    @classmethod
    def from_json(cls, text: str) -> Results:
        data = json.loads(text)
        tables = [
            Table(
                t["title"],
                tuple(t["headers"]),
                [tuple(row) for row in t["rows"]],
                status=t["status"],
                key_columns=t["key_columns"],
                notes=list(t["notes"]),
            )
            for t in data["tables"]
        ]
        return cls(
            tables=tables,
            measured=data["measured"],
            command=data["command"],
            mode=data["mode"],
            commit=data["commit"],
            machine=dict(data["machine"]),
            loadavg_at_start=data["loadavg_at_start"],
        )


def finish(
    tables: Sequence[Table], *, command: str, mode: str, at_start: dict[str, str]
) -> Results:
    """The run's results, stamped now. ``at_start`` is :func:`machine` as read before the
    run: the load average then and now tell how busy the machine was while it ran."""
    return Results(
        tables=list(tables),
        measured=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        command=command,
        mode=mode,
        commit=commit(),
        machine=machine(),
        loadavg_at_start=at_start["loadavg"],
    )


def render_block(results: Results) -> str:
    """BENCHMARKS.md's generated block, from the begin marker to the end marker."""
    info = results.machine
    body: list[str] = []
    for table in results.tables:
        body += [markdown_table(table), ""]
    return "\n".join(
        [
            BEGIN,
            "",
            f"Measured {results.measured} with `{results.command}` ({results.mode}).",
            "",
            f"- Commit: {results.commit}",
            f"- Machine: {info['cpu']}, {info['nproc']} CPUs, {info['os']}",
            f"- Python: {info['python']}",
            f"- Load average (1, 5, 15 min): {results.loadavg_at_start} at the start, "
            f"{info['loadavg']} at the end",
            "",
            *body,
            summary(results.tables),
            "",
            END,
        ]
    )


_BLOCK = re.compile(re.escape(BEGIN.split(" (")[0]) + r".*?" + re.escape(END), re.S)


def generated_block(text: str) -> str | None:
    """The generated block of a BENCHMARKS.md text, None when it has none."""
    found = _BLOCK.search(text)
    return found.group(0) if found else None


def write_benchmarks_md(results: Results, path: Path = BENCHMARKS_MD) -> Path:
    """Replace the generated block of BENCHMARKS.md (creating the file if needed)."""
    block = render_block(results)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if _BLOCK.search(text):
            text = _BLOCK.sub(lambda _: block, text, count=1)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
    else:
        text = "# Benchmarks\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def save_results(results: Results, path: Path = RESULTS_JSON) -> Path:
    path.write_text(results.to_json(), encoding="utf-8")
    return path


def load_results(path: Path = RESULTS_JSON) -> Results:
    return Results.from_json(path.read_text(encoding="utf-8"))
