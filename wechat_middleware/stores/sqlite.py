"""The embedded default store: one SQLite file shared by every worker on a machine.

gunicorn and uvicorn run several processes, each with several threads; they must all
see one access token, or each would fetch its own and invalidate the others'. SQLite
in WAL mode lets readers run while one writer writes, and ``BEGIN IMMEDIATE`` makes
writers queue on ``busy_timeout`` instead of failing. A lock is a row with an owner
and an expiry, so a worker killed while refreshing blocks the others for one TTL only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator

from ..errors import StoreError

log = logging.getLogger("wechat_middleware")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv"
    " (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at)",
    "CREATE TABLE IF NOT EXISTS locks"
    " (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS locks_expires_at ON locks (expires_at)",
)

_PUT = "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?, ?, ?)"
# Expired rows are removed a few at a time by writers, so cleaning never makes one
# write slow and needs no timer thread; the indexes find them without a table scan.
_PURGE = "DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE expires_at <= ? LIMIT 32)"
_PURGE_LOCKS = (
    "DELETE FROM locks WHERE rowid IN (SELECT rowid FROM locks WHERE expires_at <= ? LIMIT 32)"
)


class _ThreadConnections:
    """One process's connections, one per thread (a connection is not thread-safe)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.local = threading.local()
        self._mutex = threading.Lock()
        self._open: list[tuple[threading.Thread, sqlite3.Connection]] = []

    def add(self, conn: sqlite3.Connection) -> None:
        # Servers that start a thread per request would otherwise leak a connection
        # per request: whoever opens a connection closes those of finished threads.
        self.local.conn = conn
        with self._mutex:
            dead = [c for t, c in self._open if not t.is_alive()]
            self._open = [(t, c) for t, c in self._open if t.is_alive()]
            self._open.append((threading.current_thread(), conn))
        for c in dead:
            c.close()

    def close_all(self) -> None:
        with self._mutex:
            conns, self._open = self._open, []
        for _, c in conns:
            c.close()


class SQLiteStore:
    """A :class:`~wechat_middleware.stores.base.Store` in the SQLite file at ``path``.

    ``timeout`` is how long a write waits for other writers before giving up with a
    :class:`StoreError`. Every SQLite failure becomes a ``StoreError`` that names the
    file and what to do about it.
    """

    def __init__(
        self, path: str, clock: Callable[[], float] = time.time, timeout: float = 5.0
    ) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self._clock = clock
        self._timeout = timeout
        self._closed = False
        # Connections inherited through fork(): SQLite forbids using them in the child,
        # closing included, so they stay referenced and untouched for the store's life.
        self._inherited: list[_ThreadConnections] = []
        self._prepare_file()
        self._conns = _ThreadConnections()
        with self._write() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def get(self, key: str) -> str | None:
        conn = self._connection()
        try:
            row = conn.execute(
                "SELECT value FROM kv WHERE key = ? AND expires_at > ?", (key, self._clock())
            ).fetchone()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        return None if row is None else str(row[0])

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._write() as conn:
            now = self._clock()
            conn.execute(_PUT, (key, value, now + ttl))
            conn.execute(_PURGE, (now,))

    def delete(self, key: str, *, only_if: str | None = None) -> None:
        with self._write() as conn:
            if only_if is None:
                conn.execute("DELETE FROM kv WHERE key = ?", (key,))
            else:
                conn.execute("DELETE FROM kv WHERE key = ? AND value = ?", (key, only_if))

    def incr(self, key: str, ttl: float) -> int:
        with self._write() as conn:
            now = self._clock()
            row = conn.execute(
                "SELECT value, expires_at FROM kv WHERE key = ? AND expires_at > ?", (key, now)
            ).fetchone()
            count, expires_at = (1, now + ttl) if row is None else (int(row[0]) + 1, row[1])
            conn.execute(_PUT, (key, str(count), expires_at))
            conn.execute(_PURGE, (now,))  # counters too: the login bound writes one per client
            return count

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        with self._write() as conn:
            now = self._clock()
            conn.execute(_PURGE_LOCKS, (now,))
            row = conn.execute(
                "SELECT owner, expires_at FROM locks WHERE name = ?", (name,)
            ).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO locks (name, owner, expires_at) VALUES (?, ?, ?)",
                (name, owner, now + ttl),
            )
            return True

    def release_lock(self, name: str, owner: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner))

    def close(self) -> None:
        self._closed = True
        if self._conns.pid == os.getpid():
            self._conns.close_all()

    def _prepare_file(self) -> None:
        directory = os.path.dirname(self.path)
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"SQLite store {self.path}: cannot create the directory {directory} "
                f"({exc.strerror or exc}); create it, or set WECHAT_STORE to a writable path"
            ) from exc
        self._refuse_foreign_files(directory)
        # Created here rather than by SQLite so tokens are readable by this user only;
        # SQLite gives the -wal and -shm files the same permissions.
        with contextlib.suppress(OSError):
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        self._keep_private()

    def _files(self) -> tuple[str, ...]:
        """The database and the files SQLite keeps beside it, all holding tokens."""
        return tuple(self.path + suffix for suffix in ("", "-wal", "-shm", "-journal"))

    def _keep_private(self) -> None:
        """A file made before (an older version, a copy, the ``sqlite3`` shell under
        umask 022) keeps its mode: tokens readable by every local user. Ours are made
        0600; another user's are left alone, with a warning."""
        getuid = getattr(os, "getuid", None)
        if getuid is None:
            return
        for name in self._files():
            try:
                info = os.stat(name)  # through a link: SQLite opens what it points to
            except OSError:
                continue
            mode = stat.S_IMODE(info.st_mode)
            if not mode & 0o077:
                continue
            if info.st_uid == getuid():
                try:
                    os.chmod(name, mode & 0o700)
                except OSError as exc:
                    log.warning("SQLite store: cannot make %s private (%s)", name, exc)
                    continue
                log.warning(
                    "SQLite store: %s was readable by other users (mode %04o): made it %04o",
                    name,
                    mode,
                    mode & 0o700,
                )
            else:
                log.warning(
                    "SQLite store: %s is readable by other users (mode %04o) and belongs to "
                    "another user, so it was left as it is: the tokens in it can be read by "
                    "others; make it 0600 (chmod 600), or set WECHAT_STORE to a file of yours",
                    name,
                    mode,
                )

    def _refuse_foreign_files(self, directory: str) -> None:
        """In a shared directory such as /tmp, another user could plant the file (or a
        symlink) first and then read every token written to it."""
        getuid = getattr(os, "getuid", None)
        if getuid is None or not os.stat(directory).st_mode & stat.S_IWOTH:
            return
        for name in self._files():
            try:
                info = os.lstat(name)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(info.st_mode) or info.st_uid != getuid():
                raise StoreError(
                    f"SQLite store {self.path}: {name} is a symlink or belongs to another "
                    f"user in the shared directory {directory}, so tokens written there could "
                    "be read by others; remove it, or set WECHAT_STORE to a path in a "
                    "private directory"
                )

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"SQLite store {self.path}: the store is closed")
        conns = self._conns
        if conns.pid != os.getpid():
            self._inherited.append(conns)
            conns = self._conns = _ThreadConnections()
        conn: sqlite3.Connection | None = getattr(conns.local, "conn", None)
        if conn is None:
            conn = self._connect()
            conns.add(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            self._enable_wal(conn)
            # In WAL mode NORMAL loses at most the last writes on power loss, never
            # consistency; a lost token is simply fetched again.
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc) from exc
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switching a new file to WAL needs an exclusive lock that SQLite does not wait
        for on busy_timeout, so workers starting together on a new file take turns."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the write lock from its first statement.

        A deferred transaction that reads and then writes (taking a lock does) can fail
        at once with SQLITE_BUSY when another process wrote in between; BEGIN IMMEDIATE
        waits on busy_timeout instead, and makes check-then-set atomic.
        """
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc) from exc
            raise

    def _error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            advice = (
                "the file is not a SQLite database or is damaged; it only caches tokens, "
                "so delete it (they are fetched again) or set WECHAT_STORE to another path"
            )
        elif "locked" in text or "busy" in text:
            advice = (
                f"another process kept it locked for more than {self._timeout:g}s; look for "
                "a hung worker, keep the file off network filesystems, or use redis://"
            )
        elif "readonly" in text or "unable to open" in text:
            advice = (
                "it cannot be opened for writing; make sure this user can write the file "
                "and its directory, or set WECHAT_STORE to a writable path"
            )
        else:
            advice = "set WECHAT_STORE to another path, or delete the file to start afresh"
        return StoreError(f"SQLite store {self.path}: {text} ({advice})")
