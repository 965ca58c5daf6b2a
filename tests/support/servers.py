"""The one server launcher of the integration and end-to-end tests: a real server process
on loopback, as production would run it.

An example app runs in gunicorn (several sync workers) or uvicorn (several worker
processes), so the tests cross real sockets and real process boundaries: the tokens a
worker fetches are shared with its siblings only through the SQLite store. The pages the
end-to-end tests open (:class:`PageServer`) are served the same way, by
``tests.support.page_files``. Every wait is bounded, ``stop`` always ends the whole
process group, and a failing test shows what each of its servers logged meanwhile
(``tests.support.reports``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.browser import fake_wechat_env, fake_wecom_env
from wechat_middleware.testing.fake_wecom import FakeWeCom

from .page_files import page_file

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 20.0  # seconds for a server to import the app and answer
STOP_TIMEOUT = 10.0  # seconds for a graceful shutdown before SIGKILL
PORT_ATTEMPTS = 3  # another process may take a free port between our probe and its bind
SERVER_CHECK_TOKEN = "integration-server-check-token"
READY_PATH = "/static/style.css"  # answered by the app without touching WeChat
PAGES = "pages"  # the kind of the server of test pages
# Gunicorn's default access log line plus the worker's pid ("<1234>"), so a test can
# tell which worker answered which request (see served_by_pid).
GUNICORN_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(p)s'
_BOOTED_RE = re.compile(r"Booting worker with pid: (\d+)")
_ACCESS_PID_RE = re.compile(r'"[A-Z]+ (\S+) HTTP/[\d.]+" (\d{3}) .* <(\d+)>$')


def _gunicorn(app: str, port: int, workers: int = 4) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"{LOOPBACK}:{port}"]
    command += ["--access-logfile", "-"]  # into the log a failing test shows
    command += ["--access-logformat", GUNICORN_ACCESS_LOG_FORMAT]
    if _gunicorn_has_control_socket():
        # Gunicorn 25+ opens ~/.gunicorn/gunicorn.ctl, one path shared by every gunicorn
        # of the user: two servers at once (or a developer's own) would fight over it.
        command.append("--no-control-socket")
    return [*command, app]


def _gunicorn_has_control_socket() -> bool:
    settings = importlib.import_module("gunicorn.config").KNOWN_SETTINGS
    return any(setting.name == "control_socket_disable" for setting in settings)


def _uvicorn(app: str, port: int) -> list[str]:
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
        app,
    ]


def _pages(port: int) -> list[str]:
    return [sys.executable, "-m", "tests.support.page_files", str(port)]


#: Each server kind (a test id) and the command that serves its example app on a port.
SERVER_COMMANDS: dict[str, Callable[[int], list[str]]] = {
    "flask+gunicorn-4-workers": functools.partial(_gunicorn, "examples.flask_app.app:app"),
    "starlette+uvicorn-2-workers": functools.partial(_uvicorn, "examples.starlette_app.app:app"),
    # The example's settings module comes from server_environment().
    "django+gunicorn-4-workers": functools.partial(
        _gunicorn, "examples.django_app.wsgi:application"
    ),
    "django+uvicorn-2-workers": functools.partial(_uvicorn, "examples.django_app.asgi:application"),
}
#: Kinds for tests that start their own server: few sync workers, so that a request
#: holding one shows (tests/integration/test_stalls.py).
OWN_SERVER_COMMANDS: dict[str, Callable[[int], list[str]]] = {
    "flask+gunicorn-2-workers": functools.partial(
        _gunicorn, "examples.flask_app.app:app", workers=2
    ),
}
_COMMANDS = {**SERVER_COMMANDS, **OWN_SERVER_COMMANDS, PAGES: _pages}


class ServerStartError(RuntimeError):
    """The server exited or did not answer in time; the message carries its log."""


def free_port() -> int:
    """A port free on loopback right now (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def app_environment(fake: FakeWeChat, store: str) -> dict[str, str]:
    """The environment the example apps read with ``WeChat.from_env()``: the plugin's
    :func:`fake_wechat_env` for ``fake`` and ``store`` in a clean
    :func:`server_environment`, with the server-check token the tests sign with and a
    JS-SDK URL no page fetches (the end-to-end tests give their own)."""
    env = server_environment()
    env.update(fake_wechat_env(fake, store=store))
    env.update(
        WECHAT_TOKEN=SERVER_CHECK_TOKEN,
        WECHAT_JSSDK_URL=f"http://{LOOPBACK}:9/jweixin-1.6.0.js",  # never fetched
    )
    return env


def server_environment() -> dict[str, str]:
    """This process's environment without its ``WECHAT_*`` and ``DJANGO_*`` variables, so
    a developer's shell cannot change what the tests see (a stray WECHAT_PUBLIC_URL would
    change every signed URL, a DJANGO_SETTINGS_MODULE the Django example's settings).

    Django's secret key is given, as in production: gunicorn's workers import the app
    one by one, and the example would otherwise draw a key of its own in each.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="examples.django_app.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        PYTHONUNBUFFERED="1",
    )
    return env


def start_app(kind: str, fake: FakeWeChat, workdir: Path, **env: str) -> AppServer:
    """The example app for ``kind`` on ``fake``, its SQLite store in ``workdir``; ``env``
    adds to (or overrides) its environment."""
    environment = app_environment(fake, f"sqlite:///{workdir / 'store.sqlite3'}")
    return start_server(kind, {**environment, **env}, workdir)


def start_wecom_app(kind: str, fake: FakeWeCom, workdir: Path, **env: str) -> AppServer:
    """The example app for ``kind`` run as a WeCom self-built app on ``fake``
    (WECHAT_PROVIDER=wecom), its SQLite store in ``workdir``; ``env`` adds to it."""
    environment = server_environment()
    environment.update(fake_wecom_env(fake, store=f"sqlite:///{workdir / 'store.sqlite3'}"))
    return start_server(kind, {**environment, **env}, workdir)


@dataclass
class AppServer:
    """One running server process (and its workers), its port and its log file.

    A context manager that stops it; ``log_title``, ``log_size`` and ``log`` are what a
    failing test's report shows (``tests.support.reports``).
    """

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

    @property
    def log_title(self) -> str:
        return f"{self.kind} log, port {self.port}"

    def __enter__(self) -> AppServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

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


def start_server(
    kind: str, env: Mapping[str, str], log_dir: Path, *, port: int | None = None
) -> AppServer:
    """Start the ``kind`` server on a free loopback port (or on ``port``, when its URL
    had to be known before: one attempt then) and wait until it answers.

    Raises :class:`ServerStartError` with the server's log if it never becomes ready.
    """
    command_for = _COMMANDS[kind]
    last_error: ServerStartError | None = None
    for attempt in range(1, 2 if port else PORT_ATTEMPTS + 1):
        this_port = port or free_port()
        log_path = log_dir / f"{kind}-{this_port}-{attempt}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command_for(this_port),
                cwd=REPO_ROOT,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one in stop()
            )
        server = AppServer(kind, this_port, process, log_path)
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
    url = server.url(READY_PATH)  # the page server is given a page there too
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


class PageServer:
    """Test pages from files, in a server process of their own (another origin than
    FakeWeChat and the apps): ``pages.add(path, html)``, then open ``pages.url(path)``.
    The query is ignored and unknown paths are 404."""

    def __init__(self) -> None:
        self._root = tempfile.TemporaryDirectory(prefix="pages-")
        self.root = Path(self._root.name)
        (self.root / page_file(READY_PATH)).write_text("ready", encoding="utf-8")
        self.server = start_server(PAGES, {**os.environ, "PAGES_ROOT": self._root.name}, self.root)

    def __enter__(self) -> PageServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()
        self._root.cleanup()

    @property
    def origin(self) -> str:
        return self.server.base_url

    # Its request log, for a failing test's report (tests/support/reports.py).
    @property
    def log_title(self) -> str:
        return f"page server log, port {self.server.port}"

    def log_size(self) -> int:
        return self.server.log_size()

    def log(self, since: int = 0) -> str:
        return self.server.log(since)

    def url(self, path: str) -> str:
        return self.origin + path

    def add(self, path: str, html: str) -> str:
        """Serve ``html`` at ``path`` (the query is ignored); returns its URL."""
        (self.root / page_file(path)).write_text(html, encoding="utf-8")
        return self.url(path)
