"""The servers under load: real gunicorn and uvicorn processes on 127.0.0.1 only.

Each server runs in its own process group (``start_new_session``) so that stopping it
ends its master and every worker; :func:`stop_all` runs on exit, Ctrl-C included.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
READY_PATH = "/static/style.css"  # answered without touching WeChat
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def _gunicorn(port: int) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "-w", "4", "-b", f"{LOOPBACK}:{port}"]
    command += ["--log-level", "warning"]
    settings = importlib.import_module("gunicorn.config").KNOWN_SETTINGS
    if any(s.name == "control_socket_disable" for s in settings):
        # gunicorn 25+ opens ~/.gunicorn/gunicorn.ctl, shared by every gunicorn of the user.
        command.append("--no-control-socket")
    return [*command, "examples.flask_app.app:app"]


def _uvicorn(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--workers",
        "2",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "examples.starlette_app.app:app",
    ]


SERVERS: dict[str, Callable[[int], list[str]]] = {
    "gunicorn (Flask example, 4 workers)": _gunicorn,
    "uvicorn (Starlette example, 2 workers)": _uvicorn,
}


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the master; SIGKILL the whole group if it lingers."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # workers a dead master left
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT)


_running: list[Server] = []


def stop_all() -> None:
    while _running:
        _running.pop().stop()


atexit.register(stop_all)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def start(name: str, env: Mapping[str, str], log_dir: Path) -> Server:
    """Start server ``name`` on a free loopback port and wait until it answers."""
    last = ""
    for attempt in range(3):  # the probed port may be taken before the server binds it
        port = _free_port()
        log_path = log_dir / f"server-{port}-{attempt}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                SERVERS[name](port),
                cwd=REPO_ROOT,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(name, port, process, log_path)
        _running.append(server)
        if _wait_ready(server):
            return server
        last = server.log_tail()
        server.stop()
        _running.remove(server)
        if "address already in use" not in last.lower():
            break
    raise RuntimeError(f"{name} did not start; its log ends with:\n{last}")


def _wait_ready(server: Server) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    url = f"http://{server.host}{READY_PATH}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return False
