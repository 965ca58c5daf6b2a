"""Run an example app in a real server process on loopback, as production would.

The server is a subprocess (gunicorn with several sync workers, or uvicorn with several
worker processes), so the tests cross real sockets and real process boundaries: the
tokens a worker fetches are shared with its siblings only through the SQLite store.
Every wait is bounded, and ``stop`` always ends the whole process group.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 20.0  # seconds for a server to import the app and answer
STOP_TIMEOUT = 10.0  # seconds for a graceful shutdown before SIGKILL
PORT_ATTEMPTS = 3  # another process may take a free port between our probe and its bind
SERVER_CHECK_TOKEN = "integration-server-check-token"
READY_PATH = "/static/style.css"  # answered by the app without touching WeChat
# Gunicorn's default access log line plus the worker's pid ("<1234>"), so a test can
# tell which worker answered which request (see served_by_pid).
GUNICORN_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(p)s'
_BOOTED_RE = re.compile(r"Booting worker with pid: (\d+)")
_ACCESS_PID_RE = re.compile(r'"[A-Z]+ (\S+) HTTP/[\d.]+" (\d{3}) .* <(\d+)>$')


def _gunicorn(port: int) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "-w", "4", "-b", f"{LOOPBACK}:{port}"]
    command += ["--access-logfile", "-"]  # into the log a failing test shows
    command += ["--access-logformat", GUNICORN_ACCESS_LOG_FORMAT]
    if _gunicorn_has_control_socket():
        # Gunicorn 25+ opens ~/.gunicorn/gunicorn.ctl, one path shared by every gunicorn
        # of the user: two servers at once (or a developer's own) would fight over it.
        command.append("--no-control-socket")
    return [*command, "examples.flask_app.app:app"]


def _gunicorn_has_control_socket() -> bool:
    settings = importlib.import_module("gunicorn.config").KNOWN_SETTINGS
    return any(setting.name == "control_socket_disable" for setting in settings)


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
        "examples.starlette_app.app:app",
    ]


#: Each server kind (a test id) and the command that serves its example app on a port.
SERVER_COMMANDS: dict[str, Callable[[int], list[str]]] = {
    "flask+gunicorn-4-workers": _gunicorn,
    "starlette+uvicorn-2-workers": _uvicorn,
}


class ServerStartError(RuntimeError):
    """The server exited or did not answer in time; the message carries its log."""


def free_port() -> int:
    """A port free on loopback right now (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def app_environment(
    *,
    app_id: str,
    app_secret: str,
    wechat_base_url: str,
    store_path: Path | None = None,
    store_url: str | None = None,
) -> dict[str, str]:
    """The environment the example apps read with ``WeChat.from_env()``.

    The store is the SQLite file ``store_path`` or any ``store_url`` (e.g. Redis).
    Inherited ``WECHAT_*`` variables are dropped, so a developer's shell cannot change
    what the tests see (a stray WECHAT_PUBLIC_URL would change every signed URL).
    """
    if (store_path is None) == (store_url is None):
        raise TypeError("pass exactly one of store_path and store_url")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env.update(
        WECHAT_APP_ID=app_id,
        WECHAT_APP_SECRET=app_secret,
        WECHAT_SECRET_KEY=secrets.token_urlsafe(32),
        WECHAT_TOKEN=SERVER_CHECK_TOKEN,
        WECHAT_API_BASE=wechat_base_url,
        WECHAT_OPEN_BASE=wechat_base_url,
        WECHAT_STORE=store_url or f"sqlite:///{store_path}",
        WECHAT_JSSDK_URL=f"http://{LOOPBACK}:9/jweixin-1.6.0.js",  # never fetched
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class AppServer:
    """One running server process (and its workers), its port and its log file."""

    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def netloc(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log(self, since: int = 0) -> str:
        """The server's stdout and stderr from byte ``since`` on."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """SIGTERM the server; SIGKILL its process group if it is not gone in time."""
        if self._stopped:
            return
        self._stopped = True
        process = self.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT)
        # The group is ours (start_new_session): this also reaps workers a dead master left.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)


def gunicorn_worker_pids(server: AppServer) -> set[int]:
    """The pids of the workers gunicorn booted, from its log."""
    return {int(pid) for pid in _BOOTED_RE.findall(server.log())}


def served_by_pid(server: AppServer, marker: str) -> dict[str, tuple[int, int]]:
    """``{request target: (status, worker pid)}`` of the gunicorn access log lines whose
    target contains ``marker``; a worker writes its line just after it answered."""
    served: dict[str, tuple[int, int]] = {}
    for line in server.log().splitlines():
        match = _ACCESS_PID_RE.search(line)
        if match is not None and marker in match.group(1):
            served[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    return served


def start_server(kind: str, env: Mapping[str, str], log_dir: Path) -> AppServer:
    """Start the ``kind`` server on a free loopback port and wait until it answers.

    Raises :class:`ServerStartError` with the server's log if it never becomes ready.
    """
    command_for = SERVER_COMMANDS[kind]
    last_error: ServerStartError | None = None
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        log_path = log_dir / f"{kind}-{port}-{attempt}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command_for(port),
                cwd=REPO_ROOT,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one in stop()
            )
        server = AppServer(kind, port, process, log_path)
        try:
            _wait_until_ready(server)
            return server
        except ServerStartError as exc:
            server.stop()
            last_error = exc
            if "address already in use" not in server.log().lower():
                break
    assert last_error is not None
    raise last_error


def _wait_until_ready(server: AppServer, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    url = server.url(READY_PATH)
    while True:
        code = server.process.poll()
        if code is not None:
            raise ServerStartError(
                f"{server.kind} exited with code {code} before answering on port "
                f"{server.port}; its log:\n{server.log()}"
            )
        try:
            if requests.get(url, timeout=1.0).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() >= deadline:
            raise ServerStartError(
                f"{server.kind} did not answer {url} within {timeout:.0f} s; "
                f"its log:\n{server.log()}"
            )
        time.sleep(0.05)
