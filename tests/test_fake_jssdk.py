"""FakeWeChat's JS-SDK stand-in: the script, and the check its ``wx.config`` asks for.

On a phone, WeChat's client checks ``wx.config``'s signature with WeChat's server: the
signature must be sha1 over the live jsapi ticket, the nonce, the timestamp and the page URL
without its ``#fragment``, and the app id must own the page's domain. Which page URL depends
on the platform: iOS WeChat checks the landing URL, every other browser the current URL (the
User-Agent tells them apart). The stand-in script asks ``POST /fake/jssdk/config`` instead,
from the app's page on another loopback port, so that endpoint answers CORS. What the script
does in a browser is tested in tests/e2e.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA, DESKTOP_UA, IOS_WECHAT_UA

from .support.tickets import live_jsapi_ticket, sign

SCRIPT = "open/js/jweixin-1.6.0.js"
CONFIG = "fake/jssdk/config"
PAGE_URL = "http://127.0.0.1:8000/?a=1&b=2"
# A single-page app entered at LANDING_URL, then moved by history.pushState to ROUTE_URL.
LANDING_URL = "http://127.0.0.1:8000/shop/?from=timeline"
ROUTE_URL = "http://127.0.0.1:8000/shop/item/7"
IPAD_WECHAT_UA = IOS_WECHAT_UA.replace("iPhone; CPU iPhone OS", "iPad; CPU OS")
IOS_SAFARI_UA = IOS_WECHAT_UA.split(" MicroMessenger", 1)[0] + " Safari/604.1"
APP_ORIGIN = "http://127.0.0.1:8000"


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    with FakeWeChat() as server:
        yield server


# --------------------------------------------------------------------------- helpers


def wx_config(fake: FakeWeChat, url: str = PAGE_URL, **overrides: Any) -> dict[str, Any]:
    """What the stand-in sends for a page at ``url``: a config signed with the live ticket."""
    timestamp, nonce = int(time.time()), "Wm3WZYTPz0wzccnW"
    body: dict[str, Any] = {
        "appId": fake.app_id,
        "timestamp": timestamp,
        "nonceStr": nonce,
        "signature": sign(live_jsapi_ticket(fake), nonce, timestamp, url),
        "url": url,
        "jsApiList": ["updateAppMessageShareData"],
    }
    body.update(overrides)
    return body


def check(fake: FakeWeChat, body: Any, user_agent: str = DESKTOP_UA) -> requests.Response:
    return requests.post(
        f"{fake.base_url}/{CONFIG}",
        json=body,
        headers={"Origin": APP_ORIGIN, "User-Agent": user_agent},
        timeout=5,
    )


def err_msg(fake: FakeWeChat, body: Any, user_agent: str = DESKTOP_UA) -> str:
    response = check(fake, body, user_agent)
    assert response.status_code == 200
    message: str = response.json()["errMsg"]
    return message


def preflight(fake: FakeWeChat, **headers: str) -> requests.Response:
    return requests.options(
        f"{fake.base_url}/{CONFIG}",
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
            **headers,
        },
        timeout=5,
    )


# --------------------------------------------------------------------------- the script


def test_script_is_served_as_javascript(fake: FakeWeChat) -> None:
    response = requests.get(fake.jssdk_url, timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/javascript")


def test_script_sends_its_checks_to_the_fake_it_was_loaded_from(fake: FakeWeChat) -> None:
    script = requests.get(fake.jssdk_url, timeout=5).text

    assert f"var CONFIG_ENDPOINT = {json.dumps(fake.jssdk_config_url)};" in script


def test_script_loaded_by_another_host_name_checks_there(fake: FakeWeChat) -> None:
    # A page that loads the script from localhost talks to localhost, not 127.0.0.1.
    host = f"localhost:{fake.port}"
    script = requests.get(fake.jssdk_url, headers={"Host": host}, timeout=5).text

    assert f'var CONFIG_ENDPOINT = "http://{host}/fake/jssdk/config";' in script


# --------------------------------------------------------------------------- the check


def test_signature_over_the_live_ticket_is_accepted(fake: FakeWeChat) -> None:
    assert err_msg(fake, wx_config(fake)) == "config:ok"


def test_timestamp_may_be_a_string(fake: FakeWeChat) -> None:
    body = wx_config(fake)
    body["timestamp"] = str(body["timestamp"])

    assert err_msg(fake, body) == "config:ok"


def test_forged_signature_is_invalid_signature(fake: FakeWeChat) -> None:
    assert err_msg(fake, wx_config(fake, signature="0" * 40)) == "config:invalid signature"


def test_signature_for_another_page_is_invalid_signature(fake: FakeWeChat) -> None:
    body = wx_config(fake, url="http://127.0.0.1:8000/?a=1")
    body["url"] = PAGE_URL

    assert err_msg(fake, body) == "config:invalid signature"


def test_page_url_fragment_is_not_part_of_what_is_signed(fake: FakeWeChat) -> None:
    body = wx_config(fake)
    body["url"] = PAGE_URL + "#section-2"

    assert err_msg(fake, body) == "config:ok"


def test_signature_without_any_ticket_issued_is_invalid_signature(fake: FakeWeChat) -> None:
    timestamp = int(time.time())
    body = {
        "appId": fake.app_id,
        "timestamp": timestamp,
        "nonceStr": "n",
        "signature": sign("never-issued", "n", timestamp, PAGE_URL),
        "url": PAGE_URL,
    }

    assert err_msg(fake, body) == "config:invalid signature"


# --------------------------------------------------------------------------- which URL


def spa_config(fake: FakeWeChat, signed_for: str) -> dict[str, Any]:
    """The stand-in's body on ROUTE_URL of an app entered at LANDING_URL, signed for one."""
    return wx_config(fake, url=signed_for) | {"url": ROUTE_URL, "landing_url": LANDING_URL}


@pytest.mark.parametrize("user_agent", [IOS_WECHAT_UA, IPAD_WECHAT_UA], ids=["iphone", "ipad"])
def test_ios_wechat_accepts_only_the_landing_urls_signature(
    fake: FakeWeChat, user_agent: str
) -> None:
    assert err_msg(fake, spa_config(fake, LANDING_URL), user_agent) == "config:ok"
    assert err_msg(fake, spa_config(fake, ROUTE_URL), user_agent) == "config:invalid signature"


@pytest.mark.parametrize(
    "user_agent",
    [ANDROID_WECHAT_UA, DESKTOP_UA, IOS_SAFARI_UA],
    ids=["android-wechat", "desktop", "ios-safari"],
)
def test_every_other_browser_accepts_only_the_current_urls_signature(
    fake: FakeWeChat, user_agent: str
) -> None:
    assert err_msg(fake, spa_config(fake, ROUTE_URL), user_agent) == "config:ok"
    assert err_msg(fake, spa_config(fake, LANDING_URL), user_agent) == "config:invalid signature"


def test_ios_wechat_without_a_landing_url_has_no_page_to_check(fake: FakeWeChat) -> None:
    body = wx_config(fake)  # as an older stand-in sent it: the current URL only

    assert err_msg(fake, body, IOS_WECHAT_UA) == "config:invalid url domain"


def test_ios_wechat_checks_the_landing_urls_domain() -> None:
    with FakeWeChat(jsapi_domains=["127.0.0.1"]) as fake:
        body = spa_config(fake, "http://elsewhere.example/") | {
            "landing_url": "http://elsewhere.example/"
        }

        assert err_msg(fake, body, IOS_WECHAT_UA) == "config:invalid url domain"
        assert err_msg(fake, body, ANDROID_WECHAT_UA) == "config:invalid signature"


@pytest.mark.parametrize("field", ["timestamp", "nonceStr", "signature"])
def test_config_missing_a_signed_field_is_invalid_signature(fake: FakeWeChat, field: str) -> None:
    body = wx_config(fake)
    del body[field]

    assert err_msg(fake, body) == "config:invalid signature"


def test_another_app_id_is_invalid_url_domain(fake: FakeWeChat) -> None:
    # The app id picks the account; its safe domains, not this page's, are what count.
    assert err_msg(fake, wx_config(fake, appId="wx00000000000000ff")) == "config:invalid url domain"


def test_page_outside_the_js_safe_domains_is_invalid_url_domain() -> None:
    with FakeWeChat(jsapi_domains=["shop.example.com"]) as fake:
        assert err_msg(fake, wx_config(fake)) == "config:invalid url domain"


def test_js_safe_domain_matches_the_host_whatever_the_port() -> None:
    with FakeWeChat(jsapi_domains=["127.0.0.1"]) as fake:
        assert err_msg(fake, wx_config(fake)) == "config:ok"


def test_page_url_that_is_not_http_is_invalid_url_domain(fake: FakeWeChat) -> None:
    body = wx_config(fake, url="file:///tmp/page.html")

    assert err_msg(fake, body) == "config:invalid url domain"


@pytest.mark.parametrize("raw", [b"not json", b"[]", b""], ids=["text", "array", "empty"])
def test_body_that_is_not_a_json_object_is_config_fail(fake: FakeWeChat, raw: bytes) -> None:
    response = requests.post(f"{fake.base_url}/{CONFIG}", data=raw, timeout=5)

    assert response.json() == {"errMsg": "config:fail"}


def test_check_requires_post(fake: FakeWeChat) -> None:
    assert requests.get(f"{fake.base_url}/{CONFIG}", timeout=5).json()["errcode"] == 43002


# --------------------------------------------------------------------------- CORS


def test_answer_is_readable_by_a_page_on_any_origin(fake: FakeWeChat) -> None:
    response = check(fake, wx_config(fake))

    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_preflight_allows_a_json_post_from_another_origin(fake: FakeWeChat) -> None:
    response = preflight(fake)

    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"].lower() == "content-type"


def test_preflight_allows_private_network_access_when_asked(fake: FakeWeChat) -> None:
    response = preflight(fake, **{"Access-Control-Request-Private-Network": "true"})

    assert response.headers["Access-Control-Allow-Private-Network"] == "true"


def test_preflight_is_not_counted_as_a_check(fake: FakeWeChat) -> None:
    preflight(fake)

    assert fake.calls(CONFIG) == 0


def test_keep_alive_connection_survives_a_preflight(fake: FakeWeChat) -> None:
    # A 204 has no body: the next request on the same connection must still be read right.
    with requests.Session() as session:
        assert session.options(f"{fake.base_url}/{CONFIG}", timeout=5).status_code == 204
        answer = session.post(f"{fake.base_url}/{CONFIG}", json=wx_config(fake), timeout=5)

    assert answer.json() == {"errMsg": "config:ok"}
