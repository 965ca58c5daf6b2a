"""The peers we compare with, installed into a throwaway place, never the project's env.

``bench/.peers/`` (git-ignored) holds a virtualenv with wechatpy and a ``node_modules``
with wechat-jssdk; both are installed on first use and reused while their pinned
versions stay the same. A peer that cannot be installed is reported as unavailable
with the reason, and the benchmark goes on without it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
CHILDREN = BENCH_DIR / "children"
PEERS_DIR = Path(os.environ.get("BENCH_PEERS_DIR", BENCH_DIR / ".peers"))

WECHATPY_VERSION = "1.8.18"
WECHAT_JSSDK_VERSION = "5.1.0"
# wechatpy imports its crypto module at import time: it needs one of its crypto extras.
WECHATPY_REQUIREMENTS = (f"wechatpy[cryptography]=={WECHATPY_VERSION}", "redis>=4.5")
INSTALL_TIMEOUT = 600.0


class PeerUnavailable(Exception):
    """A peer could not be installed or started; the message says why (one line)."""


@dataclass(frozen=True)
class Peers:
    """What could be installed: a Python for wechatpy, a prefix for wechat-jssdk."""

    wechatpy_python: Path | None
    wechatpy_reason: str
    node: str | None
    node_prefix: Path | None
    node_reason: str


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(f"{what}: {exc}") from None
    if done.returncode != 0:
        lines = [
            line
            for line in (done.stderr + done.stdout).splitlines()
            if line.strip() and not line.startswith("WARNING")
        ]
        raise PeerUnavailable(f"{what} failed: {lines[-1] if lines else done.returncode}")


def install_wechatpy() -> Path:
    """A virtualenv under ``bench/.peers`` with wechatpy (and redis-py for its RedisStorage)."""
    env_dir = PEERS_DIR / "wechatpy-venv"
    python = env_dir / "bin" / "python"
    stamp = env_dir / f".installed-{WECHATPY_VERSION}"
    if python.exists() and stamp.exists():
        return python
    _log(f"installing wechatpy {WECHATPY_VERSION} into {env_dir} (once)")
    shutil.rmtree(env_dir, ignore_errors=True)
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    except Exception as exc:  # ensurepip missing, disk full, ...
        raise PeerUnavailable(f"cannot create a virtualenv: {exc}") from None
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, *WECHATPY_REQUIREMENTS], "pip install wechatpy")
    _run([str(python), "-c", "import wechatpy, redis"], "import wechatpy")
    stamp.touch()
    return python


def install_wechat_jssdk() -> tuple[str, Path]:
    """``npm install wechat-jssdk`` into ``bench/.peers/node``; the machine's node runs it."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        raise PeerUnavailable("node/npm not on PATH")
    prefix = PEERS_DIR / "node"
    package = prefix / "node_modules" / "wechat-jssdk" / "package.json"
    stamp = prefix / f".installed-{WECHAT_JSSDK_VERSION}"
    if package.exists() and stamp.exists():
        return node, prefix
    _log(f"installing wechat-jssdk {WECHAT_JSSDK_VERSION} into {prefix} (once)")
    prefix.mkdir(parents=True, exist_ok=True)
    _run(
        [
            npm,
            "install",
            f"wechat-jssdk@{WECHAT_JSSDK_VERSION}",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--loglevel=error",
        ],
        "npm install wechat-jssdk",
    )
    if not package.exists():
        raise PeerUnavailable("npm install wechat-jssdk left no package")
    stamp.touch()
    return node, prefix


def install_peers(enabled: bool = True) -> Peers:
    """Install what can be installed; never raises."""
    if not enabled:
        return Peers(None, "skipped (--no-peers)", None, None, "skipped (--no-peers)")
    wechatpy_python: Path | None = None
    wechatpy_reason = ""
    try:
        wechatpy_python = install_wechatpy()
    except PeerUnavailable as exc:
        wechatpy_reason = str(exc)
    node: str | None = None
    node_prefix: Path | None = None
    node_reason = ""
    try:
        node, node_prefix = install_wechat_jssdk()
    except PeerUnavailable as exc:
        node_reason = str(exc)
    return Peers(wechatpy_python, wechatpy_reason, node, node_prefix, node_reason)


def child_env(*, with_repo: bool) -> dict[str, str]:
    """The environment of a child process: the repo importable only for our own code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "PYTHON"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if with_repo:
        env["PYTHONPATH"] = str(REPO_ROOT)
    return env


class LineChild:
    """A child process driven by one line at a time (see ``children/sign_child.py``)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        try:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        except OSError as exc:
            raise PeerUnavailable(f"cannot start {name}: {exc}") from None

    def read_line(self) -> str:
        """The child's next line; the child's stderr tail if it died instead."""
        assert self.process.stdout is not None
        line = _readline_with_timeout(self.process, self.timeout)
        if not line:
            self.close()
            err = self.process.stderr.read() if self.process.stderr else ""
            tail = [x for x in err.strip().splitlines() if x.strip()]
            raise PeerUnavailable(f"{self.name} exited: {tail[-1] if tail else 'no output'}")
        return line.strip()

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise PeerUnavailable(f"{self.name} is gone: {exc}") from None

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(PeerUnavailable):
                self.send("quit")
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def _readline_with_timeout(process: subprocess.Popen[str], timeout: float) -> str:
    """``process.stdout.readline()`` that gives up (killing the child) after ``timeout``."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            return ""
    return process.stdout.readline()
