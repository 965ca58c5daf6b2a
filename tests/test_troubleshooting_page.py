"""docs/troubleshooting.md says what ``errors.py`` says.

The errcode tables of the page are written from ``errors.MEANINGS``,
``errors.WECOM_MEANINGS`` and WeChat's words (``WECHAT_SAYS``, ``WECOM_SAYS``) by
``scripts/errcode-table``: the page fails here while it differs from what the script
writes, so an errcode added, or advice changed, in ``errors.py`` reaches the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wechat_middleware import errcode_table
from wechat_middleware.errcode_table import BEGIN, END, markdown_table, write_table
from wechat_middleware.errors import (
    MEANINGS,
    WECHAT_SAYS,
    WECOM_MEANINGS,
    WECOM_SAYS,
    AppConfigError,
    _Meaning,
)
from wechat_middleware.testing.fake_records import ERRMSG, WECOM_ERRMSG

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "troubleshooting.md"


def _between_the_markers(text: str) -> str:
    return text.partition(BEGIN + "\n")[2].partition(END)[0]


def test_the_page_holds_the_tables_the_script_writes() -> None:
    written = _between_the_markers(PAGE.read_text(encoding="utf-8"))
    assert written == markdown_table(), (
        "docs/troubleshooting.md's errcode tables differ from wechat_middleware/errors.py: "
        "run scripts/errcode-table"
    )


def test_the_tables_are_written_between_the_markers_and_nothing_else(tmp_path: Path) -> None:
    page = tmp_path / "troubleshooting.md"
    page.write_text(f"# before\n\n{BEGIN}\nstale\n{END}\n\nafter\n", encoding="utf-8")
    write_table(page)
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# before\n\n{BEGIN}\n") and text.endswith(f"{END}\n\nafter\n")
    assert _between_the_markers(text) == markdown_table()


def test_the_script_writes_this_page() -> None:
    script = (ROOT / "scripts" / "errcode-table").read_text(encoding="utf-8")
    assert 'write_table(Path("docs/troubleshooting.md"))' in script


def test_a_page_without_the_markers_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# no table here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no errcode table markers"):
        write_table(page)


def test_every_errcode_the_library_acts_on_has_a_row_naming_its_class() -> None:
    official, _, wecom = markdown_table().partition("**WeCom**")
    for table, meanings in ((official, MEANINGS), (wecom, WECOM_MEANINGS)):
        rows = {line.split(" | ")[0].removeprefix("| "): line for line in table.splitlines()}
        for errcode, meaning in meanings.items():
            assert f"`{meaning.error.__name__}`" in rows[str(errcode)]


def test_an_errcode_added_to_errors_py_reaches_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    added = _Meaning(AppConfigError, "the IP was rejected", "{ip} was rejected: wait 24 hours")
    monkeypatch.setitem(errcode_table.MEANINGS, 89506, added)
    monkeypatch.setitem(errcode_table.WECHAT_SAYS, 89506, "ip rejected")
    row = (
        "| 89506 | `ip rejected` | the IP was rejected | this server's IP was rejected: "
        "wait 24 hours | `AppConfigError` |"
    )
    assert row in markdown_table()


def test_wechats_words_are_for_errcodes_the_library_knows() -> None:
    assert set(WECHAT_SAYS) <= set(MEANINGS)
    assert set(WECOM_SAYS) <= set(WECOM_MEANINGS)


def test_wechats_words_agree_with_the_fake_wechat_servers() -> None:
    """Both are meant to be WeChat's own wording; where both know a code they agree
    (40164's names an IP, which the fake fills in)."""
    for errcode, words in WECHAT_SAYS.items():
        if errcode in ERRMSG and errcode != 40164:
            assert words == ERRMSG[errcode], errcode
    for errcode, words in WECOM_SAYS.items():
        if errcode in WECOM_ERRMSG:
            assert words == WECOM_ERRMSG[errcode], errcode
