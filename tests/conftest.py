"""Shared fixtures: a WeChat wired to the running FakeWeChat, over a real store.

``fake_wechat`` itself comes from our pytest plugin. The clock of everything built
here is the fake's clock, so ``fake_wechat.advance(7200)`` ages tokens on both sides
of the wire at once, without sleeping.
"""

from __future__ import annotations

import os

# Django's settings are the process's: the example's, for tests/test_django.py and the
# Django apps of tests/support/django_apps.py alike (each calls django.setup() when needed).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.stores import Store, open_store
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.browser import TEST_ALLOWED_HOSTS
from wechat_middleware.testing.fake_wecom import FakeWeCom

from .support.apps import ALL_KINDS, AppClient
from .support.fetches import fetches_ended
from .support.marked_apps import FRAMEWORKS
from .support.redis_server import RedisServer

# The failure-report hook (servers' and browsers' logs in a failed test's report).
from .support.reports import pytest_runtest_makereport  # noqa: F401

MakeWeChat = Callable[..., WeChat]
OpenClient = Callable[[str, WeChat], AppClient]


def fake_config(fake: FakeWeChat, **overrides: Any) -> WeChatConfig:
    """A configuration that points every WeChat host at the fake."""
    values: dict[str, Any] = {
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        "token": "server-check-token",
        "secret_key": "test-secret-key-0123456789abcdef",
        "api_base": fake.api_base,
        "open_base": fake.open_base,
        # The in-process host and this machine's (the real servers are on loopback).
        "allowed_hosts": TEST_ALLOWED_HOSTS,
    }
    values.update(overrides)
    return WeChatConfig(**values)


def fake_wecom_config(
    fake: FakeWeCom, agent_id: str | None = None, **overrides: Any
) -> WeChatConfig:
    """A WeCom app (``agent_id``'s, the fake's first by default) on the fake, with its
    callback settings."""
    agent_id = agent_id or fake.agent_id
    values: dict[str, Any] = {
        "token": fake.callback_token,
        "encoding_aes_key": fake.encoding_aes_key,
        "secret_key": "test-secret-key-0123456789abcdef",
        "api_base": fake.api_base,
        "open_base": fake.open_base,
        "login_base": fake.login_base,
        "allowed_hosts": TEST_ALLOWED_HOSTS,
        **overrides,
    }
    return WeChatConfig.for_wecom(fake.corp_id, fake.agent_secret(agent_id), agent_id, **values)


@pytest.fixture(params=["memory", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each token test runs against the in-process store and the SQLite store."""
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/tokens.sqlite3"


@pytest.fixture(params=ALL_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """An adapter test runs over WSGI, ASGI and Django's two handlers (tests/support/apps.py)."""
    return str(request.param)


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    """A login test runs on Flask, Starlette and FastAPI (tests/support/marked_apps.py)."""
    return str(request.param)


@pytest.fixture
def make_wechat(fake_wechat: FakeWeChat, tmp_path: Path) -> Iterator[MakeWeChat]:
    built: list[WeChat] = []

    def make(store: str | Store = "memory://", **overrides: Any) -> WeChat:
        """A WeChat on the fake; pass another WeChat's ``.store`` to share it."""
        config = fake_config(fake_wechat, **overrides)
        if isinstance(store, str):
            store = open_store(store, clock=fake_wechat.now)
        wechat = WeChat(config, store=store, clock=fake_wechat.now)
        wechat.client.backoff = 0.01  # keep retry tests quick; the count is what matters
        built.append(wechat)
        return wechat

    yield make
    fake_wechat.clear_faults()  # so a fetch a page left running ends soon
    for wechat in built:
        fetches_ended(wechat, timeout=30)  # it must not go on into the next test
        wechat.close()


@pytest.fixture
def open_client() -> Iterator[OpenClient]:
    """``open_client(kind, wechat)``: a test app over ``kind`` (one of ``ALL_KINDS``) with
    its in-process client, closed after the test."""
    opened: list[AppClient] = []

    def open_one(kind: str, wechat: WeChat) -> AppClient:
        opened.append(AppClient(kind, wechat))
        return opened[-1]

    yield open_one
    for client in opened:
        client.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session; tests that stop or restart Redis start
    their own instead."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A URL to database 0 of the session's Redis, emptied for this test."""
    import redis

    url = redis_server.url + "/0"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url
