"""The benchmark charts (bench/charts.py): SVG bar charts drawn from the same results as
BENCHMARKS.md's tables, written by ``python -m bench --write`` next to it.

The charts are drawn from small made-up result sets here; nothing is measured. The last
tests check that the committed charts, bench/results.json and BENCHMARKS.md agree.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import bench.memory
from bench import charts, cli, coldstart, memory, overhead, signature
from bench.load import throughput
from bench.report import (
    BENCHMARKS_MD,
    INFO,
    PASS,
    RESULTS_JSON,
    UNAVAILABLE,
    Results,
    Row,
    Table,
    generated_block,
    load_results,
    render_block,
    tables_from_rows,
)

SVG = "{http://www.w3.org/2000/svg}"
REPO = Path(__file__).resolve().parent.parent


def results(*tables: Table) -> Results:
    return Results(
        tables=list(tables),
        measured="2030-01-02 03:04 UTC",
        command="python -m bench --write",
        mode="quick run, clock=cpu, rounds=5",
        commit="0123456789ab",
        machine={"nproc": "2", "cpu": "Test CPU", "python": "CPython 3.11", "os": "Linux"}
        | {"loadavg": "0.10 0.20 0.30"},
        loadavg_at_start="0.01 0.02 0.03",
    )


def signature_table(*extra: Row) -> Table:
    rows = [
        Row(signature.SECTION, "ours: jsapi_signature", "2.00 µs ±5%", "", "<= 2.5 µs", PASS),
        Row(signature.SECTION, "wechatpy: get_jsapi_signature", "8.00 µs ±3%", "0.25x", "", PASS),
        Row(signature.SECTION, "wechat-jssdk (node)", "4.00 µs ±2%", "ours/theirs = 0.50x"),
        *extra,
    ]
    return tables_from_rows(rows)[0]


def overhead_table() -> Table:
    table = Table(overhead.TITLE, overhead.HEADERS, status=overhead.HEADERS.index("status"))
    for app, bare, noop, ours in (
        ("Flask", "80.00", "81.00", "90.00"),
        ("Starlette", "10.00", "10.50", "15.00"),
    ):
        table.add(app, "pass-through", bare, noop, ours, "+1.00", "1.100x", "", "", INFO)
    return table


def memory_table() -> Table:
    return tables_from_rows(
        [
            Row(
                memory.SECTION,
                "10 URLs, default",
                "RSS +4 KiB (peak +0), traced +1 KiB",
                "",
                "flat",
                PASS,
            ),
            Row(memory.SECTION, "10 URLs, unbounded", "RSS +1,000 KiB (peak +9), traced +8 KiB"),
        ]
    )[0]


def svg_of(chart_name: str, data: Results) -> ET.Element:
    return ET.fromstring(charts.render_all(data)[chart_name])


def bars(root: ET.Element) -> list[ET.Element]:
    """The drawn bars: every bar is a rect named by its own <title>."""
    return [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_every_chart_is_a_well_formed_svg_image_named_by_its_title_and_description() -> None:
    data = results(signature_table(), overhead_table(), memory_table())
    for name, text in charts.render_all(data).items():
        root = ET.fromstring(text)
        assert root.tag == f"{SVG}svg" and root.get("role") == "img", name
        assert re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox", "")), name
        labelled_by = root.get("aria-labelledby", "").split()
        ids = {el.get("id", ""): el for el in root if el.tag in (f"{SVG}title", f"{SVG}desc")}
        assert sorted(labelled_by) == sorted(ids) and all(el.text for el in ids.values()), name


def test_there_is_one_chart_per_section_worth_a_chart() -> None:
    assert charts.NAMES == ("signature", "overhead", "memory", "coldstart", "servers")
    assert set(charts.render_all(results())) == set(charts.NAMES)


def test_a_chart_draws_one_bar_per_measured_subject() -> None:
    assert len(bars(svg_of("signature", results(signature_table())))) == 3
    assert len(bars(svg_of("memory", results(memory_table())))) == 2


def test_a_subject_measured_several_ways_gets_one_bar_per_way() -> None:
    root = svg_of("overhead", results(overhead_table()))
    names = [bar.findtext(f"{SVG}title") for bar in bars(root)]
    assert len(names) == 2 * 3
    assert "Flask · pass-through, WeChatMiddleware: 90.00 µs" in names
    assert "Starlette · pass-through, bare app: 10.00 µs" in names


def test_subjects_and_value_labels_are_the_table_cells_as_printed() -> None:
    shown = texts(svg_of("signature", results(signature_table())))
    assert {"ours: jsapi_signature", "wechatpy: get_jsapi_signature"} <= set(shown)
    assert {"2.00 µs ±5%", "8.00 µs ±3%", "4.00 µs ±2%"} <= set(shown)
    assert "ours/theirs = 0.50x" in shown  # the row's comparison, as its detail line
    assert "+1,000 KiB" in texts(svg_of("memory", results(memory_table())))


def test_bars_are_drawn_to_scale_from_zero() -> None:
    widths = [
        float(bar.get("width", "")) for bar in bars(svg_of("signature", results(signature_table())))
    ]
    ours, wechatpy, node = widths
    assert wechatpy / ours == pytest.approx(4.0, rel=0.01)
    assert node / ours == pytest.approx(2.0, rel=0.01)


def test_the_description_lists_every_subject_and_value_for_screen_readers() -> None:
    desc = svg_of("signature", results(signature_table())).findtext(f"{SVG}desc") or ""
    for piece in (
        "ours: jsapi_signature: 2.00 µs ±5%",
        "wechatpy: get_jsapi_signature: 8.00 µs ±3%",
    ):
        assert piece in desc


def test_a_target_in_the_table_is_drawn_as_a_labelled_reference_line() -> None:
    root = svg_of("signature", results(signature_table()))
    assert "target 2.5 µs" in texts(root)
    assert any(line.get("stroke-dasharray") for line in root.iter(f"{SVG}line"))


def test_a_subject_that_could_not_be_measured_gets_no_bar_but_says_why() -> None:
    missing = Row(
        signature.SECTION, "other-peer: sign", "unavailable (no node)", status=UNAVAILABLE
    )
    root = svg_of("signature", results(signature_table(missing)))
    assert len(bars(root)) == 3
    assert "unavailable" in texts(root)
    assert "unavailable (no node)" in (root.findtext(f"{SVG}desc") or "")


def test_text_from_the_results_is_escaped() -> None:
    hostile = '<script>alert("x")</script> & co'
    table = signature_table(Row(signature.SECTION, hostile, "1.00 µs", "a < b & c"))
    text = charts.render_all(results(table))["signature"]
    assert "<script>" not in text
    root = ET.fromstring(text)
    assert hostile in texts(root)
    assert "a < b & c" in texts(root)


def test_a_chart_whose_table_the_run_did_not_produce_says_it_was_not_measured() -> None:
    root = svg_of("signature", results(memory_table()))
    assert bars(root) == []
    assert any("Not measured" in t for t in texts(root))


def test_the_other_sections_are_read_from_their_own_tables() -> None:
    cold = tables_from_rows(
        [
            Row(
                coldstart.SECTION, "ours, SQLite store", "1 token + 1 ticket fetches", "4/4 signed"
            ),
            Row(coldstart.SECTION, "wechatpy, MemoryStorage", "3 token + 4 ticket fetches"),
        ]
    )[0]
    servers = Table(throughput.TITLE, throughput.HEADERS, status=9, key_columns=2)
    servers.add(
        "uvicorn, 1 worker", "plain: desktop", "2000", "1800", "0.900x", "", "", "0", "", PASS
    )
    data = results(cold, servers)
    cold_names = [bar.findtext(f"{SVG}title") for bar in bars(svg_of("coldstart", data))]
    assert cold_names[-2:] == [
        "wechatpy, MemoryStorage, token: 3",
        "wechatpy, MemoryStorage, ticket: 4",
    ]
    assert {"2000 req/s", "1800 req/s"} <= set(texts(svg_of("servers", data)))


def test_write_puts_the_charts_next_to_benchmarks_md_and_saves_the_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = list(
        Row(memory.SECTION, case, result, compare, target, status)
        for case, result, compare, target, status in (
            ("7 URLs, default", "RSS +12 KiB (peak +0), traced +1 KiB", "", "flat", PASS),
            ("7 URLs, unbounded", "RSS +345 KiB (peak +9), traced +8 KiB", "", "", INFO),
        )
    )
    monkeypatch.setattr(bench.memory, "run", lambda *, urls: rows)
    monkeypatch.setattr(cli, "OUTPUT_ROOT", tmp_path)
    (tmp_path / "bench").mkdir()

    assert cli.main(["--only", "memory", "--write"]) == 0

    saved = load_results(tmp_path / "bench" / "results.json")
    assert [t.title for t in saved.tables] == [memory.SECTION]
    assert generated_block(
        (tmp_path / "BENCHMARKS.md").read_text(encoding="utf-8")
    ) == render_block(saved)
    drawn = tmp_path / "docs" / "assets" / "benchmarks"
    assert sorted(p.name for p in drawn.iterdir()) == sorted(f"{n}.svg" for n in charts.NAMES)
    assert {"+12 KiB", "+345 KiB"} <= set(texts(ET.parse(drawn / "memory.svg").getroot()))


def test_render_redraws_benchmarks_md_and_the_charts_from_the_saved_results_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_benchmark(**_: object) -> list[Row]:
        raise AssertionError("--render ran a benchmark")

    monkeypatch.setattr(bench.memory, "run", no_benchmark)
    monkeypatch.setattr(cli, "OUTPUT_ROOT", tmp_path)
    (tmp_path / "bench").mkdir()
    data = results(memory_table())
    (tmp_path / "bench" / "results.json").write_text(data.to_json(), encoding="utf-8")

    assert cli.main(["--render"]) == 0

    assert render_block(data) in (tmp_path / "BENCHMARKS.md").read_text(encoding="utf-8")
    drawn = tmp_path / "docs" / "assets" / "benchmarks" / "memory.svg"
    assert drawn.read_text(encoding="utf-8") == charts.render_all(data)["memory"]


def test_results_read_back_from_json_are_the_results_written() -> None:
    data = results(signature_table(), overhead_table(), memory_table())
    assert Results.from_json(data.to_json()) == data


# -- the committed files agree -----------------------------------------------------------


def test_the_committed_results_json_renders_exactly_the_results_block_of_benchmarks_md() -> None:
    committed = generated_block(BENCHMARKS_MD.read_text(encoding="utf-8"))
    assert committed is not None
    assert render_block(load_results(RESULTS_JSON)) == committed, (
        "BENCHMARKS.md and bench/results.json differ: run python -m bench --write "
        "(or --render after editing bench/charts.py or bench/report.py)"
    )


@pytest.mark.parametrize("name", charts.NAMES)
def test_the_committed_chart_is_drawn_from_the_committed_results(name: str) -> None:
    committed = charts.CHARTS_DIR / f"{name}.svg"
    assert committed.read_text(encoding="utf-8") == charts.render_all(load_results())[name], (
        f"{committed} is out of date: run python -m bench --render"
    )


def test_the_benchmarks_page_shows_every_chart_and_includes_benchmarks_md() -> None:
    page = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    for name in charts.NAMES:
        assert f"](assets/benchmarks/{name}.svg)" in page
    assert re.search(r'^--8<-- "BENCHMARKS\.md(:\d+:)?"$', page, re.M)
