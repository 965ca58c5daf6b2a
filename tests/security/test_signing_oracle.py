"""``request.wechat.sign(url)`` signs only URLs of this site's own origin.

SECURITY.md finding 8. A JSON sign endpoint (the README's SPA pattern) passes a URL the
page reports; without a check, anyone could have any page of any site signed with this
app's ticket. The origin is ``WECHAT_PUBLIC_URL`` when set, else the request's own
scheme and host (docs/wechat-protocol.md section 4: the signed URL is the page's).
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest

from wechat_middleware.errors import ForeignURLError
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import DESKTOP_UA as CHROME

from ..conftest import MakeWeChat, OpenClient
from ..support.apps import DJANGO_KINDS, AppClient

PUBLIC = "https://shop.example.com"


def sign(client: AppClient, url: str, *, host: str = "testserver") -> tuple[int, dict[str, str]]:
    answer = client.get(f"/api/sign?url={quote(url, safe='')}", ua=CHROME, host=host)
    if client.kind in DJANGO_KINDS and answer.status == 400 and b"<html" in answer.content:
        return answer.status, {}  # Django's own answer to a Host outside ALLOWED_HOSTS
    return answer.status, json.loads(answer.content)


def test_a_url_of_this_site_is_signed(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    status, signature = sign(open_client(kind, make_wechat()), "http://testserver/app/#/route")
    assert status == 200 and signature["url"] == "http://testserver/app/"
    assert fake_wechat.check_jsapi_signature(
        signature["url"], signature["nonceStr"], signature["timestamp"], signature["signature"]
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/page",
        "http://testserver.evil.example/",
        "http://evil.example/?http://testserver/",
        "https://testserver/",  # another scheme is another origin
        "http://testserver:8080/",
        "/relative/path",
        "javascript:alert(1)",
    ],
)
def test_a_url_of_another_origin_is_refused_with_a_reason(
    open_client: OpenClient, kind: str, url: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    status, body = sign(open_client(kind, make_wechat()), url)
    assert status == 400 and body["error"]
    assert "signature" not in body


def test_with_a_public_url_a_spoofed_host_gets_no_signature_for_itself(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat
) -> None:
    client = open_client(kind, make_wechat(public_url=PUBLIC))
    status, _ = sign(client, "http://evil.example/page", host="evil.example")
    assert status == 400
    status, signature = sign(client, PUBLIC + "/page", host="evil.example")
    if kind in DJANGO_KINDS:  # Django refuses a Host outside ALLOWED_HOSTS outright
        assert status == 400 and not signature
    else:
        assert status == 200 and signature["url"] == PUBLIC + "/page"


def test_without_a_public_url_a_host_this_site_does_not_serve_gets_no_signature(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat
) -> None:
    """Without WECHAT_PUBLIC_URL the Host header names the origin: only a host this site
    serves (WECHAT_ALLOWED_HOSTS; Django: ALLOWED_HOSTS) gets a signature for itself,
    from the sign endpoint, the page's own signature or the config endpoint."""
    client = open_client(kind, make_wechat())  # serves testserver and loopback names
    status, body = sign(client, "http://evil.example/page", host="evil.example")
    assert status == 400 and "signature" not in body
    page = client.get("/page", ua=CHROME, host="evil.example")
    config = client.get(
        "/wechat/jssdk/config?url=http%3A%2F%2Fevil.example%2Fpage", ua=CHROME, host="evil.example"
    )
    assert config.status == 400 and b"signature" not in config.content
    if kind in DJANGO_KINDS:
        assert page.status == 400  # Django's: the Host is not in ALLOWED_HOSTS
    else:
        assert page.status == 200 and json.loads(page.content)["signature"] is None
        assert "WECHAT_ALLOWED_HOSTS" in json.loads(config.content)["error"]
        assert "WECHAT_ALLOWED_HOSTS" in body["error"]
    served = open_client(kind, make_wechat(allowed_hosts="evil.example"))  # now it is ours
    status, signature = sign(served, "http://evil.example/page", host="evil.example")
    assert status == 200 and signature["url"] == "http://evil.example/page"


def test_sign_raises_a_value_error_naming_the_origin(make_wechat: MakeWeChat) -> None:
    from wechat_middleware.context import WeChatContext

    context = WeChatContext(
        make_wechat(), page_url="https://shop.example.com/a", user=None, is_wechat_browser=True
    )
    with pytest.raises(ForeignURLError, match=re.escape("https://shop.example.com")):
        context.sign("https://evil.example/a")
    assert isinstance(ForeignURLError("x"), ValueError)
