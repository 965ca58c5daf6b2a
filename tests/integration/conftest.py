"""Fixtures for the integration tests: FakeWeChat plus an example app in a real server.

``app_server`` is started once per module and server kind (both kinds run every test);
``cold_app_server`` is a fresh server on a fresh SQLite store, for tests where a cold
start is the point. A failing test shows the log its servers wrote while it ran.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from wechat_middleware.testing import FakeWeChat

from .browser import WECHAT_IOS_UA, WeChatBrowser
from .servers import SERVER_COMMANDS, AppServer, app_environment, start_server

MakeBrowser = Callable[..., WeChatBrowser]


def _start(kind: str, fake: FakeWeChat, workdir: Path) -> AppServer:
    env = app_environment(
        app_id=fake.app_id,
        app_secret=fake.app_secret,
        wechat_base_url=fake.base_url,
        store_path=workdir / "store.sqlite3",
    )
    return start_server(kind, env, workdir)


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
    server = _start(server_kind, shared_fake, tmp_path_factory.mktemp(server_kind))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cold_app_server(
    server_kind: str, fake_wechat: FakeWeChat, tmp_path: Path
) -> Iterator[AppServer]:
    """A just-started server with an empty store, on this test's own ``fake_wechat``."""
    server = _start(server_kind, fake_wechat, tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def open_browser() -> Iterator[MakeBrowser]:
    """``open_browser(openid=..., user_agent=...)``: browsers closed after the test."""
    opened: list[WeChatBrowser] = []

    def make(*, user_agent: str = WECHAT_IOS_UA, openid: str | None = None) -> WeChatBrowser:
        browser = WeChatBrowser(user_agent=user_agent, openid=openid)
        opened.append(browser)
        return browser

    yield make
    for browser in opened:
        browser.close()


_LOG_OFFSETS = pytest.StashKey[dict[int, int]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Attach to a failed test's report what its servers logged during the test."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    # A fixture may give one server or several (a tuple, e.g. two hosts).
    values = [v for value in funcargs.values() for v in _as_tuple(value)]
    servers = [value for value in values if isinstance(value, AppServer)]
    if report.when == "setup":
        item.stash[_LOG_OFFSETS] = {id(s): s.log_size() for s in servers}
    elif report.failed:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for server in servers:
            text = server.log(offsets.get(id(server), 0)) or "(nothing logged)"
            report.sections.append((f"{server.kind} log, port {server.port}", text))


def _as_tuple(value: object) -> tuple[object, ...]:
    return value if isinstance(value, tuple) else (value,)
