"""The store contract, and what the SQLite store promises across processes.

The contract runs over every store: memory, SQLite and a real Redis. Redis keeps its
own time, so expiry tests use short TTLs and ``wait``, which moves the injected clock
for the other stores and really sleeps for Redis.
"""

from __future__ import annotations

import inspect
import logging
import multiprocessing
import os
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wechat_middleware.errors import ConfigError, StoreError
from wechat_middleware.stores import default_store_url, open_store
from wechat_middleware.stores.base import Broadcast, Store
from wechat_middleware.stores.memory import MemoryStore
from wechat_middleware.stores.redis import RedisStore
from wechat_middleware.stores.sqlite import SQLiteStore


class Clock:
    """A clock the test moves by hand, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Store]:
    opened: Store
    if request.param == "memory":
        opened = MemoryStore(clock)
    elif request.param == "sqlite":
        opened = SQLiteStore(str(tmp_path / "store.sqlite3"), clock=clock)
    else:
        opened = RedisStore.from_url(request.getfixturevalue("redis_url"))
    yield opened
    opened.close()


@pytest.fixture
def wait(store: Store, clock: Clock) -> Callable[[float], None]:
    """Let ``seconds`` pass for ``store``: on its clock, or for Redis in real time
    (plus a little, as Redis keeps a key through the millisecond it expires in)."""
    if isinstance(store, RedisStore):
        return lambda seconds: time.sleep(seconds + 0.02)
    return clock.advance


# The contract every store keeps.


def _assert_methods_match(protocol: type, store: object) -> list[str]:
    """isinstance() only looks for the names: each method must also take the protocol's
    arguments, by the same names and kinds (``only_if`` keyword-only), with its defaults."""
    methods = [n for n, v in vars(protocol).items() if inspect.isfunction(v) and n[0] != "_"]
    for name in methods:
        wanted = inspect.signature(getattr(protocol, name)).parameters
        given = inspect.signature(getattr(type(store), name)).parameters
        for param in wanted.values():
            assert param.name in given, f"{type(store).__name__}.{name} lacks {param.name!r}"
            got = given[param.name]
            assert (got.kind, got.default) == (param.kind, param.default), (name, got)
        extra = [p for p in given.values() if p.name not in wanted]
        assert all(p.default is not inspect.Parameter.empty for p in extra), (name, extra)
    return methods


def test_store_satisfies_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)
    methods = _assert_methods_match(Store, store)
    assert {"get", "set", "delete", "acquire_lock", "release_lock", "close"} <= set(methods)


def test_only_the_redis_store_offers_change_notices(store: Store) -> None:
    # Broadcast is optional: the token manager checks for it and does without.
    assert isinstance(store, Broadcast) == isinstance(store, RedisStore)
    if isinstance(store, Broadcast):
        assert _assert_methods_match(Broadcast, store) == ["publish", "subscribe"]


def test_missing_key_reads_as_none(store: Store) -> None:
    assert store.get("nothing") is None


def test_value_is_readable_until_its_ttl_passes(
    store: Store, wait: Callable[[float], None]
) -> None:
    store.set("token", "abc", ttl=0.5)
    wait(0.25)
    assert store.get("token") == "abc"
    wait(0.25)
    assert store.get("token") is None


def test_set_replaces_value_and_ttl(store: Store, wait: Callable[[float], None]) -> None:
    store.set("token", "old", ttl=0.1)
    store.set("token", "new", ttl=60)
    wait(0.2)
    assert store.get("token") == "new"


def test_values_of_several_kilobytes_round_trip(store: Store) -> None:
    value = "令牌-" + "x" * 8000
    store.set("big", value, ttl=60)
    assert store.get("big") == value


def test_delete_removes_the_key(store: Store) -> None:
    store.set("token", "abc", ttl=60)
    store.delete("token")
    store.delete("never-set")
    assert store.get("token") is None


def test_delete_only_if_matching_value_removes_the_key(store: Store) -> None:
    store.set("token", "stale", ttl=60)
    store.delete("token", only_if="stale")
    assert store.get("token") is None


def test_delete_only_if_keeps_a_newer_value_stored_meanwhile(store: Store) -> None:
    store.set("token", "fresh", ttl=60)
    store.delete("token", only_if="stale")
    assert store.get("token") == "fresh"


def test_lock_is_refused_while_another_owner_holds_it(store: Store) -> None:
    assert store.acquire_lock("refresh", "a", ttl=30)
    assert not store.acquire_lock("refresh", "b", ttl=30)


def test_lock_is_reentrant_for_its_owner_and_extends_its_ttl(
    store: Store, wait: Callable[[float], None]
) -> None:
    assert store.acquire_lock("refresh", "a", ttl=0.5)
    wait(0.3)
    assert store.acquire_lock("refresh", "a", ttl=0.5)
    wait(0.3)  # past the first TTL, within the extended one
    assert not store.acquire_lock("refresh", "b", ttl=30)


def test_lock_is_released_only_by_its_owner(store: Store) -> None:
    assert store.acquire_lock("refresh", "a", ttl=30)
    store.release_lock("refresh", "b")
    assert not store.acquire_lock("refresh", "b", ttl=30)
    store.release_lock("refresh", "a")
    assert store.acquire_lock("refresh", "b", ttl=30)


def test_lock_held_by_crashed_owner_expires(store: Store, wait: Callable[[float], None]) -> None:
    assert store.acquire_lock("refresh", "crashed", ttl=0.2)
    wait(0.2)
    assert store.acquire_lock("refresh", "b", ttl=30)
    store.release_lock("refresh", "crashed")
    assert not store.acquire_lock("refresh", "c", ttl=30)


def test_locks_with_different_names_are_independent(store: Store) -> None:
    assert store.acquire_lock("access_token", "a", ttl=30)
    assert store.acquire_lock("jsapi_ticket", "b", ttl=30)


def test_counter_counts_from_one(store: Store) -> None:
    assert [store.incr("logins", 60) for _ in range(3)] == [1, 2, 3]
    assert store.incr("other", 60) == 1


def test_counter_window_starts_at_the_first_count_and_is_not_extended(
    store: Store, wait: Callable[[float], None]
) -> None:
    """A fixed window (the login bound of SECURITY.md finding 4): counting does not renew it."""
    store.incr("logins", 0.5)
    wait(0.3)
    assert store.incr("logins", 0.5) == 2
    wait(0.3)
    assert store.incr("logins", 0.5) == 1  # the first window ended: a new one starts


def test_counter_is_atomic_across_threads(store: Store) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def count() -> None:
        for _ in range(25):
            value = store.incr("shared", 60)
            with lock:
                seen.append(value)

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(1, 201))


# Expired locks do not pile up (SECURITY.md finding 3): every OAuth callback claims one.


def test_memory_store_sweeps_expired_locks_as_locks_are_claimed(clock: Clock) -> None:
    store = MemoryStore(clock)
    for i in range(2000):
        store.acquire_lock(f"state:{i}", "owner", 600)
    clock.advance(601)
    for i in range(300):
        store.acquire_lock(f"new:{i}", "owner", 600)
    assert len(store._locks) <= 300  # the 2,000 expired claims are gone, with no set()


def test_sqlite_store_sweeps_expired_locks_in_bounded_batches(tmp_path: Path, clock: Clock) -> None:
    store = SQLiteStore(str(tmp_path / "store.sqlite3"), clock=clock)
    for i in range(200):
        store.acquire_lock(f"state:{i}", "owner", 600)
    clock.advance(601)
    store.acquire_lock("fresh", "owner", 600)
    remaining = locks_in(tmp_path / "store.sqlite3")
    assert remaining == 200 + 1 - 32  # one claim removes at most one batch
    for i in range(10):
        store.acquire_lock(f"more:{i}", "owner", 600)
    assert locks_in(tmp_path / "store.sqlite3") == 11
    store.close()


def test_sqlite_lock_expiry_is_indexed(tmp_path: Path) -> None:
    """Finding expired locks must not scan the table under the write lock."""
    SQLiteStore(str(tmp_path / "store.sqlite3")).close()
    with sqlite3.connect(tmp_path / "store.sqlite3") as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT rowid FROM locks WHERE expires_at <= 1 LIMIT 32"
        ).fetchall()
    assert any("locks_expires_at" in str(row) for row in plan), plan


def test_sqlite_expired_lock_of_another_owner_can_be_taken_before_it_is_swept(
    tmp_path: Path, clock: Clock
) -> None:
    store = SQLiteStore(str(tmp_path / "store.sqlite3"), clock=clock)
    for i in range(100):  # more expired locks than one sweep removes
        store.acquire_lock(f"a:{i}", "crashed", 1)
    store.acquire_lock("z", "crashed", 1)
    clock.advance(2)
    assert store.acquire_lock("z", "me", 30)
    store.close()


def locks_in(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM locks").fetchone()[0])


# SQLite: one file shared by processes and threads.


def _read_then_write(path: str) -> None:
    store = SQLiteStore(path)
    if store.get("from-parent") != "hello":
        raise SystemExit(3)
    store.set("from-child", "world", ttl=60)
    store.close()


def _run(target: Callable[..., None], *args: object, method: str = "spawn") -> None:
    process = multiprocessing.get_context(method).Process(target=target, args=args)
    process.start()
    process.join(30)
    assert process.exitcode == 0


def test_sqlite_value_written_by_one_process_is_read_by_another(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    store = SQLiteStore(path)
    store.set("from-parent", "hello", ttl=60)
    _run(_read_then_write, path)
    assert store.get("from-child") == "world"


def _use_inherited_store(store: SQLiteStore) -> None:
    if store.get("before-fork") != "1":
        raise SystemExit(3)
    store.set("from-forked-child", "2", ttl=60)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork()")
def test_sqlite_store_opened_before_fork_works_in_the_child(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "forked.sqlite3"))
    store.set("before-fork", "1", ttl=60)
    _run(_use_inherited_store, store, method="fork")
    assert store.get("from-forked-child") == "2"


def race_for_lock(url: str, log: str, wins_per_thread: int) -> None:
    """One process of the lock race: 8 threads each enter the critical section."""
    store = open_store(url)
    failures: list[BaseException] = []

    def worker(number: int) -> None:
        owner = f"{os.getpid()}-{number}"
        deadline = time.monotonic() + 20
        wins = 0
        try:
            while wins < wins_per_thread and time.monotonic() < deadline:
                if not store.acquire_lock("refresh", owner, ttl=30):
                    time.sleep(0.001)
                    continue
                try:
                    with open(log, "a") as f:
                        f.write(f"+{owner}\n")
                    count = int(store.get("counter") or 0)
                    time.sleep(0.001)
                    store.set("counter", str(count + 1), ttl=60)
                    with open(log, "a") as f:
                        f.write(f"-{owner}\n")
                finally:
                    store.release_lock("refresh", owner)
                wins += 1
            assert wins == wins_per_thread, f"{owner} starved"
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    if failures:
        raise failures[0]


def test_sqlite_lock_admits_one_holder_at_a_time_across_processes_and_threads(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "race.sqlite3")
    log = tmp_path / "critical-sections.log"
    store = SQLiteStore(path)
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=race_for_lock, args=(f"sqlite:///{path}", str(log), 2))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]

    lines = log.read_text().splitlines()
    entries, exits = lines[0::2], lines[1::2]
    assert len(entries) == 4 * 8 * 2
    assert [e[1:] for e in entries] == [x[1:] for x in exits]
    assert all(e.startswith("+") for e in entries) and all(x.startswith("-") for x in exits)
    assert store.get("counter") == str(4 * 8 * 2)


def test_sqlite_expired_rows_are_removed_by_later_writes(tmp_path: Path, clock: Clock) -> None:
    path = str(tmp_path / "purge.sqlite3")
    store = SQLiteStore(path, clock=clock)
    for n in range(10):
        store.set(f"openid-{n}", "token", ttl=10)
    clock.advance(11)
    store.set("fresh", "token", ttl=10)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT key FROM kv").fetchall() == [("fresh",)]


def test_sqlite_expired_counters_are_removed_by_later_counts(tmp_path: Path, clock: Clock) -> None:
    """The login bound writes a counter per client address and minute (SECURITY.md
    finding 4): counting alone must clear the old ones, as a login may never set()."""
    path = str(tmp_path / "counters.sqlite3")
    store = SQLiteStore(path, clock=clock)
    for n in range(500):
        store.incr(f"exchanges:2001:db8:{n:x}::/64", 60)
    clock.advance(61)
    for _ in range(20):  # batches of 32: 16 counts clear 500 expired counters
        store.incr("exchanges:*", 60)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT key FROM kv").fetchall() == [("exchanges:*",)]
    store.close()


def test_sqlite_corrupt_file_raises_store_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.sqlite3"
    path.write_bytes(b"this is not a SQLite database\n" * 200)
    with pytest.raises(StoreError) as caught:
        SQLiteStore(str(path))
    assert str(path) in str(caught.value)
    assert "delete it" in str(caught.value)


def test_sqlite_path_below_a_regular_file_raises_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = blocker / "store.sqlite3"
    with pytest.raises(StoreError) as caught:
        SQLiteStore(str(path))
    assert str(path) in str(caught.value)
    assert "WECHAT_STORE" in str(caught.value)


def test_sqlite_locked_too_long_raises_store_error(tmp_path: Path) -> None:
    path = str(tmp_path / "busy.sqlite3")
    store = SQLiteStore(path, timeout=0.1)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked") as caught:
            store.set("token", "abc", ttl=60)
        assert path in str(caught.value)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.set("token", "abc", ttl=60)
    assert store.get("token") == "abc"


def test_sqlite_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "closed.sqlite3"))
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get("token")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_sqlite_file_is_readable_by_its_user_only(tmp_path: Path) -> None:
    path = tmp_path / "private.sqlite3"
    SQLiteStore(str(path)).set("token", "secret", ttl=60)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_an_existing_sqlite_file_readable_by_others_is_made_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file made before (an older version, a copy, ``sqlite3`` on the command line
    under umask 022) keeps its mode: tokens readable by every local user until this
    store, its owner, tightens it (issue #20 item 12)."""
    path = tmp_path / "loose.sqlite3"
    first = SQLiteStore(str(path))
    first.set("token", "secret", ttl=60)
    first.close()
    files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    for file in files:
        file.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="wechat_middleware"):
        store = SQLiteStore(str(path))
    assert {file.name: stat.S_IMODE(file.stat().st_mode) for file in files} == {
        file.name: 0o600 for file in files
    }
    assert store.get("token") == "secret"
    assert any(str(path) in r.getMessage() and "0644" in r.getMessage() for r in caplog.records)
    store.close()


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() != 0, reason="needs a file of another user"
)
def test_a_loose_sqlite_file_of_another_user_is_left_alone_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "theirs.sqlite3"
    SQLiteStore(str(path)).close()
    path.chmod(0o644)
    os.chown(path, 65534, 65534)  # nobody's: not ours to change
    with caplog.at_level(logging.WARNING, logger="wechat_middleware"):
        SQLiteStore(str(path)).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    (line,) = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
    assert "readable by other users" in line and "another user" in line


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_sqlite_symlink_planted_in_shared_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "store.sqlite3").symlink_to(tmp_path / "elsewhere.sqlite3")
    with pytest.raises(StoreError, match="symlink"):
        SQLiteStore(str(shared / "store.sqlite3"))


# Store URLs.


def test_memory_url_opens_a_memory_store() -> None:
    assert isinstance(open_store("memory://"), MemoryStore)


def test_sqlite_url_with_three_slashes_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///data/tokens.db")
    assert isinstance(store, SQLiteStore)
    assert store.path == str(tmp_path / "data" / "tokens.db")


def test_sqlite_url_with_four_slashes_is_absolute(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/tokens.db")
    assert isinstance(store, SQLiteStore)
    assert store.path == str(tmp_path / "tokens.db")


def test_store_url_passes_the_clock_on(clock: Clock) -> None:
    store = open_store("memory://", clock=clock)
    store.set("token", "abc", ttl=10)
    clock.advance(10)
    assert store.get("token") is None


def test_default_store_url_is_one_file_in_the_users_private_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every worker of one user computes the same file, in a directory only they own."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    url = default_store_url()
    assert url == default_store_url()
    store = open_store(url)
    assert isinstance(store, SQLiteStore)
    assert Path(store.path).parent == tmp_path / "state" / "wechat_middleware"
    assert Path(store.path).name.endswith(".sqlite3")
    assert stat.S_IMODE(os.lstat(Path(store.path).parent).st_mode) == 0o700


@pytest.mark.parametrize(
    "url",
    ["postgres://admin:s3cret@db:5432/tokens", "admin:s3cret@db", "memory://s3cret@host"],
)
def test_unusable_store_url_raises_config_error_without_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "WECHAT_STORE" in message
    assert "sqlite:///" in message
    assert "s3cret" not in message


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite://h/x"])
def test_sqlite_url_without_a_shared_file_raises_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="WECHAT_STORE"):
        open_store(url)


def test_redis_url_without_the_redis_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes the import fail as if the extra were not installed.
    monkeypatch.setitem(sys.modules, "wechat_middleware.stores.redis", None)
    with pytest.raises(ConfigError, match=r"pip install 'redis>=4.5'") as caught:
        open_store("redis://:s3cret@localhost:6379/0")
    assert "s3cret" not in str(caught.value)
