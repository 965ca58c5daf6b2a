"""README command one: the demo serves the Flask example against FakeWeChat.

``--check`` walks the login once as WeChat's browser and exits, so the command a
newcomer types first is tested exactly as they run it (minus the waiting).
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

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


def test_demo_run_twice_on_one_store_signs_with_each_fakes_ticket(tmp_path: Path) -> None:
    """The second run within the tickets' two hours: the store still holds the first
    fake's ticket, which the second fake would reject ("config:invalid signature")."""
    for run in ("first", "second"):
        done = run_demo_check(ROOT, tmp_path)  # the same store file both times
        assert done.returncode == 0, f"{run} run:\n{done.stdout}{done.stderr}"
        assert "JS-SDK: the fake WeChat accepts the signature" in done.stdout


def test_demo_check_fails_when_wechat_would_reject_the_signature(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check asks the fake, as a phone asks WeChat: a signature made with a ticket the
    fake never issued fails the check (it passed before, never verifying)."""
    from werkzeug.serving import make_server

    from examples.demo import self_check
    from wechat_middleware.testing import FakeWeChat, fake_wechat_env

    with FakeWeChat() as fake:
        for name, value in fake_wechat_env(fake).items():
            monkeypatch.setenv(name, value)
        example = importlib.reload(importlib.import_module("examples.flask_app.app"))
        example.wechat.jssdk.update_access_token_or_ticket_globally(ticket="another-wechats")
        server = make_server("127.0.0.1", 0, example.app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            assert not self_check(f"http://127.0.0.1:{server.server_port}", fake)
        finally:
            server.shutdown()
            example.wechat.close()
    assert "config:invalid signature" in capsys.readouterr().out


@dataclass
class RunningDemo:
    base_url: str
    printed: str
    process: subprocess.Popen[str]

    def stop(self) -> int:
        """SIGTERM, as a supervisor stops it; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
        return self.process.returncode


@contextmanager
def running_demo(store: Path, app: str = "flask") -> Iterator[RunningDemo]:
    """`python -m wechat_middleware demo --app APP --port 0` on the SQLite file
    ``store``, until it has printed everything; stopped (if the test did not) when the
    block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env["WECHAT_STORE"] = f"sqlite:///{store}"
    process = subprocess.Popen(
        [sys.executable, "-m", "wechat_middleware", "demo", "--app", app, "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed = ""
        while "Ctrl-C stops" not in printed:
            line = process.stdout.readline()
            assert line, f"the demo ended early:\n{printed}"
            printed += line
        found = re.search(r"example at (http://127\.0\.0\.1:\d+)/", printed)
        assert found, printed
        yield RunningDemo(found.group(1), printed, process)
    finally:
        if process.poll() is None:
            RunningDemo("", "", process).stop()


def test_demo_prints_its_server_check_token_and_a_check_that_works(tmp_path: Path) -> None:
    with running_demo(tmp_path / "demo.sqlite3") as demo:
        assert re.search(r"WECHAT_TOKEN=[0-9a-f]{32}", demo.printed)
        check = re.search(r"curl -s '([^']+/wechat/verify\?[^']+)'", demo.printed)
        assert check, demo.printed
        reply = requests.get(check.group(1), timeout=10)
        assert (reply.status_code, reply.text) == (200, "hello")
        assert demo.stop() == 0


@pytest.mark.slow
def test_scripts_demo_installs_only_what_the_demo_needs(tmp_path: Path) -> None:
    """`bash scripts/demo` in a fresh virtualenv: Flask and the package, no test tools."""
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env.update(WECHAT_VENV=str(venv), WECHAT_STORE=f"sqlite:///{tmp_path}/demo.sqlite3")
    env.pop("EXTRAS", None)
    done = subprocess.run(
        ["bash", "scripts/demo", "--port", "0", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    assert "flask==" in listed
    for tool in ("pytest", "mypy", "ruff", "playwright", "uvicorn", "gunicorn", "redis"):
        assert f"\n{tool}==" not in "\n" + listed, tool
