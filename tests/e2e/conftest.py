"""Fixtures for the end-to-end tests: a real Chromium, driven by Playwright, on loopback.

Chromium is Debian's (``/usr/bin/chromium``), never a browser Playwright downloads; one
browser serves a test module and each test gets a fresh context (no shared cookies). The
example apps run in real servers (tests/support/servers.py) loading the official JS-SDKs
from npm, unmodified (tests/support/official_sdks.py). A page opened with WeChat's or
WeCom's User-Agent gets the fake's ``window.WeixinJSBridge`` before its own scripts, as
WeChat's client injects its own (``native_side``). A failing test shows its servers' logs
and the browser's console (tests/support/reports.py).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from scripts.npm_pinned import Unavailable
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.fake_wecom import FakeWeCom

from ..support.official_sdks import OfficialSDKs, serve_official_sdks
from ..support.servers import REPO_ROOT, SERVER_COMMANDS, AppServer, start_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

# Flags for a quiet, self-contained headless Chromium: no sandbox (root in CI), no GPU, no
# network of its own (updates, sync, QUIC probing), nothing shown on first run.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAUNCH_TIMEOUT_MS = 30_000
ACTION_TIMEOUT_MS = 10_000
NAVIGATION_TIMEOUT_MS = 20_000
ARTIFACTS = REPO_ROOT / "test-artifacts" / "e2e"

CHROMIUM_MISSING = (
    "Chromium is not installed, and the end-to-end tests need a real browser. "
    "Install it with `apt-get install -y chromium` (`bash scripts/test` does this)."
)
PLAYWRIGHT_MISSING = (
    "Playwright for Python is not installed. Install it with "
    "`pip install 'playwright>=1.40'` (it is in the project's [test] extra; "
    "`bash scripts/test` installs it). Do not run `playwright install`: the tests "
    "drive Debian's chromium."
)


def chromium_path() -> str:
    """Debian's Chromium, or a failed test saying how to install it (never a skip)."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module, closed (its processes gone) after it.

    Not per session: while Playwright's sync API is running, its asyncio loop counts as
    running in this thread, and every later test that runs a loop (anyio, ASGI) would fail.
    """
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(PLAYWRIGHT_MISSING, pytrace=False)
    with sync_playwright() as playwright:
        # A plain launch: Playwright gives the browser a fresh temporary profile.
        launched = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class BrowserLog:
    """What the pages of one test printed to the console or threw (all of it is the
    test's own: a failing test's report shows it)."""

    lines: list[str] = field(default_factory=list)
    log_title = "browser console"

    def log_size(self) -> int:
        return 0

    def log(self, since: int = 0) -> str:
        return "\n".join(self.lines[since:])

    def console(self, message: ConsoleMessage) -> None:
        self.lines.append(f"console.{message.type}: {message.text}")

    def page_error(self, error: Exception) -> None:
        self.lines.append(f"uncaught: {error}")


OpenPage = Callable[..., "Page"]


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def native_side(fake: FakeWeChat) -> FakeWeChat | FakeWeCom | None:
    """Whose ``window.WeixinJSBridge`` a WeChat page gets (a module overrides this fixture
    for WeCom, or returns None for a page that brings its own, like the stand-in)."""
    return fake


@pytest.fixture
def open_page(
    browser: Browser, browser_log: BrowserLog, native_side: FakeWeChat | FakeWeCom | None
) -> Iterator[OpenPage]:
    """``open_page(user_agent=..., mobile=..., bridge_delay_ms=-1)``: a page in a fresh
    browser context. With WeChat's (or WeCom's) User-Agent it gets ``native_side``'s bridge
    before its own scripts; ``bridge_delay_ms`` >= 0 makes the bridge arrive that much
    later, with ``WeixinJSBridgeReady``, as on a slow client."""
    contexts: list[BrowserContext] = []

    def open_one(*, user_agent: str, mobile: bool, bridge_delay_ms: int = -1) -> Page:
        context = browser.new_context(
            user_agent=user_agent,
            viewport={"width": 390, "height": 844} if mobile else {"width": 1280, "height": 800},
            is_mobile=mobile,
            has_touch=mobile,
        )
        if native_side is not None and "micromessenger" in user_agent.lower():
            context.add_init_script(script=native_side.bridge_script(delay_ms=bridge_delay_ms))
        contexts.append(context)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        page = context.new_page()
        page.on("console", browser_log.console)
        page.on("pageerror", browser_log.page_error)
        return page

    yield open_one
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot_path(request: pytest.FixtureRequest) -> Path:
    """Where this test saves its screenshot: test-artifacts/e2e/<test name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / (re.sub(r"[^A-Za-z0-9._+-]+", "_", request.node.name).strip("_") + ".png")


# --------------------------------------------------------------------------- app servers


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeChat]:
    """The module's FakeWeChat: WeChat's API, its OAuth pages and the JS-SDK stand-in."""
    with FakeWeChat() as server:
        yield server


@pytest.fixture(scope="session")
def official_sdks() -> Iterator[OfficialSDKs]:
    """The official jweixin and WeCom SDKs from npm on a loopback server (skipped, with the
    reason, only when npm itself is missing or cannot reach its registry)."""
    try:
        with serve_official_sdks() as sdks:
            yield sdks
    except Unavailable as exc:
        pytest.skip(f"the official JS-SDKs are not available: {exc}")


@pytest.fixture(scope="module", params=sorted(SERVER_COMMANDS))
def app_server(
    request: pytest.FixtureRequest,
    fake: FakeWeChat,
    official_sdks: OfficialSDKs,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AppServer]:
    """Each example app in its production server (its test id), loading the official
    jweixin."""
    kind: str = request.param
    workdir = tmp_path_factory.mktemp(kind)
    with start_app(kind, fake, workdir, WECHAT_JSSDK_URL=official_sdks.jweixin_url) as server:
        yield server
