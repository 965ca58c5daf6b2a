"""One file of an npm package, pinned by version and by its SHA-256, fetched once.

The documentation site's Mermaid (scripts/site_hooks.py) and the official JS-SDKs the
browser tests load (tests/support/official_sdks.py) come from npm this way: ``npm pack``
downloads the package's tarball (no install, no scripts run), the one file is taken out
of it, checked against its pin and kept in ``.cache/`` (ignored by git), so later runs
need no network.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

NPM_TIMEOUT = 120.0  # seconds for one `npm pack`


class Unavailable(Exception):
    """npm is missing or cannot reach its registry: why the file cannot be had."""


class NotPinned(Exception):
    """npm gave another file than the pinned one (or none under that name)."""


@dataclass(frozen=True)
class Pinned:
    spec: str  # what `npm pack` is given: name@version
    member: str  # the file, as the package lays it out (under ``package/`` in the tarball)
    sha256: str
    cached: Path  # where the checked file is kept


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(pinned: Pinned) -> bytes:
    """The pinned file: from the cache, else from npm (then cached)."""
    if pinned.cached.is_file():
        data = pinned.cached.read_bytes()
        if digest(data) == pinned.sha256:
            return data
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable(f"npm is not installed (apt-get install npm): no {pinned.spec}")
    with tempfile.TemporaryDirectory() as folder:
        try:
            done = subprocess.run(  # noqa: S603 (npm from PATH, fixed arguments)
                [npm, "pack", pinned.spec, "--pack-destination", folder, "--silent"],
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"npm pack {pinned.spec} took over {NPM_TIMEOUT:.0f} s") from exc
        tarballs = sorted(Path(folder).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise Unavailable(f"npm pack {pinned.spec} failed: {done.stderr.strip()[-500:]}")
        with tarfile.open(tarballs[0]) as tar:
            member = tar.extractfile(f"package/{pinned.member}")
            if member is None:
                raise NotPinned(f"{pinned.spec} has no {pinned.member}")
            data = member.read()
    if digest(data) != pinned.sha256:
        raise NotPinned(
            f"{pinned.spec} {pinned.member} is not the pinned file (sha256 {digest(data)}): "
            "update the pin only after reading what changed"
        )
    pinned.cached.parent.mkdir(parents=True, exist_ok=True)
    pinned.cached.write_bytes(data)
    return data
