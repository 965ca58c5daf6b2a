"""The pure request decision: no server, no adapter, just a RequestView in and an action out.

WeChat facts (docs/wechat-protocol.md sections 1, 5 and 7): the server check signs sorted token,
timestamp and
nonce and expects ``echostr`` back as text; the authorize URL needs ``redirect_uri`` on
the public host; WeChat's browser says ``MicroMessenger`` and WeChat Work adds
``wxwork``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from wechat_middleware import ConfigError, WeChat, WeChatConfig
from wechat_middleware.actions import (
    Action,
    ClaimServerCheck,
    CompleteLogin,
    OpenMessage,
    PassThrough,
)
from wechat_middleware.answers import Respond
from wechat_middleware.signing import server_signature
from wechat_middleware.steps import open_message
from wechat_middleware.stores import open_store
from wechat_middleware.testing.user_agents import (
    DESKTOP_UA,
    WXWORK_UA,
)
from wechat_middleware.urls import safe_next
from wechat_middleware.view import RequestView

from .support.flow import Flow, view

TOKEN = "server-check-token"
API = "http://127.0.0.1:9"  # never called: deciding does no I/O


def config(**overrides: Any) -> WeChatConfig:
    values: dict[str, Any] = {
        "app_id": "wx0123456789abcdef",
        "app_secret": "app-secret",
        "token": TOKEN,
        "secret_key": "test-secret-key-0123456789abcdef",
        "api_base": API,
        "open_base": API,
        "allowed_hosts": ("example.com",),  # the host of tests/support/flow.py's requests
    }
    values.update(overrides)
    return WeChatConfig(**values)


@pytest.fixture
def flow() -> Flow:
    return Flow(config())


def make_flow(**overrides: Any) -> Flow:
    return Flow(config(**overrides))


PUSH = b"<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>"


def check(flow: Flow, request: RequestView, body: bytes = PUSH) -> Action:
    """The decision for a server check, past its replay claim (tested on its own in
    tests/security/test_replay.py): what a first, fresh request gets. A push is opened
    with ``body``."""
    action = flow.decide(request)
    if isinstance(action, OpenMessage):
        action = open_message(replace(action, body=body), flow.rules)
    return action.then if isinstance(action, ClaimServerCheck) else action


def signed_query(timestamp: int | None = None, echostr: str = "echo-123") -> str:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = server_signature(TOKEN, ts, "n0nce")
    return f"signature={signature}&timestamp={ts}&nonce=n0nce&echostr={echostr}"


# -- server check --------------------------------------------------------------------


def test_server_check_with_a_valid_signature_echoes_echostr_as_text(flow: Flow) -> None:
    action = check(flow, view("/wechat/verify", signed_query()))
    assert isinstance(action, Respond)
    assert (action.status, action.body) == (200, b"echo-123")
    assert ("Content-Type", "text/plain; charset=utf-8") in action.headers


@pytest.mark.parametrize(
    "query",
    [
        "",
        "timestamp=1&nonce=2&echostr=x",
        "signature=0000000000000000000000000000000000000000&timestamp={now}&nonce=n0nce&echostr=x",
        "{valid}&signature=deadbeef",
        "{valid}&timestamp=1",
        "signature=" + "a" * 5000 + "&timestamp={now}&nonce=n0nce",
    ],
    ids=[
        "nothing",
        "no-signature",
        "forged",
        "duplicated-signature",
        "duplicated-timestamp",
        "huge",
    ],
)
def test_server_check_with_a_bad_signature_is_forbidden(flow: Flow, query: str) -> None:
    query = query.format(now=int(time.time()), valid=signed_query())
    action = check(flow, view("/wechat/verify", query))
    assert isinstance(action, Respond) and action.status == 403


def test_server_check_with_a_stale_timestamp_is_forbidden(flow: Flow) -> None:
    action = check(flow, view("/wechat/verify", signed_query(int(time.time()) - 3600)))
    assert isinstance(action, Respond) and action.status == 403


def test_server_check_without_a_configured_token_is_forbidden() -> None:
    action = check(make_flow(token=None), view("/wechat/verify", signed_query()))
    assert isinstance(action, Respond) and action.status == 403


def test_signed_message_push_is_passed_to_the_app(flow: Flow) -> None:
    action = check(flow, view("/wechat/verify", signed_query(), method="POST"))
    assert isinstance(action, PassThrough)
    assert action.message is not None and action.message["MsgType"] == "text"


def test_unsigned_message_push_is_forbidden(flow: Flow) -> None:
    action = check(flow, view("/wechat/verify", "timestamp=1", method="POST"))
    assert isinstance(action, Respond) and action.status == 403


def test_other_methods_on_the_verify_path_are_not_allowed(flow: Flow) -> None:
    action = check(flow, view("/wechat/verify", signed_query(), method="PUT"))
    assert isinstance(action, Respond) and action.status == 405


# -- who is sent to OAuth --------------------------------------------------------------


def test_wechat_browser_asking_for_html_is_sent_to_oauth(flow: Flow) -> None:
    action = flow.decide(view("/page"))
    assert isinstance(action, Respond) and action.status == 302


def test_head_is_treated_like_get(flow: Flow) -> None:
    action = flow.decide(view("/page", method="HEAD"))
    assert isinstance(action, Respond) and action.status == 302


@pytest.mark.parametrize(
    "fields",
    [
        {"user_agent": DESKTOP_UA},
        {"user_agent": WXWORK_UA},
        {"method": "POST"},
        {"accept": "application/json"},
        {"accept": ""},
        {"requested_with": "XMLHttpRequest"},
        {"raw_path": "/static/app.js", "path_": "/static/app.js"},
    ],
    ids=["plain-browser", "wechat-work", "post", "json", "no-accept", "xhr", "excluded"],
)
def test_these_requests_pass_through_without_oauth(flow: Flow, fields: dict[str, str]) -> None:
    path = fields.pop("path_", "/page")
    assert isinstance(flow.decide(view(path, **fields)), PassThrough)


def test_wechat_work_is_sent_to_oauth_when_configured() -> None:
    action = make_flow(include_wxwork=True).decide(view(user_agent=WXWORK_UA))
    assert isinstance(action, Respond) and action.status == 302


def test_login_outside_wechat_when_configured() -> None:
    flow = make_flow(login_required_outside_wechat=True)
    action = flow.decide(view(user_agent=DESKTOP_UA))
    assert isinstance(action, Respond) and action.status == 302


def test_custom_exclude_prefixes() -> None:
    flow = make_flow(exclude=("/public/", "/health"))
    assert isinstance(flow.decide(view("/public/x")), PassThrough)
    assert isinstance(flow.decide(view("/healthz")), PassThrough)
    assert isinstance(flow.decide(view("/static/x")), Respond)


def test_middleware_refuses_to_start_without_a_secret_key() -> None:
    with pytest.raises(ConfigError, match="WECHAT_SECRET_KEY"):
        make_flow(secret_key=None)


# -- URLs: what is signed and where the browser goes ---------------------------------------


def test_redirect_uri_uses_the_request_host_and_scheme() -> None:
    flow = make_flow(allowed_hosts=("shop.example.com",))  # a host this site serves
    action = flow.decide(view("/p", scheme="https", host="shop.example.com:8443"))
    assert isinstance(action, Respond)
    location = dict(action.headers)["Location"]
    redirect = parse_qs(urlsplit(location).query)["redirect_uri"][0]
    assert redirect == "https://shop.example.com:8443/wechat/oauth-callback"
    assert "Secure" in dict(action.headers)["Set-Cookie"]


def test_public_url_wins_over_a_spoofed_host() -> None:
    flow = make_flow(public_url="https://shop.example.com")
    action = flow.decide(view("/p", host="evil.example"))
    assert isinstance(action, Respond)
    location = dict(action.headers)["Location"]
    assert parse_qs(urlsplit(location).query)["redirect_uri"] == [
        "https://shop.example.com/wechat/oauth-callback"
    ]
    page = flow.decide(view("/p", host="evil.example", user_agent=DESKTOP_UA))
    assert isinstance(page, PassThrough)
    assert flow.page_url(page) == "https://shop.example.com/p"


@pytest.mark.parametrize(
    ("allowed", "host", "served"),
    [
        (None, "localhost:8000", True),  # unset: this machine's names only
        (None, "127.0.0.1", True),
        (None, "[::1]:8000", True),
        (None, "app.localhost", True),
        (None, "shop.example.com", False),
        (("shop.example.com",), "SHOP.example.com.:8443", True),  # case, dot, port
        (("shop.example.com",), "localhost", False),  # a list replaces the default
        (("shop.example.com",), "evil.shop.example.com", False),
        ((".example.com",), "evil.shop.example.com", True),  # a domain and its subdomains
        ((".example.com",), "example.com", True),
        ((".example.com",), "evilexample.com", False),
        (("*",), "anything.example", True),
    ],
)
def test_a_login_is_built_only_on_a_host_this_site_serves(
    allowed: tuple[str, ...] | None, host: str, served: bool
) -> None:
    """WECHAT_ALLOWED_HOSTS, read as Django reads ALLOWED_HOSTS: a Host outside it gets
    a 400 naming the setting, never a redirect_uri on itself."""
    flow = make_flow(allowed_hosts=allowed)
    action = flow.decide(view("/p", host=host))
    assert isinstance(action, Respond)
    if served:
        assert action.status == 302
        redirect = parse_qs(urlsplit(dict(action.headers)["Location"]).query)["redirect_uri"]
        assert redirect == [f"http://{host}/wechat/oauth-callback"]
    else:
        assert action.status == 400 and "Location" not in dict(action.headers)
        assert b"WECHAT_ALLOWED_HOSTS" in action.body and b"WECHAT_PUBLIC_URL" in action.body
        config = flow.decide(view("/wechat/jssdk/config", f"url=http%3A%2F%2F{host}%2F", host=host))
        assert isinstance(config, Respond) and config.status == 400
        assert b"WECHAT_ALLOWED_HOSTS" in config.body


@pytest.mark.parametrize("host", ["evil.com\r\nX: y", "a b", "", "x" * 300, "ex@mple.com"])
def test_malformed_host_cannot_start_a_login(flow: Flow, host: str) -> None:
    action = flow.decide(view("/p", host=host))
    assert isinstance(action, Respond) and action.status == 400


def test_page_url_keeps_the_raw_path_and_query_byte_for_byte(flow: Flow) -> None:
    action = flow.decide(
        view("/a b", raw_path="/a%20b", query="z=1&a=%E4%B8%AD&a=2&empty=", user_agent=DESKTOP_UA)
    )
    assert isinstance(action, PassThrough)
    assert flow.page_url(action) == "http://example.com/a%20b?z=1&a=%E4%B8%AD&a=2&empty="


def test_page_url_percent_encodes_raw_non_ascii_bytes(flow: Flow) -> None:
    raw = "q=" + "中".encode().decode("latin-1")  # what a server passes for unencoded UTF-8
    action = flow.decide(view("/", query=raw, user_agent=DESKTOP_UA))
    assert isinstance(action, PassThrough)
    assert flow.page_url(action) == "http://example.com/?q=%E4%B8%AD"


def test_the_return_path_is_the_requested_path_and_query(flow: Flow) -> None:
    action = flow.decide(view("/shop", raw_path="/shop", query="item=3&ref=x"))
    assert isinstance(action, Respond)
    cookie = dict(action.headers)["Set-Cookie"].split(";")[0].split("=", 1)[1]
    pending = flow.codec.loads(cookie).pending
    assert pending is not None and pending.next == "/shop?item=3&ref=x"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/ok?x=1", "/ok?x=1"),
        ("//evil.example/x", "/evil.example/x"),
        ("///evil.example", "/evil.example"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("https://evil.example", "/"),
        ("https:evil.example", "/"),
        ("evil.example", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("/ok\x00", "/"),
        ("/" + "a" * 5000, "/"),
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
        ("/中文", "/%E4%B8%AD%E6%96%87"),
        ("", "/"),
    ],
)
def test_safe_next_only_ever_returns_a_local_path(raw: str, expected: str) -> None:
    assert safe_next(raw) == expected


# -- the callback ---------------------------------------------------------------------------


def start_login(flow: Flow) -> tuple[str, str]:
    action = flow.decide(view("/page"))
    assert isinstance(action, Respond)
    headers = dict(action.headers)
    state = parse_qs(urlsplit(headers["Location"]).query)["state"][0]
    cookie = headers["Set-Cookie"].split(";")[0]
    return state, cookie


def test_valid_callback_asks_for_the_code_exchange(flow: Flow) -> None:
    state, cookie = start_login(flow)
    action = flow.decide(view("/wechat/oauth-callback", f"code=abc&state={state}", cookie=cookie))
    assert isinstance(action, CompleteLogin)
    assert (action.code, action.next_url) == ("abc", "/page")


@pytest.mark.parametrize(
    "query",
    [
        "code=abc&state={state}&state={state}",
        "code=abc&code=def&state={state}",
        "code=" + "c" * 600 + "&state={state}",
    ],
    ids=["duplicated-state", "duplicated-code", "oversized-code"],
)
def test_malformed_callbacks_are_refused(flow: Flow, query: str) -> None:
    state, cookie = start_login(flow)
    action = flow.decide(view("/wechat/oauth-callback", query.format(state=state), cookie=cookie))
    assert isinstance(action, Respond) and 400 <= action.status < 500


def test_callback_with_a_huge_number_of_fields_is_refused(flow: Flow) -> None:
    state, cookie = start_login(flow)
    query = f"code=abc&state={state}&" + "&".join(f"f{i}=1" for i in range(100))
    action = flow.decide(view("/wechat/oauth-callback", query, cookie=cookie))
    assert isinstance(action, Respond) and action.status == 400


def test_post_to_the_callback_is_not_allowed(flow: Flow) -> None:
    action = flow.decide(view("/wechat/oauth-callback", "code=a&state=b", method="POST"))
    assert isinstance(action, Respond) and action.status == 405


def test_wechat_instance_builds_the_flow_from_its_config() -> None:
    settings = config(verify_path="/wx", callback_path="/cb", login_path="/in")
    flow = Flow.of(WeChat(settings, store=open_store("memory://")))
    assert isinstance(flow.decide(view("/wx")), Respond)
    assert isinstance(flow.decide(view("/cb", method="POST")), Respond)
