"""The OAuth relay in a real browser (issue #23): Chromium with WeChat's User-Agent opens a
page on the target host (``localhost``), is sent through the relay (``127.0.0.1``, the
account's only OAuth domain at FakeWeChat) and lands back on that page, logged in, on
Flask under gunicorn and Starlette under uvicorn. Without ``WECHAT_OAUTH_RELAY`` the
same login stops at WeChat's 10003 page. Each host has its own cookies, as in a phone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA

from ..support.relay import RELAY_HOST, RelayPair, relay_pair
from .conftest import OpenPage

pytestmark = [pytest.mark.slow, pytest.mark.browser]

KINDS = ["flask+gunicorn-2-workers", "starlette+uvicorn-2-workers"]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeChat]:
    """WeChat with the relay's host as the account's only OAuth domain (overrides the
    conftest's, so the pages' WeixinJSBridge is this fake's too)."""
    with FakeWeChat(oauth_domain=RELAY_HOST) as server:
        yield server


@pytest.fixture(scope="module", params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def deployment(
    kind: str, fake: FakeWeChat, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RelayPair]:
    workdir = tmp_path_factory.mktemp(kind)
    with relay_pair(kind, fake, workdir, WECHAT_JSSDK_URL=fake.jssdk_url) as pair:
        yield pair


def test_a_page_on_the_target_logs_in_through_the_relay_and_lands_back_logged_in(
    deployment: RelayPair, fake: FakeWeChat, open_page: OpenPage, screenshot_path: Path
) -> None:
    openid = fake.default_openid  # who the fake's authorize page logs in
    page = open_page(user_agent=ANDROID_WECHAT_UA, mobile=True)
    wanted = deployment.target_url("/?from=relay&n=1")
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))

    page.goto(wanted, wait_until="load")
    page.screenshot(path=str(screenshot_path), full_page=True)

    # The authorize URL's #wechat_redirect stays on (redirects keep a fragment), as in WeChat.
    assert page.url.partition("#")[0] == wanted
    assert page.text_content("#openid") == openid
    hosts = [urlsplit(url).hostname for url in seen if urlsplit(url).path.startswith("/wechat/")]
    assert RELAY_HOST in hosts  # the relay was on the way
    # Logged in on the target: the next page needs no trip to WeChat.
    before = fake.calls("connect/oauth2/authorize")
    page.goto(deployment.target_url("/?again=1"), wait_until="load")
    assert page.text_content("#openid") == openid
    assert fake.calls("connect/oauth2/authorize") == before


def test_without_the_relay_the_same_login_stops_at_wechats_10003_page(
    kind: str, fake: FakeWeChat, open_page: OpenPage, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp(f"{kind}-direct")
    with relay_pair(
        kind, fake, workdir, through_relay=False, WECHAT_JSSDK_URL=fake.jssdk_url
    ) as pair:
        page = open_page(user_agent=ANDROID_WECHAT_UA, mobile=True)
        page.goto(pair.target_url("/?from=relay&n=1"), wait_until="load")
        assert urlsplit(page.url).path == "/connect/oauth2/authorize"
        body = page.text_content("body") or ""
    assert "10003" in body and "redirect_uri 参数错误" in body
