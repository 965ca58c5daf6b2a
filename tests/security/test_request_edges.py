"""Request edges a server passes through as they are (SECURITY.md finding 12).

A ``Host`` port is 0-65535 and nothing else; a browser on HTTP/2, or a server that
does not join them, may send several ``Cookie`` headers, and the session cookie must
be found in any of them (WSGI servers join repeated headers with ", ", ASGI servers
hand them over one by one).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import DESKTOP_UA

from ..conftest import MakeWeChat, OpenClient
from ..support.apps import DJANGO_KINDS
from .helpers import authorize, check_answer


@pytest.mark.parametrize("host", ["example.com:99999", "example.com:65536", "[::1]:70000"])
def test_a_host_with_an_impossible_port_is_not_sent_to_wechat(
    open_client: OpenClient, kind: str, host: str, make_wechat: MakeWeChat
) -> None:
    wechat = make_wechat(allowed_hosts="example.com,[::1]")
    answer = open_client(kind, wechat).get("/page", host=host)
    check_answer(answer, open_base="http://unused")
    assert answer.status == 400 and answer.location is None
    if kind not in DJANGO_KINDS:  # Django answers its own 400 (DisallowedHost)
        assert answer.content == b"bad Host header"


@pytest.mark.parametrize("host", ["example.com:65535", "example.com:1", "[::1]:8000"])
def test_a_host_with_a_real_port_is_fine(
    open_client: OpenClient, kind: str, host: str, make_wechat: MakeWeChat
) -> None:
    wechat = make_wechat(allowed_hosts="example.com,[::1]")  # hosts this site serves
    answer = open_client(kind, wechat).get("/page", host=host)
    assert answer.status == 302 and answer.location


def test_the_session_cookie_is_found_in_a_second_cookie_header(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat
) -> None:
    client = open_client(kind, make_wechat())
    start = client.get("/page")
    assert start.location
    assert client.get(authorize(start.location)[1]).status == 302
    session = f"{client.cookie_name}={client.cookie}".encode()
    page = client.get("/page", cookie="", headers={"Cookie": [b"theme=dark; lang=zh", session]})
    assert page.status == 200 and b'"openid": "o' in page.content


def test_a_page_under_a_chinese_path_is_signed_for_the_url_as_sent(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    """Browsers send a Chinese path percent-encoded; Django hands its views the decoded
    text ("/文章"), which a WSGI string cannot hold."""
    sent = quote("/文章?页=2", safe="/?=")
    page = open_client(kind, make_wechat()).get(sent, ua=DESKTOP_UA)
    assert page.status == 200
    signature = page.json()["signature"]
    assert signature["url"] == "http://testserver" + sent
    assert fake_wechat.check_jsapi_signature(
        signature["url"], signature["nonceStr"], signature["timestamp"], signature["signature"]
    )


def test_an_excluded_chinese_path_is_excluded_on_every_adapter(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat
) -> None:
    """``WECHAT_EXCLUDE`` holds text ("/静态/"); a WSGI ``PATH_INFO`` holds the path's
    UTF-8 bytes as latin-1 (PEP 3333) where ASGI's ``path`` holds the text: both match."""
    client = open_client(kind, make_wechat(exclude=("/静态/",)))
    assert client.get(quote("/静态/a")).status == 200  # WeChat's browser, not sent to log in
    assert client.get(quote("/文章")).location  # a page outside it still logs in
