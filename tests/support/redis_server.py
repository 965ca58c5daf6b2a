"""A real ``redis-server`` on a free loopback port, for tests of the Redis store.

Real rather than faked, because what the store promises (atomic scripts, expiry kept
by Redis, reconnecting after Redis restarts) is exactly what a fake would get wrong.
Nothing is persisted; the server lives in a private temporary directory.

    with RedisServer(password="s3cret") as server:
        store = RedisStore.from_url(server.url + "/0")
        server.restart()  # same port: the store reconnects by itself

The topologies teams run are built from it: :class:`RedisClusterGroup` (three masters,
``redis-cli --cluster create``) and :class:`SentinelGroup` (a master, a replica and a
Sentinel that can be told to fail over).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from urllib.parse import quote

import redis

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
        args: Sequence[str] = (),
        sentinel_config: str | None = None,
        tls: tuple[str, str] | None = None,
    ) -> None:
        """``args`` are more ``redis-server`` options (``--cluster-enabled yes``,
        ``--replicaof``, ``--rename-command``); ``sentinel_config`` makes it a Sentinel
        with that configuration; ``tls`` (certificate file, key file) adds a TLS port,
        :attr:`tls_port`, beside the plain one."""
        self.password = password
        self.args = tuple(args)
        self.sentinel_config = sentinel_config
        self.tls = tls
        self.tls_port: int | None = None
        # REDIS_SERVER=/path/to/valkey-server runs every Redis test against Valkey.
        self.executable = (
            executable or os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
        )
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
        return f"redis://{self.auth}{self.host}:{self.port}"

    @property
    def auth(self) -> str:
        """``:password@`` (quoted) for a URL, or nothing."""
        return f":{quote(self.password, safe='')}@" if self.password else ""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self) -> redis.Redis:
        """A plain client of this one server (close it after use)."""
        return redis.Redis(self.host, self.port, password=self.password, decode_responses=True)

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
                self._launch(_free_port(cluster_bus="--cluster-enabled" in self.args))
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
        command = [self.executable]
        if self.sentinel_config is not None:
            # Sentinel rewrites its configuration file, so it gets a copy of its own.
            config_path = os.path.join(self._directory, "sentinel.conf")
            with open(config_path, "w", encoding="utf-8") as f:
                f.write(self.sentinel_config)
            command += [config_path, "--sentinel"]
        command += [
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
        if self.tls is not None:
            self.tls_port = self.tls_port or _free_port()
            cert, key = self.tls
            command += ["--tls-port", str(self.tls_port), "--tls-cert-file", cert]
            command += ["--tls-key-file", key, "--tls-ca-cert-file", cert]
            command += ["--tls-auth-clients", "no"]
        command += self.args
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


class RedisClusterGroup(Closing):
    """Three masters (no replicas) on loopback ports, joined by ``redis-cli --cluster
    create``; :attr:`url` is their ``redis+cluster://`` URL."""

    def __init__(self, *, masters: int = 3, password: str | None = None) -> None:
        args = ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]
        if password:
            args += ["--masterauth", password]
        self.nodes = [RedisServer(password=password, args=args) for _ in range(masters)]

    @property
    def url(self) -> str:
        first = self.nodes[0]
        return f"redis+cluster://{first.auth}" + ",".join(n.address for n in self.nodes) + "/"

    def start(self) -> RedisClusterGroup:
        for node in self.nodes:
            # The node's cluster state file goes in its own directory (cwd).
            node.start()
        command = [shutil.which("redis-cli") or "redis-cli", "--cluster", "create"]
        command += [node.address for node in self.nodes] + ["--cluster-yes"]
        if self.nodes[0].password:
            command += ["-a", self.nodes[0].password, "--no-auth-warning"]
        subprocess.run(command, check=True, capture_output=True, timeout=30)
        wait_for(lambda: self._state() == "ok", "the cluster to cover every slot")
        return self

    def _state(self) -> str:
        with self.nodes[0].client() as client:
            info = client.execute_command("CLUSTER", "INFO")
        text = info if isinstance(info, str) else str(info)
        return "ok" if "cluster_state:ok" in text else "fail"

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> RedisClusterGroup:
        return self.start()


class SentinelGroup(Closing):
    """A master, a replica of it and one Sentinel watching them as ``mymaster``
    (quorum 1, so it alone decides); :meth:`fail_over` makes the replica the master."""

    service = "mymaster"

    def __init__(self, *, password: str | None = None) -> None:
        self.password = password
        # A replica's first sync starts at once, not after the default 5 s wait.
        self.master = RedisServer(password=password, args=["--repl-diskless-sync-delay", "0"])
        self.replica: RedisServer | None = None
        self.sentinel: RedisServer | None = None

    @property
    def url(self) -> str:
        """``redis+sentinel://[:password@]127.0.0.1:PORT/mymaster``; append ``/0``."""
        assert self.sentinel is not None
        return f"redis+sentinel://{self.master.auth}{self.sentinel.address}/{self.service}"

    def start(self) -> SentinelGroup:
        self.master.start()
        auth = ["--masterauth", self.password] if self.password else []
        replica_of = ["--replicaof", self.master.host, str(self.master.port)]
        self.replica = RedisServer(password=self.password, args=replica_of + auth).start()
        config = [
            f"sentinel monitor {self.service} {self.master.host} {self.master.port} 1",
            f"sentinel down-after-milliseconds {self.service} 1000",
            f"sentinel failover-timeout {self.service} 10000",
        ]
        if self.password:
            config.append(f"sentinel auth-pass {self.service} {self.password}")
        self.sentinel = RedisServer(sentinel_config="\n".join(config) + "\n").start()
        wait_for(self._replica_known, "Sentinel to see the replica in sync")
        return self

    def master_port(self) -> int:
        """The port of the master Sentinel names now."""
        assert self.sentinel is not None
        with self.sentinel.client() as client:
            _, port = client.sentinel_get_master_addr_by_name(self.service)
        return int(port)

    def fail_over(self, *, kill: bool = False) -> None:
        """``SENTINEL FAILOVER``, or with ``kill`` the master's death (Sentinel elects a
        new one a second later): returns once Sentinel names the replica as master and
        the new master accepts writes."""
        assert self.sentinel is not None and self.replica is not None
        if kill:
            self.master.stop()
        else:
            with self.sentinel.client() as client:
                client.execute_command("SENTINEL", "FAILOVER", self.service)
        port = self.replica.port
        wait_for(lambda: self.master_port() == port, "Sentinel to promote the replica")
        with self.replica.client() as client:
            wait_for(lambda: client.role()[0] == "master", "the replica to become master")

    def _replica_known(self) -> bool:
        assert self.sentinel is not None
        with self.sentinel.client() as client:
            replicas = client.sentinel_slaves(self.service)
        return any(
            r.get("master-link-status") == "ok" and "disconnected" not in str(r.get("flags"))
            for r in replicas
        )

    def close(self) -> None:
        for server in (self.sentinel, self.replica, self.master):
            if server is not None:
                server.close()

    def __enter__(self) -> SentinelGroup:
        return self.start()


def wait_for(
    condition: Callable[[], bool], what: str = "a condition", timeout: float = 30.0
) -> None:
    """Poll ``condition`` until true; Redis errors meanwhile count as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except redis.RedisError:
            pass  # e.g. a node still loading, or a role changing
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


#: A cluster node also listens on its port + 10000 (the cluster bus), so its own port
#: must be at most 55535; the kernel's ephemeral ports often are not.
CLUSTER_BUS_OFFSET = 10_000


def _free_port(*, cluster_bus: bool = False) -> int:
    """A loopback port free right now; with ``cluster_bus``, one whose bus port
    (``port + 10000``) is free too."""
    if not cluster_bus:
        return _bound_port(0)
    for _ in range(100):
        port = random.randint(20_000, 65_535 - CLUSTER_BUS_OFFSET)
        try:
            _bound_port(port)
            _bound_port(port + CLUSTER_BUS_OFFSET)
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node on 127.0.0.1")


def _bound_port(port: int) -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        bound: int = sock.getsockname()[1]
        return bound


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
