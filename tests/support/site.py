"""The documentation site's pages and their code blocks, as a reader sees them.

The site is ``docs/`` (built by MkDocs, ``mkdocs.yml``) and the README is its front
door: both are read here, with the files a page includes (``--8<-- "FILE"``) put in
place, so a test of "every block" sees what the built site shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
INCLUDE = re.compile(r'^--8<-- "([^"]+)"$', re.M)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


def page_names() -> list[str]:
    """The README and every page of the site, as paths from the repository's root."""
    pages = sorted(path.relative_to(ROOT).as_posix() for path in DOCS.rglob("*.md"))
    return ["README.md", *pages]


def page(name: str) -> str:
    """A page's Markdown with its includes in place."""
    text = (ROOT / name).read_text(encoding="utf-8")
    return INCLUDE.sub(lambda found: included(found.group(1)), text)


def included(spec: str) -> str:
    """What ``--8<-- "FILE"`` puts in a page; ``FILE:START:END`` keeps lines START to END
    (1-based, either may be left out), as pymdownx.snippets does."""
    path, *lines = spec.split(":")
    text = (ROOT / path).read_text(encoding="utf-8").splitlines(keepends=True)
    start = int(lines[0]) if lines and lines[0] else 1
    end = int(lines[1]) if len(lines) > 1 and lines[1] else len(text)
    return "".join(text[start - 1 : end])


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language and its text."""

    page: str
    number: int  # 0, 1, ... within its page
    lang: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}#{self.number}-{self.lang or 'plain'}"


def blocks(lang: str | None = None, pages: list[str] | None = None) -> list[Block]:
    found = [
        Block(name, number, match.group(1), match.group(2))
        for name in pages or page_names()
        for number, match in enumerate(FENCE.finditer(page(name)))
    ]
    return [block for block in found if lang is None or block.lang == lang]


def block_with(marker: str, pages: list[str] | None = None, lang: str = "python") -> Block:
    """The one block of ``lang`` on ``pages`` (default: all) that contains ``marker``."""
    found = [block for block in blocks(lang, pages) if marker in block.code]
    assert len(found) == 1, f"{len(found)} {lang} blocks contain {marker!r}: {found}"
    return found[0]
