"""The benchmark results as SVG bar charts (standard library only).

``python -m bench --write`` (and ``--render``) writes them into
``docs/assets/benchmarks/<name>.svg`` from the same :class:`~bench.report.Results` that
BENCHMARKS.md's results block is rendered from. Every bar's length and its value label
are read from one cell of a result table, so a chart shows exactly the number the
table prints, rounding included. A chart whose table the run did not produce (``--only``,
a crashed section) says so instead of showing bars.

The charts: ``signature`` (µs per call, ours vs the peers), ``overhead`` (µs per request,
bare vs no-op middleware vs WeChatMiddleware), ``memory`` (RSS growth over the distinct
URLs), ``coldstart`` (token and ticket fetches when many workers start cold) and
``servers`` (requests/s of the examples vs their bare twins on real servers).

Each is a horizontal bar chart on a fixed ``viewBox`` (it scales to its container) with
a white background (readable on a light or dark page), a ``<title>`` and a ``<desc>``
that lists every value (``role="img"``), a value label on every bar, and a colour code
that is never the only cue: green is wechat_middleware, slate another implementation or
the bare app, light the no-op middleware; every bar is also named in text.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from . import coldstart, memory, overhead, signature
from .load import throughput
from .report import REPO_ROOT, Results, Table

CHARTS_DIR = REPO_ROOT / "docs" / "assets" / "benchmarks"

WIDTH = 800
PAD = 20
BAR = 16  # bar height
BAR_GAP = 4
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK, MUTED_INK, GRID = "#1f2328", "#57606a", "#d8dee4"
TARGET_INK = "#b3261e"
HALO = {"stroke": "#ffffff", "stroke_width": "3", "paint_order": "stroke"}  # over grid lines
STYLES = {  # fill, stroke: each fill has at least 3:1 contrast on white, or a stroke that has
    "ours": ("#2e7d32", "#1b5e20"),
    "other": ("#607d8b", "#455a64"),
    "muted": ("#cfd8dc", "#607d8b"),
}
_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class Bar:
    """One bar: ``value`` sets its length, ``text`` is its label as the table prints it.

    ``value`` None: not measured (unavailable, failed); no bar is drawn, ``text`` says so.
    ``label`` names the bar left of it when a group has several ("bare", "token").
    """

    value: float | None
    text: str
    label: str = ""
    style: str = "other"


@dataclass(frozen=True)
class Group:
    """One measured subject (a table row): its name, a line of detail, its bars."""

    label: str
    detail: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    subtitle: str
    axis: str
    groups: tuple[Group, ...]
    legend: tuple[tuple[str, str], ...] = ()  # (style, what it means)
    reference: tuple[float, str] | None = None  # a dashed line: (value, its label)
    footer: str = ""
    empty: str = ""  # shown instead of bars when there are none


# -- from the result tables ------------------------------------------------------------


def number(cell: str) -> float | None:
    """The first number of a table cell ("2.92 µs ±40%" -> 2.92, "+149,192" -> 149192)."""
    found = _NUMBER.search(cell)
    return float(found.group(0).replace(",", "")) if found else None


def _cell(table: Table, row: Sequence[str], header: str) -> str:
    return row[table.headers.index(header)]


def _verdict(table: Table, row: Sequence[str]) -> str:
    """'target <= 1.25x bare: FAIL', or '' when the row has no target."""
    target = _cell(table, row, "target") if "target" in table.headers else ""
    status = row[table.status] if table.status is not None else ""
    return f"target {target}: {status}" if target else ""


def _join(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


def _measured(result: str) -> bool:
    return not result.startswith(("unavailable", "failed")) and number(result) is not None


def _signature(table: Table) -> Chart:
    groups = []
    reference = None
    for row in table.rows:
        case, result = _cell(table, row, "case"), _cell(table, row, "result")
        target = _cell(table, row, "target")
        found = re.search(r"<= ([\d.]+) µs", target)
        if found and reference is None:
            reference = (float(found.group(1)), f"target {found.group(1)} µs")
        ok = _measured(result)
        bar = Bar(
            number(result) if ok else None,
            result if ok else result.split(" (")[0],
            style="ours" if case.startswith("ours") else "other",
        )
        detail = _join(_cell(table, row, "compared"), _verdict(table, row))
        groups.append(Group(case, detail if ok else _join(result, detail), (bar,)))
    return Chart(
        "signature",
        "JS-SDK signature: µs per call, ours vs wechatpy and wechat-jssdk",
        f"BENCHMARKS.md, table “{table.title}”: median of the rounds, ± their spread",
        "µs per call (lower is better)",
        tuple(groups),
        legend=(("ours", "wechat_middleware"), ("other", "another library")),
        reference=reference,
    )


def _overhead(table: Table) -> Chart:
    groups = []
    for row in table.rows:
        bars = tuple(
            Bar(number(cell), f"{cell} µs", label, style)
            for header, label, style in (
                ("bare µs", "bare app", "other"),
                ("no-op middleware µs", "no-op middleware", "muted"),
                ("WeChatMiddleware µs", "WeChatMiddleware", "ours"),
            )
            for cell in [_cell(table, row, header)]
        )
        delta = _cell(table, row, "Δ over no-op, µs")
        iqr = _cell(table, row, "Δ interquartile range, µs")
        detail = _join(
            f"{_cell(table, row, 'ratio to bare')} bare",
            f"Δ {delta} µs over the no-op" + (f" (IQR {iqr})" if iqr else ""),
            _verdict(table, row),
        )
        label = f"{_cell(table, row, 'app')} · {_cell(table, row, 'case')}"
        groups.append(Group(label, detail, bars))
    return Chart(
        "overhead",
        "Middleware overhead in-process: µs per request",
        f"BENCHMARKS.md, table “{table.title}”",
        "µs per request (lower is better)",
        tuple(groups),
        legend=(
            ("other", "bare app"),
            ("muted", "no-op middleware"),
            ("ours", "WeChatMiddleware"),
        ),
    )


def _memory(table: Table) -> Chart:
    groups = []
    for row in table.rows:
        case, result = _cell(table, row, "case"), _cell(table, row, "result")
        found = re.search(r"RSS ([-+]?[\d,]+) KiB", result)
        bar = (
            Bar(number(found.group(1)), f"{found.group(1)} KiB", style="ours")
            if found
            else Bar(None, result.split(":")[0])
        )
        detail = _join(_cell(table, row, "compared"), _verdict(table, row))
        groups.append(Group(case, detail if found else _join(result, detail), (bar,)))
    return Chart(
        "memory",
        "Memory: RSS growth while signing distinct URLs",
        f"BENCHMARKS.md, table “{table.title}”: the default bounded cache vs one as large "
        "as the URLs",
        "growth of the resident set over the URLs, KiB (lower is better)",
        tuple(groups),
    )


def _coldstart(table: Table) -> Chart:
    groups = []
    for row in table.rows:
        case, result = _cell(table, row, "case"), _cell(table, row, "result")
        found = re.search(r"(\d+) token \+ (\d+) ticket", result)
        style = "ours" if case.startswith("ours") else "other"
        bars = tuple(
            Bar(float(found.group(i)), found.group(i), label, style)
            if found
            else Bar(None, result.split(" (")[0], label, style)
            for i, label in ((1, "token"), (2, "ticket"))
        )
        detail = _join(_cell(table, row, "compared"), _verdict(table, row))
        groups.append(Group(case, detail if found else _join(result, detail), bars))
    return Chart(
        "coldstart",
        "Cold start: token and ticket fetches from WeChat",
        f"BENCHMARKS.md, table “{table.title}”, all released at once",
        "fetches that reached WeChat (fewer is better; 1 + 1 is the least possible)",
        tuple(groups),
        legend=(("ours", "wechat_middleware"), ("other", "wechatpy")),
    )


def _servers(table: Table) -> Chart:
    groups = []
    for row in table.rows:
        bars = tuple(
            Bar(number(cell), f"{cell} req/s", label, style)
            if cell
            else Bar(None, "no result", label, style)
            for header, label, style in (
                ("bare req/s", "bare twin", "other"),
                ("WeChatMiddleware req/s", "WeChatMiddleware", "ours"),
            )
            for cell in [_cell(table, row, header)]
        )
        ratio, iqr = (
            _cell(table, row, "ratio to bare"),
            _cell(table, row, "ratio interquartile range"),
        )
        cpu = _cell(table, row, "server CPU per request, wrapped / bare")
        detail = _join(
            f"{ratio} bare" + (f" (IQR {iqr})" if iqr else "") if ratio else "",
            f"server CPU per request {cpu}" if cpu else "",
            _verdict(table, row),
        )
        if not ratio:
            detail = _join(_cell(table, row, "errors"), detail)
        label = f"{_cell(table, row, 'server')} · {_cell(table, row, 'traffic')}"
        groups.append(Group(label, detail, bars))
    return Chart(
        "servers",
        "Real servers: requests/s of an example vs its bare twin",
        f"BENCHMARKS.md, table “{table.title}”",
        "requests per second, GET / on 127.0.0.1 (higher is better)",
        tuple(groups),
        legend=(("other", "bare twin"), ("ours", "example behind WeChatMiddleware")),
    )


# name, the table it is drawn from, its title when the run has no such table, the builder
CHARTS: tuple[tuple[str, str, str, Callable[[Table], Chart]], ...] = (
    ("signature", signature.SECTION, "JS-SDK signature: µs per call", _signature),
    ("overhead", overhead.TITLE, "Middleware overhead in-process", _overhead),
    ("memory", memory.SECTION, "Memory while signing distinct URLs", _memory),
    ("coldstart", coldstart.SECTION, "Cold start: token and ticket fetches", _coldstart),
    ("servers", throughput.TITLE, "Real servers: requests/s", _servers),
)
NAMES = tuple(name for name, *_ in CHARTS)


def charts(results: Results) -> list[Chart]:
    """Every chart of a run, in :data:`CHARTS` order."""
    footer = (
        f"python -m bench, {results.measured}, {results.machine['cpu']}, "
        f"{results.machine['nproc']} CPUs ({results.mode})"
    )
    out = []
    for name, title, fallback, build in CHARTS:
        table = results.table(title)
        if table is None:
            chart = Chart(
                name,
                fallback,
                f"BENCHMARKS.md has no table “{title}”",
                "",
                (),
                empty="Not measured in the last run of python -m bench --write.",
            )
        else:
            chart = build(table)
        out.append(dataclasses.replace(chart, footer=footer))
    return out


def render_all(results: Results) -> dict[str, str]:
    """``{name: SVG text}`` for every chart of a run."""
    return {chart.name: svg(chart) for chart in charts(results)}


def write_charts(results: Results, directory: Path = CHARTS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render_all(results).items():
        path = directory / f"{name}.svg"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


# -- drawing ---------------------------------------------------------------------------


def _text_width(text: str, size: float) -> float:
    """A generous estimate of a sans-serif text's width: SVG has no text metrics."""
    return len(text) * size * 0.6


def _fit(text: str, width: float, size: float) -> str:
    """The text, cut with an ellipsis if it would not fit in ``width`` (the full text is
    in the chart's <desc>)."""
    most = int(width / (size * 0.6))
    return text if len(text) <= most else text[: max(most - 1, 1)].rstrip() + "…"


def _ticks(low: float, high: float) -> list[float]:
    """About five round tick values covering [low, high]."""
    span = (high - low) or 1.0
    raw = span / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _tick_label(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,g}"


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, text: str, size: float, **attrs: str) -> str:
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in attrs.items())
    return f'<text x="{_f(x)}" y="{_f(y)}" font-size="{_f(size)}"{extra}>{escape(text)}</text>'


def describe(chart: Chart) -> str:
    """The chart in words, for its <desc>: every subject and every value."""
    if not chart.groups:
        return f"{chart.subtitle}. {chart.empty}"
    parts = [f"{chart.subtitle}. {chart.axis}."]
    for group in chart.groups:
        values = ", ".join(f"{b.label}: {b.text}" if b.label else b.text for b in group.bars)
        parts.append(f"{group.label}: {values}" + (f" ({group.detail})" if group.detail else ""))
    if chart.reference:
        parts.append(f"Dashed line: {chart.reference[1]}.")
    return " ".join(p if p.endswith(".") else p + "." for p in parts)


def svg(chart: Chart) -> str:
    """One chart as a standalone SVG document."""
    out: list[str] = []
    y = 34.0
    out.append(_text(PAD, y, chart.title, 17, font_weight="600", fill=INK))
    y += 20
    out.append(_text(PAD, y, _fit(chart.subtitle, WIDTH - 2 * PAD, 12), 12, fill=MUTED_INK))
    if chart.legend or chart.reference:
        y += 22
        x = float(PAD)
        for style, meaning in chart.legend:
            fill, stroke = STYLES[style]
            out.append(
                f'<rect x="{_f(x)}" y="{_f(y - 10)}" width="12" height="12" rx="2" '
                f'fill="{fill}" stroke="{stroke}"/>'
            )
            out.append(_text(x + 17, y, meaning, 12, fill=INK))
            x += 17 + _text_width(meaning, 12) + 18
        if chart.reference:
            out.append(
                f'<line x1="{_f(x)}" y1="{_f(y - 4)}" x2="{_f(x + 16)}" y2="{_f(y - 4)}" '
                f'stroke="{TARGET_INK}" stroke-width="1.5" stroke-dasharray="4 3"/>'
            )
            out.append(_text(x + 21, y, chart.reference[1], 12, fill=TARGET_INK))
    y += 16

    bars = [b for g in chart.groups for b in g.bars]
    if not bars:
        y += 22
        out.append(_text(PAD, y, chart.empty, 13, fill=MUTED_INK))
        y += 18
    else:
        y = _plot(chart, bars, y, out)
    if chart.footer:
        y += 22
        out.append(_text(PAD, y, _fit(chart.footer, WIDTH - 2 * PAD, 11), 11, fill=MUTED_INK))
    height = math.ceil(y + 14)

    title_id, desc_id = f"{chart.name}-title", f"{chart.name}-desc"
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
        f'<desc id="{desc_id}">{escape(describe(chart))}</desc>',
        f'<rect x="0.5" y="0.5" width="{WIDTH - 1}" height="{height - 1}" rx="6" '
        f'fill="#ffffff" stroke="{GRID}"/>',
        f"<g font-family={quoteattr(FONT)}>",
    ]
    return "\n".join([*head, *out, "</g>", "</svg>", ""])


def _plot(chart: Chart, bars: list[Bar], top: float, out: list[str]) -> float:
    """The bars, grid, axis and reference line from ``top``; returns the y below them."""
    values = [b.value for b in bars if b.value is not None]
    low = min([0.0, *values])
    high = max([0.0, *values, *([chart.reference[0]] if chart.reference else [])])
    ticks = _ticks(low, high) if high > low else [0.0, 1.0]
    low, high = ticks[0], ticks[-1]
    label_column = max((_text_width(b.label, 12) for b in bars if b.label), default=0.0)
    x0 = PAD + (label_column + 10 if label_column else 0)
    value_room = max((_text_width(b.text, 12) for b in bars if b.value is not None), default=0)
    value_room += 10
    x1 = WIDTH - PAD - value_room

    def x(value: float) -> float:
        return x0 + (value - low) / (high - low) * (x1 - x0)

    rows: list[str] = []
    bands: list[tuple[float, float]] = []  # where each group's bars are: grid lines only there
    y = top
    for group in chart.groups:
        y += 15
        rows.append(
            _text(PAD, y, _fit(group.label, WIDTH - 2 * PAD, 13), 13, font_weight="600", fill=INK)
        )
        if group.detail:
            y += 15
            rows.append(_text(PAD, y, _fit(group.detail, WIDTH - 2 * PAD, 11), 11, fill=MUTED_INK))
        y += 7
        bands.append((y - 3, y + len(group.bars) * (BAR + BAR_GAP) - BAR_GAP + 3))
        for bar in group.bars:
            fill, stroke = STYLES[bar.style]
            if bar.label:
                rows.append(_text(x0 - 10, y + 12, bar.label, 12, text_anchor="end", fill=INK))
            if bar.value is None:
                rows.append(_text(x0 + 4, y + 12, bar.text, 12, font_style="italic", fill=INK))
            else:
                start, end = sorted((x(0.0), x(bar.value)))
                width = max(end - start, 1.0) if bar.value else 0.0
                name = f"{group.label}, {bar.label}" if bar.label else group.label
                rows.append(
                    f'<rect x="{_f(start)}" y="{_f(y)}" width="{_f(width)}" height="{BAR}" '
                    f'fill="{fill}" stroke="{stroke}" stroke-width="0.5">'
                    f"<title>{escape(name)}: {escape(bar.text)}</title></rect>"
                )
                rows.append(_text(max(end, x(0.0)) + 6, y + 12, bar.text, 12, fill=INK, **HALO))
            y += BAR + BAR_GAP
        y += 6
    bottom = y - 2

    grid = [
        f'<line x1="{_f(x(t))}" y1="{_f(y0)}" x2="{_f(x(t))}" y2="{_f(y1)}" '
        f'stroke="{INK if t == 0 else GRID}" stroke-width="1"/>'
        for y0, y1 in bands
        for t in ticks
    ]
    grid.append(
        f'<line x1="{_f(x0)}" y1="{_f(bottom)}" x2="{_f(x1)}" y2="{_f(bottom)}" '
        f'stroke="{GRID}" stroke-width="1"/>'
    )
    grid += [
        f'<line x1="{_f(x(t))}" y1="{_f(bottom)}" x2="{_f(x(t))}" y2="{_f(bottom + 4)}" '
        f'stroke="{MUTED_INK}" stroke-width="1"/>'
        for t in ticks
    ]
    labels = [
        _text(x(t), bottom + 17, _tick_label(t), 11, text_anchor="middle", fill=MUTED_INK)
        for t in ticks
    ]
    axis = _text((x0 + x1) / 2, bottom + 37, chart.axis, 12, text_anchor="middle", fill=INK)
    reference: list[str] = []
    if chart.reference:
        at = _f(x(chart.reference[0]))
        reference = [
            f'<line x1="{at}" y1="{_f(y0)}" x2="{at}" y2="{_f(y1)}" '
            f'stroke="{TARGET_INK}" stroke-width="1.5" stroke-dasharray="4 3"/>'
            for y0, y1 in bands
        ]
    out += grid + rows + reference + labels + [axis]
    return bottom + 37
