"""The servers under load: real gunicorn and uvicorn processes on 127.0.0.1 only.

Each server runs in its own process group (``start_new_session``) so that stopping it
ends its master and every worker; :func:`stop_all` runs on exit, Ctrl-C included.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import secrets
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wechat_middleware.testing import FakeWeChat

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
READY_PATH = "/static/style.css"  # answered without touching WeChat
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def server_env_without_wechat() -> dict[str, str]:
    """This environment without any WECHAT_* setting, the repository importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env.update(PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
    return env


def server_env(fake: FakeWeChat, store: Path) -> dict[str, str]:
    """The environment of every server: the examples configured against ``fake``, all
    workers of all servers sharing one SQLite token store at ``store``."""
    env = server_env_without_wechat()
    env.update(
        WECHAT_APP_ID=fake.app_id,
        WECHAT_APP_SECRET=fake.app_secret,
        WECHAT_SECRET_KEY=secrets.token_urlsafe(32),
        WECHAT_TOKEN="bench-load-server-check",
        WECHAT_API_BASE=fake.base_url,
        WECHAT_OPEN_BASE=fake.base_url,
        WECHAT_STORE=f"sqlite:///{store}",
        WECHAT_JSSDK_URL="http://127.0.0.1:9/jweixin-1.6.0.js",  # never fetched
    )
    return env


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server: gunicorn (sync workers) or uvicorn, an app, workers."""

    kind: str  # "gunicorn" or "uvicorn"
    app: str  # "module:attribute", importable from the repository root
    workers: int

    @property
    def label(self) -> str:
        plural = "s" if self.workers > 1 else ""
        kind = "gunicorn sync" if self.kind == "gunicorn" else "uvicorn"
        return f"{kind}, {self.workers} worker{plural}"

    def command(self, port: int) -> list[str]:
        if self.kind == "gunicorn":
            return _gunicorn(self.app, self.workers, port)
        if self.kind == "uvicorn":
            return _uvicorn(self.app, self.workers, port)
        raise ValueError(f"unknown server kind {self.kind!r}")


def _gunicorn(app: str, workers: int, port: int) -> list[str]:
    # gunicorn sets TCP_NODELAY on its listening socket; its sync workers close the
    # connection after every response (no keep-alive).
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"{LOOPBACK}:{port}"]
    command += ["--log-level", "warning"]
    settings = importlib.import_module("gunicorn.config").KNOWN_SETTINGS
    if any(s.name == "control_socket_disable" for s in settings):
        # gunicorn 25+ opens ~/.gunicorn/gunicorn.ctl, shared by every gunicorn of the user.
        command.append("--no-control-socket")
    return [*command, app]


def _uvicorn(app: str, workers: int, port: int) -> list[str]:
    # With more than one worker uvicorn binds the socket itself and leaves Nagle on
    # (see bench.load.uvicorn_nodelay): start it through the launcher that fixes that.
    module = "bench.load.uvicorn_nodelay" if workers > 1 else "uvicorn"
    return [
        *(sys.executable, "-m", module, "--workers", str(workers)),
        *("--host", LOOPBACK, "--port", str(port)),
        *("--no-access-log", "--log-level", "warning", app),
    ]


def uvicorn_as_shipped(app: str, workers: int, port: int) -> list[str]:
    """uvicorn started the usual way, whatever the worker count (for the stall check)."""
    return [
        *(sys.executable, "-m", "uvicorn", "--workers", str(workers)),
        *("--host", LOOPBACK, "--port", str(port)),
        *("--no-access-log", "--log-level", "warning", app),
    ]


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

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's master and workers.

        On a shared machine a server's requests/s moves with whatever else runs; the
        CPU it spends per request does not, so the comparison reports both. Workers
        are found by process group (each server is started in its own session).
        """
        ticks = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited meanwhile
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == self.process.pid:  # fields[2] is the process group
                ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

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


def start(
    name: str,
    command: Callable[[int], list[str]],
    env: Mapping[str, str],
    log_dir: Path,
    ready_path: str = READY_PATH,
) -> Server:
    """Start ``command(port)`` on a free loopback port and wait until it answers."""
    last = ""
    for attempt in range(3):  # the probed port may be taken before the server binds it
        port = _free_port()
        log_path = log_dir / f"server-{port}-{attempt}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command(port),
                cwd=REPO_ROOT,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(name, port, process, log_path)
        _running.append(server)
        if _wait_ready(server, ready_path):
            return server
        last = server.log_tail()
        server.stop()
        _running.remove(server)
        if "address already in use" not in last.lower():
            break
    raise RuntimeError(f"{name} did not start; its log ends with:\n{last}")


def _wait_ready(server: Server, path: str) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    url = f"http://{server.host}{path}"
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
