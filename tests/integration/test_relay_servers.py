"""The OAuth relay as deployed (issue #23): a relay and a target, each an example app in
its production server, on two host names, with FakeWeChat accepting only the relay's.

WeChat sends the code only to the account's OAuth domain (``127.0.0.1`` here); the target
(``localhost``) logs in through the relay: target -> relay -> WeChat -> relay -> target,
by plain redirects, the browser keeping one cookie jar per host. Without
``WECHAT_OAUTH_RELAY`` the same login stops at WeChat's 10003 page. Flask runs under
gunicorn, Starlette under uvicorn; each app keeps its own SQLite store.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from wechat_middleware.testing import FakeWeChat, WeChatBrowser

from ..support.example_page import Page, assert_signed_for, new_openid
from ..support.relay import RELAY_HOST, RelayPair, relay_pair

pytestmark = pytest.mark.slow

KINDS = ["flask+gunicorn-2-workers", "starlette+uvicorn-2-workers"]
CALLBACK_PATH = "/wechat/oauth-callback"
AUTHORIZE_PATH = "/connect/oauth2/authorize"
RELAY_START_PATH = "/wechat/relay/start"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeChat]:
    """WeChat with the relay's host as the account's only OAuth domain (and the website
    app's callback domain, for the QR login)."""
    with FakeWeChat(oauth_domain=RELAY_HOST, web_oauth_domain=RELAY_HOST) as server:
        yield server


@pytest.fixture(scope="module", params=KINDS)
def deployment(
    request: pytest.FixtureRequest, fake: FakeWeChat, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RelayPair]:
    kind: str = request.param
    with relay_pair(kind, fake, tmp_path_factory.mktemp(kind)) as pair:
        yield pair


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_a_login_on_the_target_goes_through_the_relay_and_lands_on_the_page_asked_for(
    deployment: RelayPair, fake: FakeWeChat
) -> None:
    openid = new_openid()
    page_url = deployment.target_url("/?a=1&b=2")
    with WeChatBrowser(openid=openid) as browser:
        landed = browser.get(page_url)

        assert landed.status == 200, landed.urls
        page = Page.parse(landed.text)
        assert page.openid == openid
        assert landed.url == page_url
        assert_signed_for(page, page_url, fake)

        target, relay = urlsplit(deployment.target_origin), urlsplit(deployment.relay_origin)
        fake_netloc = urlsplit(fake.base_url).netloc
        hops = [(urlsplit(hop.url).netloc, urlsplit(hop.url).path) for hop in landed.hops]
        assert hops == [
            (target.netloc, "/"),
            (relay.netloc, RELAY_START_PATH),
            (fake_netloc, AUTHORIZE_PATH),
            (relay.netloc, CALLBACK_PATH),
            (target.netloc, CALLBACK_PATH),
            (target.netloc, "/"),
        ]
        assert [hop.status for hop in landed.hops[:-1]] == [302, 302, 302, 303, 302]

        # WeChat was asked to send its code to the relay, and only the relay saw it.
        authorize = query_of(landed.hops[2].url)
        assert authorize["redirect_uri"] == [deployment.relay_origin + CALLBACK_PATH]
        assert "code" in query_of(landed.hops[3].url)
        back_at_target = query_of(landed.hops[4].url)
        assert "code" not in back_at_target and back_at_target["relay_ticket"][0]
        # The target's state made the whole round trip.
        assert back_at_target["state"] == query_of(landed.hops[1].url)["state"]

        # Logged in on the target: the next visit needs no login.
        again = browser.get(deployment.target_url("/?again=1"))
        assert [hop.status for hop in again.hops] == [200]
        assert Page.parse(again.text).openid == openid
        # No session for the user on the relay: the relay's own pages still ask to log in.
        at_relay = browser.get(deployment.relay_origin + "/", follow_redirects=False)
        assert at_relay.status == 302


def test_the_ticket_url_logs_no_one_in_in_another_browser(deployment: RelayPair) -> None:
    # The ticket is bound to the state cookie of the browser that asked for it.
    victim = new_openid()
    with WeChatBrowser(openid=victim) as browser:
        landed = browser.get(deployment.target_url("/"))
        assert landed.status == 200, landed.urls
        ticket_url = landed.hops[4].url
    with WeChatBrowser(openid=new_openid()) as other:
        replayed = other.get(ticket_url)
    assert victim not in replayed.text


@pytest.mark.parametrize("kind", KINDS)
def test_without_the_relay_the_same_login_fails_at_wechat_with_10003(
    kind: str, fake: FakeWeChat, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("direct")
    with (
        relay_pair(kind, fake, workdir, through_relay=False) as pair,
        WeChatBrowser(openid=new_openid()) as browser,
    ):
        stopped = browser.get(pair.target_url("/?a=1&b=2"))
    assert [hop.status for hop in stopped.hops] == [302, 200]
    assert urlsplit(stopped.url).path == AUTHORIZE_PATH
    assert query_of(stopped.url)["redirect_uri"] == [pair.target_origin + CALLBACK_PATH]
    assert "10003" in stopped.text and "redirect_uri 参数错误" in stopped.text


def test_a_desktop_browser_logs_in_by_qr_code_through_the_relay(
    fake: FakeWeChat, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Step 5 of the contract: via=qrconnect is carried to the relay, which runs the
    # website app's QR login on its own (registered) callback domain.
    env = {
        "WECHAT_PROTECT": "marked",
        "WECHAT_WEB_APP_ID": fake.web_app_id,
        "WECHAT_WEB_APP_SECRET": fake.web_app_secret,
    }
    workdir = tmp_path_factory.mktemp("qr")
    with (
        relay_pair(KINDS[0], fake, workdir, **env) as pair,
        WeChatBrowser(user_agent="desktop") as browser,
    ):
        landed = browser.get(pair.target_url("/account"))
    assert landed.status == 200, landed.urls
    assert urlsplit(landed.url).path == "/account"
    assert Page.parse(landed.text).openid == fake.web_openid(fake.default_openid)
    start = next(hop.url for hop in landed.hops if RELAY_START_PATH in hop.url)
    assert query_of(start)["via"] == ["qrconnect"]
    assert any("/connect/qrconnect" in hop.url for hop in landed.hops)
