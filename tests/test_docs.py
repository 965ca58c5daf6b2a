"""Every citation of the protocol reference resolves to a file and a section in docs/.

Tests cite the WeChat facts they rely on as ``docs/<file>.md section N`` (or
``sections N and M``); the reference is committed so a reader can check each one.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITATION = re.compile(
    r"docs/([\w-]+\.md)(?:[:,]? sections? ((?:[\d.]+(?:-[\d.]+)?(?:, | and )?)+))?"
)
CITING = [
    *sorted((ROOT / "tests").rglob("*.py")),
    *sorted((ROOT / "wechat_middleware").rglob("*.py")),
]


def sections_of(doc: Path) -> set[str]:
    headings = re.findall(r"^#{2,3} ([\d.]+)[ .]", doc.read_text(encoding="utf-8"), re.M)
    return {number.rstrip(".") for number in headings}


def citations() -> list[tuple[Path, str, list[str]]]:
    found = []
    for source in CITING:
        for match in CITATION.finditer(source.read_text(encoding="utf-8")):
            numbers = re.findall(r"[\d.]+", match.group(2) or "")
            found.append((source, match.group(1), [n.rstrip(".") for n in numbers]))
    return found


def test_the_tests_cite_the_reference() -> None:
    assert len(citations()) >= 30


def test_every_cited_file_and_section_exists() -> None:
    broken = []
    for source, name, numbers in citations():
        doc = ROOT / "docs" / name
        if not doc.is_file():
            broken.append(f"{source.name}: docs/{name} does not exist")
            continue
        known = sections_of(doc)
        broken += [f"{source.name}: docs/{name} section {n}" for n in numbers if n not in known]
    assert not broken, "\n".join(broken)
