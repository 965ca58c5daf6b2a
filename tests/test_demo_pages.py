"""The demo as a newcomer meets it (issue #24): what a desktop browser's page says, a
port already taken, and ``--check`` beside a running demo."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from .test_demo import ROOT, running_demo

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)


@pytest.mark.parametrize("app", ["flask", "django"])
def test_a_desktop_page_says_not_logged_in_with_the_qr_login_link(app: str, tmp_path: Path) -> None:
    """Not "Logged in as" and nothing (nor Django's "None"): what is true, and the way
    in: the demo configures the fake's website app, so the link is the QR login."""
    with running_demo(tmp_path / "demo.sqlite3", app) as demo:
        base_url = demo.base_url
        page = requests.get(base_url + "/second?from=home", headers={"User-Agent": CHROME})
        assert page.status_code == 200
        state = re.search(r'<p id="login-state">(.*?)</p>', page.text, re.S)
        assert state, page.text
        text = " ".join(re.sub(r"<[^>]+>", " ", state.group(1)).split())
        assert text == "Not logged in Log in with WeChat's QR code"
        assert "None" not in page.text and "Logged in as" not in page.text
        link = re.search(r'<a id="login"\s+href="([^"]+)"', page.text)
        assert link, state.group(1)
        login = requests.get(
            base_url + link.group(1).replace("&amp;", "&"),
            headers={"User-Agent": CHROME, "Accept": "text/html"},
            allow_redirects=False,
        )
        assert login.status_code == 302
        assert "/connect/qrconnect?" in login.headers["Location"]


def test_a_taken_port_is_named_with_the_option_that_picks_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
        env["WECHAT_STORE"] = f"sqlite:///{tmp_path}/demo.sqlite3"
        done = subprocess.run(
            [sys.executable, "-m", "wechat_middleware", "demo", "--port", str(port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "--port" in done.stderr and "Traceback" not in done.stderr


def test_check_runs_beside_a_demo_holding_port_8000(tmp_path: Path) -> None:
    """``--check`` without ``--port`` takes any free port: 8000 is held here (by this
    test, or by whatever holds it already, a running demo say)."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("127.0.0.1", 8000))
            holder.listen()
        except OSError:
            pass  # held by someone else: as good
        env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
        env["WECHAT_STORE"] = f"sqlite:///{tmp_path}/demo.sqlite3"
        done = subprocess.run(
            [sys.executable, "-m", "wechat_middleware", "demo", "--check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "http://127.0.0.1:8000/" not in done.stdout
    assert "JS-SDK: the fake WeChat accepts the signature" in done.stdout
