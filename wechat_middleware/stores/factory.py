"""Pick a store from one URL, so a deployment changes stores with WECHAT_STORE alone."""

from __future__ import annotations

import getpass
import importlib
import os
import re
import tempfile
import time
from collections.abc import Callable

from ..errors import ConfigError
from .base import Store

_FORMS = (
    "memory:// (one process), sqlite:///relative/path.db or sqlite:////absolute/path.db "
    "(one machine), redis://[:password@]host:6379/0, rediss://... or unix:///path/redis.sock "
    "(many machines)"
)


def open_store(url: str, *, clock: Callable[[], float] = time.time) -> Store:
    """Open the store ``url`` names (the value of WECHAT_STORE).

    ``clock`` drives expiry in the memory and SQLite stores; Redis keeps its own time.
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
    if scheme in ("redis", "rediss", "unix"):
        try:
            module = importlib.import_module("wechat_middleware.stores.redis")
        except ImportError as exc:
            raise ConfigError(
                f"WECHAT_STORE={scheme}://... needs the Redis client: "
                "pip install 'wechat-middleware[redis]'"
            ) from exc
        store: Store = module.RedisStore.from_url(url)
        return store
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
    """A SQLite file in the temporary directory, one per user.

    Every worker of one user on one machine computes the same path, so they share tokens
    with no configuration; other users get their own file and never read these tokens.
    """
    getuid = getattr(os, "getuid", None)
    if getuid is not None:
        user = str(getuid())
    else:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "user"
    user = re.sub(r"[^A-Za-z0-9_.-]", "_", user)
    directory = os.path.abspath(tempfile.gettempdir())
    return "sqlite:///" + os.path.join(directory, f"wechat_middleware-{user}.sqlite3")
