"""Pick a store from one URL, so a deployment changes stores with WECHAT_STORE alone."""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable

from ..errors import ConfigError, StoreError
from .base import Store

_FORMS = (
    "memory:// (one process), sqlite:///relative/path.db or sqlite:////absolute/path.db "
    "(one machine), redis://[:password@]host:6379/0, rediss://..., unix:///path/redis.sock, "
    "redis+sentinel://[:password@]host:26379[,host:port...]/service_name[/db] or "
    "redis+cluster://[:password@]host:6379[,host:port...]/ (many machines)"
)


def open_store(url: str, *, clock: Callable[[], float] = time.time) -> Store:
    """Open the store ``url`` names (the value of WECHAT_STORE).

    ``clock`` drives expiry in the memory and SQLite stores; Redis keeps its own time.
    A Redis store is checked before it is returned: a Redis that refuses the scripts
    or publish/subscribe it needs is a StoreError here, at start-up.
    """
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not sep or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        # The value is not echoed: a mistyped URL may still hold a password.
        raise ConfigError(f"WECHAT_STORE must be a URL: {_FORMS}")
    if scheme == "memory":
        if rest.strip("/"):
            raise ConfigError(f"WECHAT_STORE: memory:// takes no host or path; use {_FORMS}")
        from .memory import MemoryStore

        return MemoryStore(clock)
    if scheme == "sqlite":
        return _open_sqlite(rest, clock)
    if scheme in ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster"):
        try:
            module = importlib.import_module("wechat_middleware.stores.redis")
        except ImportError as exc:
            raise ConfigError(
                f"WECHAT_STORE={scheme}://... needs the Redis client: "
                "pip install 'redis>=4.5' (the [redis] extra)"
            ) from exc
        store = module.RedisStore.from_url(url)
        try:
            store.check()
        except StoreError:
            store.close()
            raise
        opened: Store = store
        return opened
    raise ConfigError(f"WECHAT_STORE has the unknown scheme {scheme}://; use {_FORMS}")


def _open_sqlite(rest: str, clock: Callable[[], float]) -> Store:
    # SQLAlchemy's convention: the host part is empty, so after "sqlite://" comes "/"
    # and then the path, which is absolute when it starts with another "/".
    if not rest.startswith("/"):
        raise ConfigError(
            "WECHAT_STORE: a sqlite URL has three slashes before a relative path "
            f"and four before an absolute one; use {_FORMS}"
        )
    path = rest[1:]
    if not path or path == ":memory:":
        raise ConfigError(
            "WECHAT_STORE: sqlite:/// needs a file path that every worker shares; "
            "use memory:// for a store inside one process"
        )
    from .sqlite import SQLiteStore

    return SQLiteStore(path, clock=clock)


def default_store_url() -> str:
    """The embedded SQLite file in a private state directory of this user.

    Every worker of one user on one machine computes the same path, so they share
    tokens with no configuration. The directory is this user's own (created 0700 and
    checked with ``lstat``): a file directly in a shared directory such as ``/tmp``
    could be pre-empted by another local user (a planted ``-wal`` file or a symlink)
    who would then read every token written to it.
    """
    return "sqlite:///" + os.path.join(private_state_dir(), "tokens.sqlite3")


def private_state_dir() -> str:
    """``$XDG_STATE_HOME/wechat_middleware`` (``~/.local/state/...``), made private.

    When the home directory cannot be used (a service account without one), a
    directory of this user's own under the temporary directory is used instead,
    held to the same checks.
    """
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # Windows: the per-user application data directory is private
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
        path = os.path.join(base, "wechat_middleware")
        os.makedirs(path, exist_ok=True)
        return path
    state_home = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    candidates = []
    if os.path.isabs(state_home):
        candidates.append(os.path.join(state_home, "wechat_middleware"))
    candidates.append(os.path.join(tempfile.gettempdir(), f"wechat_middleware-{getuid()}"))
    problems = []
    for path in candidates:
        try:
            return _make_private(path, getuid())
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
    raise StoreError(
        "no private directory for the default token store ("
        + "; ".join(problems)
        + "); set WECHAT_STORE, e.g. sqlite:////var/lib/myapp/wechat.sqlite3"
    )


def _make_private(path: str, uid: int) -> str:
    """Create ``path`` 0700, or accept it only if it is this user's real directory."""
    with contextlib.suppress(FileExistsError):
        os.makedirs(path, mode=0o700)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{path} is a symlink or not a directory")
    if info.st_uid != uid:
        raise OSError(f"{path} belongs to another user (uid {info.st_uid})")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)  # ours: close it to other users before any token lands
    return path
