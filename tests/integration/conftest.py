"""Fixtures for the integration tests: FakeWeChat plus an example app in a real server.

``app_server`` is started once per module and server kind (every kind runs every test);
``cold_app_server`` is a fresh server on a fresh SQLite store, for tests where a cold
start is the point. A failing test shows the log its servers wrote while it ran
(tests/support/reports.py). Browsers are the plugin's ``wechat_browser`` and its ``new()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wechat_middleware.testing import FakeWeChat

from ..support.servers import SERVER_COMMANDS, AppServer, start_app


@pytest.fixture(scope="module", params=sorted(SERVER_COMMANDS))
def server_kind(request: pytest.FixtureRequest) -> str:
    """Every test runs against each server kind (its test id)."""
    kind: str = request.param
    return kind


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeWeChat]:
    """One FakeWeChat for the module's long-lived servers."""
    with FakeWeChat() as fake:
        yield fake


@pytest.fixture(scope="module")
def app_server(
    server_kind: str, shared_fake: FakeWeChat, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    """The example app for ``server_kind``, on ``shared_fake``, once per module."""
    with start_app(server_kind, shared_fake, tmp_path_factory.mktemp(server_kind)) as server:
        yield server


@pytest.fixture
def cold_app_server(
    server_kind: str, fake_wechat: FakeWeChat, tmp_path: Path
) -> Iterator[AppServer]:
    """A just-started server with an empty store, on this test's own ``fake_wechat``."""
    with start_app(server_kind, fake_wechat, tmp_path) as server:
        yield server
