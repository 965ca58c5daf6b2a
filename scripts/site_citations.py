"""MkDocs hook: the protocol notes' source keys stay plain text on the site.

The notes cite their sources as bracketed keys, often side by side (``[WJ-DEMO][WP]``),
which Markdown would read as a reference link to ``WP``, and mkdocs-autorefs then
reports as a missing cross-reference. An escaped bracket between two keys keeps both as
the text the notes show on GitHub.
"""

from __future__ import annotations

import re
from typing import Any

ADJACENT_KEYS = re.compile(r"(\[[A-Z][A-Z0-9-]*\])(?=\[[A-Z][A-Z0-9-]*\])")


def on_page_markdown(markdown: str, **_: Any) -> str:
    return ADJACENT_KEYS.sub(r"\1\\", markdown)
