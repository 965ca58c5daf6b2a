"""MkDocs hooks of the documentation site (mkdocs.yml ``hooks:``).

Mermaid offline. Material renders the ```` ```mermaid ```` fences (docs/flows.md) with
the global ``mermaid`` when a page has one, and otherwise loads it from unpkg.com, which
a reader behind a firewall (and CI) cannot reach. So the site carries its own copy:
``mermaid@11`` from npm, pinned by version and by the SHA-256 of ``dist/mermaid.min.js``,
fetched once with ``npm pack`` into ``.cache/mermaid/`` (ignored by git), written into
the site as ``javascripts/mermaid.min.js`` and listed in ``extra_javascript``. Without
npm (or its registry) the build still passes, and one INFO line says the diagrams load
from unpkg.com; a file whose hash differs fails the build.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

log = logging.getLogger("mkdocs.hooks.site_hooks")

MERMAID_SPEC = "mermaid@11.17.2"
MERMAID_MEMBER = "package/dist/mermaid.min.js"
MERMAID_SHA256 = "581ed7d74bd9048d0e3a91363927d72ef22942d7722546b27f7cc29e35390eb8"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "mermaid" / "mermaid.min.js"
SITE_PATH = "javascripts/mermaid.min.js"
NPM_TIMEOUT = 120.0  # seconds for one `npm pack`

_script: bytes | None = None  # what on_post_build writes, once on_config found it


def _pinned(data: bytes) -> bool:
    return hashlib.sha256(data).hexdigest() == MERMAID_SHA256


def _npm_pack() -> bytes | str:
    """The pinned file from npm, or why it cannot be had."""
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    with tempfile.TemporaryDirectory() as folder:
        try:
            done = subprocess.run(  # noqa: S603 (npm from PATH, fixed arguments)
                [npm, "pack", MERMAID_SPEC, "--pack-destination", folder, "--silent"],
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"npm pack {MERMAID_SPEC} took over {NPM_TIMEOUT:.0f} s"
        tarballs = sorted(Path(folder).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            return f"npm pack {MERMAID_SPEC} failed: {done.stderr.strip()[-300:]}"
        with tarfile.open(tarballs[0]) as tar:
            member = tar.extractfile(MERMAID_MEMBER)
            if member is None:
                raise PluginError(f"{MERMAID_SPEC} has no {MERMAID_MEMBER}")
            data = member.read()
    if not _pinned(data):
        digest = hashlib.sha256(data).hexdigest()
        raise PluginError(
            f"{MERMAID_SPEC} {MERMAID_MEMBER} is not the pinned file (sha256 {digest}): "
            "update MERMAID_SHA256 in scripts/site_hooks.py only after reading what changed"
        )
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_bytes(data)
    return data


def mermaid_script() -> bytes | str:
    """The pinned mermaid.min.js (from the cache, else from npm), or why there is none."""
    if CACHE.is_file():
        data = CACHE.read_bytes()
        if _pinned(data):
            return data
    return _npm_pack()


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
