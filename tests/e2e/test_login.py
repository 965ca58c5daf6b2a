"""Login per route in a real browser, on the example apps under gunicorn and uvicorn.

With ``WECHAT_PROTECT=marked`` the examples' home page is public, ``/account`` needs
``snsapi_userinfo`` and ``/api/orders`` a login. A page's ``fetch`` to the API gets 401
JSON; following its ``login_url`` logs in through FakeWeChat and the call then works.
The examples' ``on_login`` hook writes a line per login to a file every worker shares.
Outside WeChat, the website app's QR login (docs/wechat-protocol.md section 9).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA, DESKTOP_UA

from ..support.servers import SERVER_COMMANDS, AppServer, start_app
from .conftest import OpenPage

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.browser]

FETCH = """async () => {
  const answer = await fetch('/api/orders', {headers: {Accept: 'application/json'}});
  return {status: answer.status, body: await answer.json()};
}"""


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("users") / "users.jsonl"


@pytest.fixture(scope="module", params=sorted(SERVER_COMMANDS))
def marked_server(
    request: pytest.FixtureRequest,
    fake: FakeWeChat,
    tmp_path_factory: pytest.TempPathFactory,
    users_file: Path,
) -> Iterator[AppServer]:
    """An example app with only its marked routes protected, QR login on the desktop."""
    workdir = tmp_path_factory.mktemp(request.param)
    with start_app(
        request.param,
        fake,
        workdir,
        WECHAT_JSSDK_URL=fake.jssdk_url,
        WECHAT_PROTECT="marked",
        WECHAT_WEB_APP_ID=fake.web_app_id,
        WECHAT_WEB_APP_SECRET=fake.web_app_secret,
        EXAMPLE_USERS_FILE=str(users_file),
    ) as server:
        yield server


def logins(users_file: Path) -> list[dict[str, Any]]:
    if not users_file.exists():
        return []
    return [json.loads(line) for line in users_file.read_text().splitlines()]


def test_the_hook_runs_once_per_login_across_workers(
    marked_server: AppServer, open_page: OpenPage, users_file: Path, fake: FakeWeChat
) -> None:
    before = len(logins(users_file))
    for _ in range(6):  # six phones: six logins, spread over the workers
        page = open_page(user_agent=ANDROID_WECHAT_UA, mobile=True)
        page.goto(marked_server.url("/account"), wait_until="load")
        assert page.text_content("#openid") == fake.default_openid
        page.goto(marked_server.url("/account"), wait_until="load")  # logged in: no hook
    assert len(logins(users_file)) == before + 6


def test_logout_from_the_form_works(marked_server: AppServer, open_page: OpenPage) -> None:
    page = open_page(user_agent=ANDROID_WECHAT_UA, mobile=True)
    page.goto(marked_server.url("/account"), wait_until="load")
    page.goto(marked_server.url("/second"), wait_until="load")
    assert page.text_content("#openid")
    page.click("#logout")
    page.wait_for_load_state("load")
    assert urlsplit(page.url).path == "/second"
    assert page.text_content("#openid") == ""
    assert page.evaluate(FETCH)["status"] == 401
    page.goto(marked_server.url("/account"), wait_until="load")  # no silent login now
    assert "Please log in" in (page.text_content("body") or "")


def test_a_logout_posted_from_another_site_is_refused(
    marked_server: AppServer, open_page: OpenPage
) -> None:
    page = open_page(user_agent=ANDROID_WECHAT_UA, mobile=True)
    page.goto(marked_server.url("/account"), wait_until="load")
    openid = page.text_content("#openid")
    # Another origin (localhost is not 127.0.0.1) posts a form to our logout path.
    other = marked_server.url("/second").replace("127.0.0.1", "localhost")
    page.goto(other, wait_until="load")
    target = marked_server.url("/wechat/logout")
    page.evaluate(
        """(target) => { const form = document.createElement('form');
        form.method = 'post'; form.action = target; document.body.appendChild(form);
        form.submit(); }""",
        target,
    )
    page.wait_for_load_state("load")
    assert "cross-site logout refused" in (page.text_content("body") or "")
    page.goto(marked_server.url("/account"), wait_until="load")
    assert page.text_content("#openid") == openid


def test_a_desktop_browser_logs_in_by_scanning_the_qr_code(
    marked_server: AppServer, fake: FakeWeChat, open_page: OpenPage, screenshot_path: Path
) -> None:
    page: Page = open_page(user_agent=DESKTOP_UA, mobile=False)
    page.goto(marked_server.url("/account"), wait_until="load")
    assert "/connect/qrconnect" in page.url  # WeChat's QR page (the fake's)
    page.click("#scan")  # the phone scans
    page.wait_for_load_state("load")
    page.screenshot(path=str(screenshot_path), full_page=True)
    assert urlsplit(page.url).path == "/account"
    assert page.text_content("#openid") == fake.web_openid(fake.default_openid)
