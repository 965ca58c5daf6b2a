"""FakeWeCom in a real browser: the JS-SDK stand-in's ``wx.agentConfig`` and the desktop
login page, in Chromium on a page of another origin.

In WeCom mode the stand-in checks ``wx.config`` against the corp ticket (``appId`` is
the CorpID) and ``wx.agentConfig`` against the app's ticket, with the same signature and
URL rules as in WeChat (docs/wecom-and-qrconnect.md section 1.5). ``agentConfig``
answers its own ``success``/``fail`` and works only in WeCom's browser.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from wechat_middleware.testing import FakeWeCom
from wechat_middleware.testing.user_agents import DESKTOP_UA, IOS_WECHAT_UA, WXWORK_UA

from ..support.servers import PageServer
from .conftest import OpenPage
from .test_jssdk_stand_in import REGISTER_THEN_CONFIG as CONFIG
from .test_jssdk_stand_in import events, stand_in_page

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser]

CALLBACK_PATH = "/wecom/login-callback"
NONCE = "Wm3WZYTPz0wzccnW"
# FakeWeChat's stand-in test page (stand_in_page, which needs only the fake's jssdk_url)
# records each result in window.events.
AGENT_CONFIG = """cfg => {
  cfg.success = record("success");
  cfg.fail = record("fail");
  wx.agentConfig(cfg);
}"""


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    with PageServer() as server:
        yield server


def access_token(fake: FakeWeCom) -> str:
    """The first app's token, as the app would fetch it."""
    params = {"corpid": fake.corp_id, "corpsecret": fake.agent_secret()}
    answer = requests.get(f"{fake.api_base}/cgi-bin/gettoken", params=params, timeout=5)
    value: str = answer.json()["access_token"]
    return value


def live_ticket(fake: FakeWeCom, path: str, **params: str) -> str:
    """A ticket as the app would hold it: the app's token, then the ticket."""
    params["access_token"] = access_token(fake)
    answer = requests.get(f"{fake.api_base}/{path}", params=params, timeout=5).json()
    value: str = answer["ticket"]
    return value


def signed(ticket: str, url: str, **fields: Any) -> dict[str, Any]:
    timestamp = int(time.time())
    plain = f"jsapi_ticket={ticket}&noncestr={NONCE}&timestamp={timestamp}&url={url}"
    signature = hashlib.sha1(plain.encode()).hexdigest()
    return {"timestamp": timestamp, "nonceStr": NONCE, "signature": signature, **fields}


def agent_config(fake: FakeWeCom, url: str, **overrides: Any) -> dict[str, Any]:
    """``wx.agentConfig``'s argument, signed with the app ticket for ``url``."""
    ticket = live_ticket(fake, "cgi-bin/ticket/get", type="agent_config")
    fields = {"corpid": fake.corp_id, "agentid": int(fake.agent_id), "jsApiList": ["getContext"]}
    return signed(ticket, url, **fields) | overrides


def run(page: Page, script: str, cfg: dict[str, Any]) -> list[str]:
    """Call ``wx.agentConfig`` or ``wx.config``; the first recorded result (bounded wait)."""
    page.evaluate(script, cfg)
    return events(page, 1)


# --------------------------------------------------------------------------- wx.agentConfig


def test_agent_config_with_the_apps_signature_succeeds(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom
) -> None:
    page = stand_in_page(open_page, pages, fake_wecom, WXWORK_UA)
    assert run(page, AGENT_CONFIG, agent_config(fake_wecom, page.url)) == [
        "success: agentConfig:ok"
    ]
    assert fake_wecom.calls("fake/jssdk/agent_config") == 1  # the preflight is not a check


def test_agent_config_with_a_bad_signature_fails_with_invalid_signature(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom
) -> None:
    # docs/wecom-and-qrconnect.md section 1.2: agentConfig:invalid signature ... e=40093.
    page = stand_in_page(open_page, pages, fake_wecom, WXWORK_UA)
    (event,) = run(page, AGENT_CONFIG, agent_config(fake_wecom, page.url, signature="0" * 40))
    assert event.startswith("fail: agentConfig:") and "invalid signature" in event
    assert "40093" in event


def test_agent_config_outside_wecom_fails(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom
) -> None:
    # docs/wecom-and-qrconnect.md section 1.5: only inside WeCom.
    page = stand_in_page(open_page, pages, fake_wecom, IOS_WECHAT_UA)
    (event,) = run(page, AGENT_CONFIG, agent_config(fake_wecom, page.url))
    assert event.startswith("fail: agentConfig:fail")


def test_agent_config_leaves_ready_and_error_to_wx_config(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom
) -> None:
    page = stand_in_page(open_page, pages, fake_wecom, WXWORK_UA)
    page.evaluate("() => { wx.ready(record('ready')); wx.error(record('error')); }")
    run(page, AGENT_CONFIG, agent_config(fake_wecom, page.url))
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.events") == ["success: agentConfig:ok"]


# --------------------------------------------------------------------------- wx.config


def test_wx_config_with_the_corp_ticket_fires_ready(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom
) -> None:
    # docs/wecom-and-qrconnect.md section 1.5: beta: true, appId = CorpID, the corp ticket.
    page = stand_in_page(open_page, pages, fake_wecom, WXWORK_UA)
    ticket = live_ticket(fake_wecom, "cgi-bin/get_jsapi_ticket")
    cfg = signed(ticket, page.url, beta=True, appId=fake_wecom.corp_id, jsApiList=["invoke"])
    assert run(page, CONFIG, cfg) == ["ready"]


def test_wx_config_signed_with_the_app_ticket_fires_error(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom
) -> None:
    page = stand_in_page(open_page, pages, fake_wecom, WXWORK_UA)
    ticket = live_ticket(fake_wecom, "cgi-bin/ticket/get", type="agent_config")
    cfg = signed(ticket, page.url, beta=True, appId=fake_wecom.corp_id)
    assert run(page, CONFIG, cfg) == ["error: config:invalid signature"]


# --------------------------------------------------------------------------- desktop login


def test_a_desktop_browser_logs_in_by_clicking_scan_on_the_sso_page(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom
) -> None:
    # docs/wecom-and-qrconnect.md section 1.4: the code exchanges to a userid only.
    callback = pages.add(CALLBACK_PATH, "<!doctype html><title>back</title><p>back</p>")
    query = {
        "login_type": "CorpApp",
        "appid": fake_wecom.corp_id,
        "agentid": fake_wecom.agent_id,
        "redirect_uri": callback,
        "state": "desk42",
    }
    page = open_page(user_agent=DESKTOP_UA, mobile=False)
    page.goto(f"{fake_wecom.login_base}/wwlogin/sso/login?{urlencode(query)}", wait_until="load")
    page.click("#scan")  # the phone scans
    page.wait_for_url(f"{callback}?**")
    back = parse_qs(urlsplit(page.url).query)
    assert back["state"] == ["desk42"]
    who = requests.get(
        f"{fake_wecom.api_base}/cgi-bin/auth/getuserinfo",
        params={"access_token": access_token(fake_wecom), "code": back["code"][0]},
        timeout=5,
    ).json()
    assert who == {"errcode": 0, "errmsg": "ok", "userid": fake_wecom.default_userid}
