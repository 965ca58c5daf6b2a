"""README command one: the demo serves the Flask example against FakeWeChat.

``--check`` walks the login once as WeChat's browser and exits, so the command a
newcomer types first is tested exactly as they run it (minus the waiting).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_demo_check(cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env["WECHAT_STORE"] = f"sqlite:///{tmp_path}/demo.sqlite3"
    return subprocess.run(
        [sys.executable, "-m", "wechat_middleware", "demo", "--port", "0", "--check"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_demo_logs_in_through_the_fake_and_signs_the_page(tmp_path: Path) -> None:
    done = run_demo_check(ROOT, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FakeWeChat at http://127.0.0.1:" in done.stdout
    assert "logged in as 'o" in done.stdout
    assert "/?a=1&b=2" in done.stdout


def test_demo_outside_a_checkout_says_how_to_run_it(tmp_path: Path) -> None:
    done = run_demo_check(tmp_path, tmp_path)
    assert done.returncode != 0
    assert "scripts/demo" in done.stderr
