"""A real ``redis-server`` on a free loopback port, for tests of the Redis store.

Real rather than faked, because what the store promises (atomic scripts, expiry kept
by Redis, reconnecting after Redis restarts) is exactly what a fake would get wrong.
Nothing is persisted; the server lives in a private temporary directory.

    with RedisServer(password="s3cret") as server:
        store = RedisStore.from_url(server.url + "/0")
        server.restart()  # same port: the store reconnects by itself
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from urllib.parse import quote

from wechat_middleware.testing.lifetime import Closing

_INSTALL = (
    "redis-server is not on PATH; install it (Debian/Ubuntu: apt-get install redis-server, "
    "macOS: brew install redis) to run the Redis store tests"
)


class RedisServer(Closing):
    """``redis-server`` as a subprocess; :meth:`restart` keeps the port, so clients
    configured with :attr:`url` see Redis go away and come back."""

    def __init__(
        self,
        *,
        password: str | None = None,
        executable: str | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        self.password = password
        self.executable = executable or shutil.which("redis-server")
        self.startup_timeout = startup_timeout
        self.host = "127.0.0.1"
        self.port: int | None = None
        self._directory = tempfile.mkdtemp(prefix="wechat_middleware-redis-")
        self._remove_directory = weakref.finalize(self, shutil.rmtree, self._directory, True)
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], RedisServer] | None = None

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:PORT``; append ``/0`` for a database.

        Still valid after :meth:`stop`, for tests of an unreachable Redis.
        """
        if self.port is None:
            raise RuntimeError("RedisServer has not been started: call start() first")
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}"

    @property
    def unix_socket(self) -> str:
        """The path of the server's Unix socket (``unix://PATH?db=0``)."""
        return os.path.join(self._directory, "redis.sock")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        """Start on a free port (the same one again after a stop) and wait for PING."""
        if self.running:
            raise RuntimeError("RedisServer is already running")
        if self.executable is None:
            raise RuntimeError(_INSTALL)
        if self.port is not None:
            self._launch(self.port)
            return self
        # A free port can be taken by someone else before redis-server binds it.
        for attempt in range(3):
            try:
                self._launch(_free_port())
                return self
            except RuntimeError:
                if attempt == 2:
                    raise
                self.port = None
        return self

    def stop(self) -> None:
        """Terminate (SIGTERM, then SIGKILL after 5 s); :attr:`url` keeps the port."""
        process, self._process = self._process, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _terminate(process)

    def restart(self) -> None:
        """Stop and start again on the same port, with an empty database."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): a hung Redis. The kernel still accepts connections
        and takes what clients send; nothing is answered until :meth:`resume`."""
        if self._process is None or not self.running:
            raise RuntimeError("RedisServer is not running")
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a paused server (SIGCONT): it answers what was sent meanwhile, in order."""
        if self._process is not None and self.running:
            self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop and remove the temporary directory."""
        self.stop()
        self._remove_directory()

    def __enter__(self) -> RedisServer:
        return self.start()

    def _launch(self, port: int) -> None:
        assert self.executable is not None
        self.port = port
        log_path = os.path.join(self._directory, "redis.log")
        command = [
            self.executable,
            "--port", str(port),
            "--bind", self.host,
            "--unixsocket", self.unix_socket,
            "--unixsocketperm", "700",
            "--dir", self._directory,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", log_path,
        ]  # fmt: skip
        if self.password:
            command += ["--requirepass", self.password]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            cwd=self._directory,
        )
        self._process = process
        # A test run that dies without stop() must not leave servers behind.
        self._finalizer = weakref.finalize(self, _terminate, process)
        deadline = time.monotonic() + self.startup_timeout
        while not _answers_ping(self.host, port):
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"redis-server on {self.host}:{port} did not answer PING within "
                    f"{self.startup_timeout:g}s (exit code {process.returncode}); its log:\n"
                    + _tail(log_path)
                )
            time.sleep(0.01)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(host: str, port: int) -> bool:
    """``+PONG``, or ``-NOAUTH`` from a server with a password: either way it is up."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH"))


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)  # a paused server would not act on SIGTERM
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: str, limit: int = 4000) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-limit:] or "(empty)"
    except OSError as exc:
        return f"(no log: {exc})"
