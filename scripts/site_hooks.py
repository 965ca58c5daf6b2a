"""MkDocs hooks of the documentation site (mkdocs.yml ``hooks:``).

Mermaid offline. Material renders the ```` ```mermaid ```` fences (docs/flows.md) with
the global ``mermaid`` when a page has one, and otherwise loads it from unpkg.com, which
a reader behind a firewall (and CI) cannot reach. So the site carries its own copy:
``mermaid@11`` from npm, pinned by version and by the SHA-256 of ``dist/mermaid.min.js``,
fetched once with ``npm pack`` into ``.cache/mermaid/`` (scripts/npm_pinned.py), written into
the site as ``javascripts/mermaid.min.js`` and listed in ``extra_javascript``. Without
npm (or its registry) the build still passes, and one INFO line says the diagrams load
from unpkg.com; a file whose hash differs fails the build.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from npm_pinned import NotPinned, Pinned, Unavailable, fetch  # beside this file

log = logging.getLogger("mkdocs.hooks.site_hooks")

MERMAID = Pinned(
    "mermaid@11.17.2",
    "dist/mermaid.min.js",
    "581ed7d74bd9048d0e3a91363927d72ef22942d7722546b27f7cc29e35390eb8",
    Path(__file__).resolve().parent.parent / ".cache" / "mermaid" / "mermaid.min.js",
)
SITE_PATH = "javascripts/mermaid.min.js"

_script: bytes | None = None  # what on_post_build writes, once on_config found it


def mermaid_script() -> bytes | str:
    """The pinned mermaid.min.js (from the cache, else from npm), or why there is none."""
    try:
        return fetch(MERMAID)
    except Unavailable as exc:
        return str(exc)
    except NotPinned as exc:
        raise PluginError(f"{exc} (MERMAID in scripts/site_hooks.py)") from exc


def on_config(config: Any) -> Any:
    """List the site's own mermaid in ``extra_javascript`` when it can be had."""
    global _script
    found = mermaid_script()
    if isinstance(found, str):
        _script = None
        log.info("diagrams load mermaid from unpkg.com: %s", found)
        return config
    _script = found
    if SITE_PATH not in [str(script) for script in config.extra_javascript]:
        config.extra_javascript.append(SITE_PATH)
    return config


def on_post_build(config: Any) -> None:
    """Write the script listed by ``on_config`` into the built site."""
    if _script is None:
        return
    target = Path(config.site_dir) / SITE_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_script)
