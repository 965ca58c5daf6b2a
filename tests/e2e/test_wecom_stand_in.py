"""FakeWeCom in a real browser: WeCom's native side (``window.WeixinJSBridge``) asked as
WeCom's official SDK asks it, and the desktop login page, in Chromium on a page of another
origin that has loaded @wecom/jssdk from npm.

The bridge checks ``preVerifyJSAPI`` (the corp's identity) against the corp ticket
(``appId`` is the CorpID) and ``agentConfig`` (the app's) against the app's ticket, with
the same signature rules as in WeChat and the current URL on every platform
(docs/wecom-and-qrconnect.md section 1.5). ``agentConfig`` works only in
WeCom's browser.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests

from wechat_middleware.testing import FakeWeCom
from wechat_middleware.testing.user_agents import IOS_WECHAT_UA, WXWORK_UA

from ..support.official_sdks import OfficialSDKs
from ..support.servers import PageServer
from .conftest import OpenPage
from .test_jssdk_stand_in import events, sdk_page

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser]

NONCE = "Wm3WZYTPz0wzccnW"
# The calls WeCom's SDK (@wecom/jssdk 2.4.4: ensureAgentConfigReady, ensureCorpConfigReady)
# makes of WeCom's native side; the page (sdk_page) records each answer in window.events.
AGENT_CONFIG = """cfg => WeixinJSBridge.invoke("agentConfig", cfg, record("agentConfig"))"""
CONFIG = """cfg => WeixinJSBridge.invoke("preVerifyJSAPI", {
  appId: cfg.appId, verifyAppId: cfg.appId, verifySignType: "sha1",
  verifyTimestamp: String(cfg.timestamp), verifyNonceStr: cfg.nonceStr,
  verifySignature: cfg.signature, verifyJsApiList: cfg.jsApiList || [], verifyOpenTagList: []
}, record("config"))"""
CALL = """api => WeixinJSBridge.invoke(api, {}, record(api))"""


@pytest.fixture
def native_side(fake_wecom: FakeWeCom) -> FakeWeCom:
    """WeCom's pages here get the bridge of the fake the tests sign with."""
    return fake_wecom


def wecom_page(open_page: OpenPage, pages: PageServer, sdks: OfficialSDKs, ua: str) -> Page:
    return sdk_page(open_page, pages, sdks.wecom_url, ua)


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
    """Ask the bridge for ``agentConfig`` or ``preVerifyJSAPI``; the first recorded answer."""
    page.evaluate(script, cfg)
    return events(page, 1)


# --------------------------------------------------------------------------- agentConfig


def test_agent_config_with_the_apps_signature_succeeds(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom, official_sdks: OfficialSDKs
) -> None:
    page = wecom_page(open_page, pages, official_sdks, WXWORK_UA)
    assert run(page, AGENT_CONFIG, agent_config(fake_wecom, page.url)) == [
        "agentConfig: agentConfig:ok"
    ]
    assert fake_wecom.calls("fake/jssdk/agent_config") == 1  # the preflight is not a check


def test_agent_config_with_a_bad_signature_fails_with_invalid_signature(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom, official_sdks: OfficialSDKs
) -> None:
    # docs/wecom-and-qrconnect.md section 1.2: agentConfig:invalid signature ... e=40093.
    page = wecom_page(open_page, pages, official_sdks, WXWORK_UA)
    (event,) = run(page, AGENT_CONFIG, agent_config(fake_wecom, page.url, signature="0" * 40))
    assert event.startswith("agentConfig: agentConfig:") and "invalid signature" in event
    assert "40093" in event


def test_agent_config_outside_wecom_fails(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom, official_sdks: OfficialSDKs
) -> None:
    # docs/wecom-and-qrconnect.md section 1.5: only inside WeCom.
    page = wecom_page(open_page, pages, official_sdks, IOS_WECHAT_UA)
    (event,) = run(page, AGENT_CONFIG, agent_config(fake_wecom, page.url))
    assert event.startswith("agentConfig: agentConfig:fail")


def test_agent_config_grants_the_apps_apis(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom, official_sdks: OfficialSDKs
) -> None:
    page = wecom_page(open_page, pages, official_sdks, WXWORK_UA)
    page.evaluate(CALL, "getContext")
    assert events(page, 1) == ["getContext: getContext:permission denied"]

    page.evaluate(AGENT_CONFIG, agent_config(fake_wecom, page.url))
    events(page, 2)  # WeCom's answer to agentConfig
    page.evaluate(CALL, "getContext")

    assert events(page, 3)[1:] == ["agentConfig: agentConfig:ok", "getContext: getContext:ok"]


def test_wecom_on_ios_checks_the_current_url_after_a_route_change(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom, official_sdks: OfficialSDKs
) -> None:
    # WeCom's SDK signs location.href inside WeCom on every platform (@wecom/jssdk 2.4.4,
    # ConfigTask: useOriginalURL only for WeChat), and WeCom's client checks that URL.
    page = wecom_page(open_page, pages, official_sdks, WXWORK_UA)
    page.evaluate("() => history.pushState(null, '', '/shop/item/9')")

    assert run(page, AGENT_CONFIG, agent_config(fake_wecom, page.url)) == [
        "agentConfig: agentConfig:ok"
    ]


# --------------------------------------------------------------------------- wx.config (corp)


def test_the_corp_config_with_the_corp_ticket_passes(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom, official_sdks: OfficialSDKs
) -> None:
    # docs/wecom-and-qrconnect.md section 1.5: appId = CorpID, the corp ticket.
    page = wecom_page(open_page, pages, official_sdks, WXWORK_UA)
    ticket = live_ticket(fake_wecom, "cgi-bin/get_jsapi_ticket")
    cfg = signed(ticket, page.url, beta=True, appId=fake_wecom.corp_id, jsApiList=["invoke"])
    assert run(page, CONFIG, cfg) == ["config: config:ok"]


def test_the_corp_config_signed_with_the_app_ticket_fails(
    open_page: OpenPage, pages: PageServer, fake_wecom: FakeWeCom, official_sdks: OfficialSDKs
) -> None:
    page = wecom_page(open_page, pages, official_sdks, WXWORK_UA)
    ticket = live_ticket(fake_wecom, "cgi-bin/ticket/get", type="agent_config")
    cfg = signed(ticket, page.url, beta=True, appId=fake_wecom.corp_id)
    assert run(page, CONFIG, cfg) == ["config: config:invalid signature"]
