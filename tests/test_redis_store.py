"""What the Redis store promises beyond the contract (tests/test_stores.py runs that
over Redis too): URLs, expiry kept by Redis, locks across processes, failing clearly
while Redis is down and recovering when it is back, and change notices.

Every test talks to a real redis-server; tests that stop or restart Redis start their
own so the session's server stays up.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.connection import SSLConnection, UnixDomainSocketConnection

from wechat_middleware.errors import ConfigError, StoreError
from wechat_middleware.stores import open_store
from wechat_middleware.stores.redis import RedisStore

from .support.redis_server import RedisServer
from .test_stores import race_for_lock

PASSWORD = "s3cret-pa55"
Messages = queue.Queue[tuple[str, str | None]]


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    opened = RedisStore.from_url(redis_url)
    yield opened
    opened.close()


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A Redis this test may stop and restart, with a password to keep out of messages."""
    with RedisServer(password=PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def secured_server() -> Iterator[RedisServer]:
    with RedisServer(password=PASSWORD) as server:
        yield server


def _collect(messages: Messages, channel: str) -> Callable[[str | None], None]:
    return lambda message: messages.put((channel, message))


def _next(messages: Messages, timeout: float = 5.0) -> tuple[str, str | None]:
    return messages.get(timeout=timeout)


# URLs.


def test_store_url_opens_a_redis_store(redis_url: str) -> None:
    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    store.set("token", "abc", ttl=60)
    assert store.get("token") == "abc"
    store.close()


def test_password_in_the_url_opens_a_server_that_requires_one(
    secured_server: RedisServer,
) -> None:
    store = RedisStore.from_url(secured_server.url + "/2")
    store.set("token", "abc", ttl=60)
    assert store.get("token") == "abc"
    assert PASSWORD not in repr(store)
    assert repr(store) == f"<RedisStore redis://127.0.0.1:{secured_server.port}/2>"
    store.close()


@pytest.mark.parametrize("auth", [":wrong-password@", "", "default:wrong-password@"])
def test_wrong_or_missing_password_raises_store_error_without_the_password(
    secured_server: RedisServer, auth: str
) -> None:
    store = RedisStore.from_url(f"redis://{auth}127.0.0.1:{secured_server.port}/0")
    with pytest.raises(StoreError) as caught:
        store.set("token", "abc", ttl=60)
    message = str(caught.value)
    assert f"redis://127.0.0.1:{secured_server.port}/0" in message
    assert "WECHAT_STORE" in message
    assert "wrong-password" not in message
    store.close()


def test_rediss_url_connects_over_tls() -> None:
    store = RedisStore.from_url("rediss://:s3cret@cache.example.com:6380/1")
    pool = store.client.connection_pool  # type: ignore[union-attr]
    assert issubclass(pool.connection_class, SSLConnection)
    assert store.description == "rediss://cache.example.com:6380/1"
    assert "s3cret" not in repr(store)
    store.close()


def test_unix_socket_url_connects_through_the_socket(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(f"unix://{redis_server.unix_socket}?db=1")
    pool = store.client.connection_pool  # type: ignore[union-attr]
    assert issubclass(pool.connection_class, UnixDomainSocketConnection)
    assert store.description == f"unix://{redis_server.unix_socket}?db=1"
    store.set("token", "abc", ttl=60)
    assert store.get("token") == "abc"
    store.close()


def test_url_defaults_time_out_quickly_and_the_query_string_overrides_them() -> None:
    defaults = RedisStore.from_url("redis://localhost:6379/0")
    kwargs = defaults.client.connection_pool.connection_kwargs  # type: ignore[union-attr]
    assert kwargs["socket_timeout"] == 1.0
    assert kwargs["socket_connect_timeout"] == 1.0
    assert kwargs["health_check_interval"] == 30
    assert kwargs["decode_responses"] is True
    tuned = RedisStore.from_url("redis://localhost:6379/0?socket_timeout=5")
    kwargs = tuned.client.connection_pool.connection_kwargs  # type: ignore[union-attr]
    assert kwargs["socket_timeout"] == 5.0
    defaults.close()
    tuned.close()


def test_malformed_url_raises_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        RedisStore.from_url("redis://:s3cret@localhost:port/0")
    assert "WECHAT_STORE" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["redis://user:s3cret@[::1/0", "redis://:s3cret@[::1]:port/0", "redis://:pa/s3cret@host:1/0"],
    ids=["unclosed-bracket", "bad-port-v6", "slash-in-password"],
)
def test_a_url_urllib_cannot_split_raises_config_error_without_the_password(url: str) -> None:
    """Not a traceback out of the error handler (``urlsplit`` raises on "[::1")."""
    with pytest.raises(ConfigError) as caught:
        RedisStore.from_url(url)
    assert "WECHAT_STORE" in str(caught.value)
    assert "s3cret" not in str(caught.value) + repr(caught.value.__cause__)


# Expiry and locks.


def test_values_and_locks_expire_in_redis_itself(store: RedisStore) -> None:
    store.set("token", "abc", ttl=60)
    assert store.acquire_lock("refresh", "a", ttl=30)
    assert 0 < store.client.pttl("kv:token") <= 60_000
    assert 0 < store.client.pttl("lock:refresh") <= 30_000


def test_values_and_locks_with_the_same_name_do_not_collide(store: RedisStore) -> None:
    store.set("refresh", "value", ttl=60)
    assert store.acquire_lock("refresh", "a", ttl=30)
    store.release_lock("refresh", "a")
    assert store.get("refresh") == "value"


def test_prefix_separates_stores_sharing_a_database(redis_url: str) -> None:
    blue = RedisStore.from_url(redis_url, prefix="blue:")
    green = RedisStore.from_url(redis_url, prefix="green:")
    blue.set("token", "b", ttl=60)
    assert green.get("token") is None
    assert blue.acquire_lock("refresh", "a", ttl=30)
    assert green.acquire_lock("refresh", "b", ttl=30)
    blue.close()
    green.close()


def test_client_returning_bytes_still_gives_str(redis_url: str) -> None:
    store = RedisStore(redis.Redis.from_url(redis_url))  # decode_responses=False
    store.set("token", "令牌", ttl=60)
    assert store.get("token") == "令牌"
    assert store.acquire_lock("refresh", "a", ttl=30)
    store.release_lock("refresh", "a")
    assert store.acquire_lock("refresh", "b", ttl=30)
    store.close()


def test_lock_is_not_released_by_another_owner(store: RedisStore) -> None:
    assert store.acquire_lock("refresh", "a", ttl=30)
    store.release_lock("refresh", "b")
    assert store.client.get("lock:refresh") == "a"
    assert not store.acquire_lock("refresh", "b", ttl=30)


def test_expired_lock_can_be_retaken_and_its_old_owner_cannot_release_it(
    store: RedisStore,
) -> None:
    assert store.acquire_lock("refresh", "crashed", ttl=0.1)
    time.sleep(0.15)
    assert store.acquire_lock("refresh", "b", ttl=30)
    store.release_lock("refresh", "crashed")
    assert not store.acquire_lock("refresh", "c", ttl=30)


def test_lock_admits_one_holder_at_a_time_across_processes_and_threads(
    store: RedisStore, redis_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "critical-sections.log"
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=race_for_lock, args=(redis_url, str(log), 2)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0]

    lines = log.read_text().splitlines()
    entries, exits = lines[0::2], lines[1::2]
    assert len(entries) == 2 * 8 * 2
    assert [e[1:] for e in entries] == [x[1:] for x in exits]
    assert all(e.startswith("+") for e in entries) and all(x.startswith("-") for x in exits)
    assert store.get("counter") == str(2 * 8 * 2)


# Redis down, and back.


def test_unreachable_redis_raises_store_error_quickly_naming_the_store(
    own_server: RedisServer,
) -> None:
    store = RedisStore.from_url(own_server.url + "/3")
    own_server.stop()
    for operation in (
        lambda: store.get("token"),
        lambda: store.set("token", "abc", ttl=60),
        lambda: store.delete("token", only_if="abc"),
        lambda: store.acquire_lock("refresh", "a", ttl=30),
        lambda: store.release_lock("refresh", "a"),
        lambda: store.publish("changed", "access_token"),
    ):
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            operation()
        assert time.monotonic() - started < 1.0  # within the 1 s socket timeout
        message = str(caught.value)
        assert message.startswith(f"token store redis://127.0.0.1:{own_server.port}/3 is ")
        assert "unreachable" in message and "WECHAT_STORE" in message
        assert PASSWORD not in message
    store.close()


def test_store_recovers_after_redis_restarts_without_being_reopened(
    own_server: RedisServer,
) -> None:
    store = RedisStore.from_url(own_server.url + "/0")
    store.set("token", "before", ttl=60)
    assert store.acquire_lock("refresh", "a", ttl=30)
    own_server.stop()
    with pytest.raises(StoreError):
        store.get("token")
    own_server.start()
    assert store.get("token") is None  # nothing is persisted
    store.set("token", "after", ttl=60)
    assert store.get("token") == "after"
    assert store.acquire_lock("refresh", "b", ttl=30)  # the scripts are loaded again
    store.delete("token", only_if="after")
    assert store.get("token") is None
    store.close()


def test_closed_store_raises_store_error(store: RedisStore) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get("token")
    with pytest.raises(StoreError, match="closed"):
        store.subscribe("changed", lambda message: None)


# Change notices.


def test_published_message_reaches_subscribers_of_that_channel_only(redis_url: str) -> None:
    publisher = RedisStore.from_url(redis_url, prefix="app:")
    subscriber = RedisStore.from_url(redis_url, prefix="app:")
    other_app = RedisStore.from_url(redis_url, prefix="other:")
    messages: Messages = queue.Queue()
    subscriber.subscribe("changed", _collect(messages, "changed"))
    subscriber.subscribe("unrelated", _collect(messages, "unrelated"))
    other_app.subscribe("changed", _collect(messages, "other-app"))

    publisher.publish("changed", "access_token")
    assert _next(messages) == ("changed", "access_token")
    publisher.publish("changed", "jsapi_ticket")
    assert _next(messages) == ("changed", "jsapi_ticket")
    time.sleep(0.1)
    assert messages.empty()
    for store in (publisher, subscriber, other_app):
        store.close()


def test_failing_callback_is_logged_and_others_still_hear(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore.from_url(redis_url)
    messages: Messages = queue.Queue()

    def broken(message: str | None) -> None:
        raise ValueError("subscriber bug")

    store.subscribe("changed", broken)
    store.subscribe("changed", _collect(messages, "changed"))
    store.publish("changed", "one")
    store.publish("changed", "two")
    assert [_next(messages), _next(messages)] == [("changed", "one"), ("changed", "two")]
    assert "a subscriber of 'changed' failed" in caplog.text
    store.close()


def _listener_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "wechat_middleware-redis-listener"]


def test_one_listener_thread_per_store_stopped_by_close(redis_url: str) -> None:
    before = len(_listener_threads())
    store = RedisStore.from_url(redis_url)
    store.subscribe("a", lambda message: None)
    store.subscribe("b", lambda message: None)
    assert len(_listener_threads()) == before + 1
    store.close()
    assert len(_listener_threads()) == before


def test_subscriber_hears_none_after_redis_restarts_then_messages_again(
    own_server: RedisServer,
) -> None:
    store = RedisStore.from_url(own_server.url + "/0")
    messages: Messages = queue.Queue()
    store.subscribe("changed", _collect(messages, "changed"))
    store.subscribe("other", _collect(messages, "other"))
    own_server.restart()
    assert sorted([_next(messages), _next(messages)]) == [("changed", None), ("other", None)]
    store.publish("changed", "access_token")
    assert _next(messages) == ("changed", "access_token")
    store.close()


def test_subscriber_hears_none_when_its_connection_is_cut(redis_url: str) -> None:
    # Redis stays up: redis-py reconnects within one read, and the store still notices.
    store = RedisStore.from_url(redis_url)
    messages: Messages = queue.Queue()
    store.subscribe("changed", _collect(messages, "changed"))
    assert store.client.client_kill_filter(_type="pubsub") >= 1
    assert _next(messages) == ("changed", None)
    store.publish("changed", "access_token")
    assert _next(messages) == ("changed", "access_token")
    store.close()


def test_subscribing_while_redis_is_down_starts_when_it_is_back(own_server: RedisServer) -> None:
    store = RedisStore.from_url(own_server.url + "/0")
    own_server.stop()
    messages: Messages = queue.Queue()
    started = time.monotonic()
    store.subscribe("changed", _collect(messages, "changed"))
    assert time.monotonic() - started < 1.5
    own_server.start()
    assert _next(messages) == ("changed", None)
    store.publish("changed", "access_token")
    assert _next(messages) == ("changed", "access_token")
    store.close()


def _child_listens(store: RedisStore, heard: list[str | None]) -> None:
    heard.clear()
    store.get("token")  # any use in the child starts its own listener
    deadline = time.monotonic() + 5
    while None not in heard and time.monotonic() < deadline:
        time.sleep(0.01)
    if None not in heard:
        raise SystemExit(3)  # a new listener first says it may have missed messages
    store.publish("changed", "from-child")
    while "from-child" not in heard and time.monotonic() < deadline:
        time.sleep(0.01)
    if "from-child" not in heard:
        raise SystemExit(4)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork()")
def test_forked_child_gets_its_own_listener(store: RedisStore) -> None:
    heard: list[str | None] = []
    store.subscribe("changed", heard.append)
    process = multiprocessing.get_context("fork").Process(
        target=_child_listens, args=(store, heard)
    )
    process.start()
    process.join(30)
    assert process.exitcode == 0
    time.sleep(0.05)
    assert heard == ["from-child"]  # the parent heard the child, and no None


def test_redis_server_without_redis_on_path_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("REDIS_SERVER", raising=False)
    server = RedisServer()
    with pytest.raises(RuntimeError, match="apt-get install redis-server"):
        server.start()
    server.close()
