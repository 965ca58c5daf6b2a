"""``bash scripts/release-check``: nothing is released unless the tests AND the load check
pass (docs/architecture.md, "Development").

The load check, ``python -m bench.load``, runs the examples on real servers; it is the one
place where a bound that only shows under load (the site-wide login bound refusing a
campaign's visitors, issue #20) fails before users see it. Here the script runs with
stand-ins for the virtualenv's tools, which record what they were asked to run, so what
is checked is the script's order and its exit status.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Records its arguments; `python -m bench.load` exits with $LOAD_STATUS.
STAND_IN = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$RECORD"
case "$*" in *bench.load*) exit "${LOAD_STATUS:-0}" ;; esac
exit 0
"""


def release_check(tmp_path: Path, load_status: int) -> tuple[int, list[str]]:
    venv, tools = tmp_path / "venv", tmp_path / "tools"
    (venv / "bin").mkdir(parents=True)
    tools.mkdir()
    # What scripts/_env.sh looks for before installing: the virtualenv is up to date.
    digest = hashlib.sha1((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    (venv / f".installed-dev-{digest}").touch()
    stand_ins = [venv / "bin" / name for name in ("python", "ruff", "mypy", "mkdocs")]
    # What scripts/test would apt-get install when missing.
    stand_ins += [tools / name for name in ("redis-server", "chromium", "npm")]
    for path in stand_ins:
        path.write_text(STAND_IN)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "record"
    env = {k: v for k, v in os.environ.items() if k not in ("EXTRAS", "WECHAT_VENV")}
    env.update(
        WECHAT_VENV=str(venv),
        RECORD=str(record),
        LOAD_STATUS=str(load_status),
        PATH=f"{tools}{os.pathsep}{env.get('PATH', '')}",
    )
    done = subprocess.run(
        ["bash", "scripts/release-check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, record.read_text().splitlines()


@pytest.mark.parametrize("load_status", [0, 1])
def test_the_release_check_runs_the_tests_then_the_load_check_and_fails_with_it(
    tmp_path: Path, load_status: int
) -> None:
    code, ran = release_check(tmp_path, load_status)
    assert ran == [
        "ruff check .",
        "ruff format --check .",
        "mypy --strict wechat_middleware",
        "mkdocs build --strict --quiet --site-dir site",
        "python -m pytest",
        "python -m bench.load",
    ]
    assert code == load_status


def test_the_docs_name_the_release_check() -> None:
    development = (ROOT / "docs" / "architecture.md").read_text().split("## Development", 1)[1]
    assert "bash scripts/release-check" in development
    assert "python -m bench.load" in development
