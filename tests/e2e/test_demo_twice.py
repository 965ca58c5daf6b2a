"""README command one, twice in a row, in a real browser: "JS-SDK: ready" both times.

The demo keeps tokens in its SQLite store. A second run starts another FakeWeChat,
which issues other tickets; a signature made with the first run's ticket is rejected
by WeChat's browser ("config:invalid signature"). Here Chromium with WeChat's
User-Agent loads the demo page each time, and the JS-SDK stand-in asks that run's fake
whether WeChat would accept the page's signature.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wechat_middleware.testing.browser import IOS_WECHAT_UA

from ..test_demo import running_demo
from .conftest import OpenPage

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SETTLED = "() => document.getElementById('wx-status').textContent !== 'loading'"


@pytest.fixture
def native_side() -> None:
    """The demo's stand-in brings the bridge of the demo's own fake."""
    return None


def test_the_demo_shows_jssdk_ready_on_its_first_and_second_run(
    open_page: OpenPage, tmp_path: Path, screenshot_path: Path
) -> None:
    store = tmp_path / "demo.sqlite3"  # one store for both runs, as the default would be
    for run in ("first", "second"):
        with running_demo(store) as demo:
            page = open_page(user_agent=IOS_WECHAT_UA, mobile=True)
            page.goto(demo.base_url + "/?a=1&b=2")
            page.wait_for_function(SETTLED)
            status = page.text_content("#wx-status")
            page.screenshot(path=str(screenshot_path).replace(".png", f"-{run}.png"))
            assert status == "ready", f"{run} run: JS-SDK: {status}"
            assert page.text_content("#openid")
