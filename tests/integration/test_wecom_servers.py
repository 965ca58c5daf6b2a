"""Acceptance tests in WeCom mode: the example apps, unchanged, run as a WeCom self-built
app (WECHAT_PROVIDER=wecom) under gunicorn (4 sync workers) and uvicorn (2 workers),
against FakeWeCom over loopback; the workers share tokens only through the SQLite store.

WeCom facts (docs/wecom-and-qrconnect.md): the app's token, the corp's jsapi ticket and the
app's own ticket are each cached for everyone (sections 1.1 and 1.5); members log in with
``userid``, others with ``openid`` (section 1.3); the URL check answers the decrypted
``echostr`` and pushes are encrypted (section 1.6).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest

from wechat_middleware.testing import WeChatBrowser
from wechat_middleware.testing.fake_wecom import FakeWeCom, WeComMember

from ..support.example_page import Page
from ..support.servers import AppServer, start_wecom_app
from ..support.tickets import signed_with

pytestmark = pytest.mark.slow

CONCURRENT_BROWSERS = 40
GETTOKEN = "cgi-bin/gettoken"
CORP_TICKET = "cgi-bin/get_jsapi_ticket"
AGENT_TICKET = "cgi-bin/ticket/get"
USERDETAIL = "cgi-bin/auth/getuserdetail"


@pytest.fixture
def wecom_server(server_kind: str, fake_wecom: FakeWeCom, tmp_path: Path) -> Iterator[AppServer]:
    """A just-started example app in WeCom mode, with an empty store."""
    with start_wecom_app(server_kind, fake_wecom, tmp_path) as server:
        yield server


def test_40_cold_wecom_browsers_cost_one_token_one_corp_ticket_and_one_app_ticket(
    wecom_server: AppServer, fake_wecom: FakeWeCom
) -> None:
    """WeCom limits ticket fetches an hour: however many workers and members arrive at
    once, each credential is fetched once per expiry (docs section 1.2)."""
    userids = [f"member{index:02d}" for index in range(CONCURRENT_BROWSERS)]
    for userid in userids:
        fake_wecom.add_member(WeComMember(userid=userid))
    landing = threading.Barrier(CONCURRENT_BROWSERS, timeout=60)
    home = wecom_server.url("/")

    def one_member(userid: str) -> tuple[Page, dict[str, object]]:
        with WeChatBrowser(user_agent="wxwork", userid=userid) as browser:

            def together(next_url: str) -> None:
                if next_url == home:
                    landing.wait()

            try:
                page = browser.get(home, before_redirect=together)
            except BaseException:
                landing.abort()
                raise
            assert page.status == 200, page.urls
            query = urlencode({"url": home, "apis": "getContext"})
            config = browser.get(wecom_server.url(f"/wechat/jssdk/config?{query}"))
            assert config.status == 200, config.text
            return Page.parse(page.text), config.json()

    with ThreadPoolExecutor(max_workers=CONCURRENT_BROWSERS) as pool:
        results = list(pool.map(one_member, userids))

    assert [page.userid for page, _ in results] == userids
    corp_ticket = fake_wecom.current_jsapi_ticket()
    agent_ticket = fake_wecom.current_agent_ticket()
    for page, config in results:
        assert page.signature is not None and signed_with(corp_ticket, page.signature, home)
        agent = config["agentConfig"]
        assert isinstance(agent, dict) and signed_with(agent_ticket, agent, home)
    assert fake_wecom.calls(GETTOKEN) == 1
    assert fake_wecom.calls(CORP_TICKET) == 1
    assert fake_wecom.calls(AGENT_TICKET) == 1


def test_wecoms_url_check_is_answered_with_the_bare_echostr(
    wecom_server: AppServer, fake_wecom: FakeWeCom
) -> None:
    result = fake_wecom.check_url(wecom_server.url("/wechat/verify"))
    assert result.ok, (result.status, result.body, result.expected)


def test_a_pushed_text_message_gets_a_sealed_reply(
    wecom_server: AppServer, fake_wecom: FakeWeCom
) -> None:
    xml = (
        "<xml><ToUserName><![CDATA[corp]]></ToUserName>"
        "<FromUserName><![CDATA[lisi]]></FromUserName><CreateTime>1</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi ]]]]><![CDATA[>]]></Content>"
        "<AgentID>1000002</AgentID></xml>"
    )
    result = fake_wecom.push(wecom_server.url("/wechat/verify"), xml)
    assert result.status == 200
    reply = fake_wecom.open_reply(result.body)
    assert "you said: hi ]]" in reply and "<![CDATA[lisi]]>" in reply
