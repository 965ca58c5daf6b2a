"""Acceptance tests in WeCom mode: the example apps, unchanged, run as a WeCom self-built
app (WECHAT_PROVIDER=wecom) under gunicorn (4 sync workers) and uvicorn (2 workers),
against FakeWeCom over loopback; the workers share tokens only through the SQLite store.

WeCom facts (docs/wecom-and-qrconnect.md): the app's token, the corp's jsapi ticket and the
app's own ticket are each cached for everyone (sections 1.1 and 1.5); members log in with
``userid``, others with ``openid`` (section 1.3); the URL check answers the decrypted
``echostr`` and pushes are encrypted (section 1.6).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from wechat_middleware.testing import WeChatBrowser
from wechat_middleware.testing.fake_wecom import FakeWeCom, WeComMember

from ..support.example_page import Page
from ..support.servers import AppServer, start_wecom_app

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


def signed_with(ticket: str | None, signature: dict[str, object], url: str) -> bool:
    plain = (
        f"jsapi_ticket={ticket}&noncestr={signature['nonceStr']}"
        f"&timestamp={signature['timestamp']}&url={url}"
    )
    return hashlib.sha1(plain.encode()).hexdigest() == signature["signature"]


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


def test_a_visitor_from_outside_the_corp_logs_in_with_an_openid(
    wecom_server: AppServer, fake_wecom: FakeWeCom
) -> None:
    openid = fake_wecom.add_visitor()
    with WeChatBrowser(user_agent="wxwork", openid=openid) as browser:
        page = Page.parse(browser.get(wecom_server.url("/")).text)
    assert page.openid == openid and page.userid == ""


def test_the_consent_route_fetches_the_private_fields_once(
    wecom_server: AppServer, fake_wecom: FakeWeCom
) -> None:
    fake_wecom.add_member(WeComMember(userid="lisi", mobile="13800000000"))
    with WeChatBrowser(user_agent="wxwork", userid="lisi") as browser:
        page = browser.get(wecom_server.url("/account"))  # marked snsapi_userinfo
    assert page.status == 200 and Page.parse(page.text).userid == "lisi"
    assert any("scope=snsapi_privateinfo" in url for url in page.urls)
    assert fake_wecom.calls(USERDETAIL) == 1


def test_declining_consent_on_the_consent_route_is_a_cancelled_login(
    wecom_server: AppServer, fake_wecom: FakeWeCom
) -> None:
    with WeChatBrowser(user_agent="wxwork", userid="zhangsan", consent=False) as browser:
        browser.get(wecom_server.url("/"))  # a silent base login first
        page = browser.get(wecom_server.url("/account"))
    assert page.status == 403 and "cancelled" in page.text
    assert fake_wecom.calls(USERDETAIL) == 0


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


@pytest.mark.parametrize(
    "tamper", ["signature", "body", "receiver"], ids=["forged", "tampered", "other-corp"]
)
def test_a_push_that_is_not_wecoms_is_refused(
    wecom_server: AppServer, fake_wecom: FakeWeCom, tamper: str
) -> None:
    stamp = int(fake_wecom.now())
    receiver = "wwAnotherCorp0001" if tamper == "receiver" else None
    params, body = fake_wecom.seal(
        "<xml><A>1</A></xml>", timestamp=stamp, nonce="42", receive_id=receiver
    )
    if tamper == "signature":
        params["msg_signature"] = "0" * 40
    if tamper == "body":
        body = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA")
    answer = requests.post(wecom_server.url("/wechat/verify"), params=params, data=body, timeout=10)
    assert answer.status_code == 403
