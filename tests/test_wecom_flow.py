"""The pure request decision for a WeCom app (WECHAT_PROVIDER=wecom), and for an Official
Account in safe mode: no server, no store, a RequestView in and an action out.

WeCom facts (docs/wecom-and-qrconnect.md): the browser says ``wxwork`` as well as
``MicroMessenger`` (section 1.5); the authorize URL takes the corp id as ``appid`` and the
app's ``agentid``, with ``snsapi_base`` or ``snsapi_privateinfo`` (section 1.3); the desktop
web login is ``wwlogin/sso/login?login_type=CorpApp`` (section 1.4); the URL check decrypts
``echostr`` and answers its plain text, pushes are encrypted (section 1.6). The vectors are
Tencent's (section 1.7).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest

from wechat_middleware import WeChatConfig
from wechat_middleware.actions import Action, ClaimServerCheck, OpenMessage, PassThrough
from wechat_middleware.answers import Respond
from wechat_middleware.crypto import MessageCrypto, msg_signature, parse_xml
from wechat_middleware.guard import login_needed
from wechat_middleware.signing import server_signature
from wechat_middleware.steps import open_message
from wechat_middleware.testing.user_agents import (
    ANDROID_WECHAT_UA,
    DESKTOP_UA,
    WXWORK_UA,
)
from wechat_middleware.user import WeChatUser, WeComUser
from wechat_middleware.view import RequestView

from .support.flow import Flow
from .support.flow import view as flow_view
from .support.vectors import (
    AES_KEY,
    CORP_ID,
    PUSH_BODY,
    PUSH_NONCE,
    PUSH_SIGNATURE,
    PUSH_TIMESTAMP,
    TOKEN,
    URL_ECHOSTR,
    URL_NONCE,
    URL_PLAIN,
    URL_SIGNATURE,
    URL_TIMESTAMP,
)

API = "http://127.0.0.1:9"  # never called: deciding does no I/O
AGENT_ID = "1000002"


def wecom_config(**overrides: Any) -> WeChatConfig:
    values: dict[str, Any] = {
        "token": TOKEN,
        "encoding_aes_key": AES_KEY,
        "secret_key": "test-secret-key-0123456789abcdef",
        "api_base": API,
        "open_base": API,
        "login_base": API + "/login",
        "allowed_hosts": ("example.com",),  # the host of tests/support/flow.py's requests
    }
    values.update(overrides)
    return WeChatConfig.for_wecom(CORP_ID, "corp-app-secret", AGENT_ID, **values)


def wecom_flow(now: float | None = None, **overrides: Any) -> Flow:
    return Flow(wecom_config(**overrides), (lambda: now) if now is not None else time.time)


def view(path: str = "/", query: str = "", **fields: Any) -> RequestView:
    """A request from WeCom's browser unless ``user_agent`` says otherwise."""
    return flow_view(path, query, **{"user_agent": WXWORK_UA, **fields})


def marked_route_answer(scope: str, *, is_wechat: bool) -> Respond | None:
    """What a route marked with ``scope`` answers a page navigation with no user."""
    return login_needed(
        wecom_flow().rules,
        None,
        scope,
        is_wechat=is_wechat,
        navigation=True,
        page="/me",
        referer="",
        site="http://example.com",
    )


def redirect_params(action: Action) -> tuple[str, dict[str, str]]:
    assert isinstance(action, Respond) and action.status == 302, action
    location = dict(action.headers)["Location"]
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", dict(parse_qsl(parts.query))


def opened(flow: Flow, request: RequestView, body: bytes) -> Action:
    """The decision for a push, its body read, past its replay claim."""
    action = flow.decide(request)
    if isinstance(action, OpenMessage):
        action = open_message(replace(action, body=body), flow.rules)
    return action.then if isinstance(action, ClaimServerCheck) else action


def url_check_query(echostr: str = URL_ECHOSTR, signature: str = URL_SIGNATURE) -> str:
    return urlencode(
        {
            "msg_signature": signature,
            "timestamp": URL_TIMESTAMP,
            "nonce": URL_NONCE,
            "echostr": echostr,
        }
    )


# -- who is sent to log in ---------------------------------------------------------------


def test_wecoms_browser_is_sent_to_the_authorize_page_with_the_corp_and_agent() -> None:
    where, params = redirect_params(wecom_flow().decide(view("/orders")))
    assert where == API + "/connect/oauth2/authorize"
    assert params["appid"] == CORP_ID and params["agentid"] == AGENT_ID
    assert params["scope"] == "snsapi_base" and params["response_type"] == "code"
    assert params["redirect_uri"] == "http://example.com/wechat/oauth-callback"


def test_the_authorize_url_keeps_the_documented_order_and_fragment() -> None:
    action = wecom_flow().decide(view("/"))
    assert isinstance(action, Respond)
    location = dict(action.headers)["Location"]
    names = [name for name, _ in parse_qsl(urlsplit(location).query)]
    assert names == ["appid", "redirect_uri", "response_type", "scope", "state", "agentid"]
    assert location.endswith("#wechat_redirect")


def test_wechats_own_browser_is_not_wecoms() -> None:
    action = wecom_flow().decide(view("/", user_agent=ANDROID_WECHAT_UA))
    assert isinstance(action, PassThrough) and not action.is_wechat


def test_privateinfo_can_be_asked_for_at_the_login_path() -> None:
    request = view("/wechat/login", "next=/me&scope=snsapi_privateinfo")
    _, params = redirect_params(wecom_flow().decide(request))
    assert params["scope"] == "snsapi_privateinfo" and params["agentid"] == AGENT_ID


def test_wechats_consent_scope_at_the_login_path_asks_for_wecoms() -> None:
    request = view("/wechat/login", "next=/me&scope=snsapi_userinfo")
    _, params = redirect_params(wecom_flow().decide(request))
    assert params["scope"] == "snsapi_privateinfo"


@pytest.mark.parametrize("scope", ["snsapi_login", "bogus", ""])
def test_a_scope_wecom_does_not_know_falls_back_to_the_configured_one(scope: str) -> None:
    request = view("/wechat/login", f"next=/me&scope={scope}")
    _, params = redirect_params(wecom_flow().decide(request))
    assert params["scope"] == "snsapi_base"


def test_the_scope_asked_for_travels_with_the_login_in_progress() -> None:
    flow = wecom_flow()
    action = flow.decide(view("/wechat/login", "next=/me&scope=snsapi_privateinfo"))
    assert isinstance(action, Respond)
    cookie = dict(action.headers)["Set-Cookie"].split(";")[0]
    session = flow.codec.loads(cookie.split("=", 1)[1])
    assert session.pending is not None and session.pending.scope == "snsapi_privateinfo"


def test_a_desktop_browser_goes_to_wecoms_web_login_when_enabled() -> None:
    flow = wecom_flow(desktop_login=True)
    where, params = redirect_params(flow.decide(view("/", user_agent=DESKTOP_UA)))
    assert where == API + "/login/wwlogin/sso/login"
    assert params["login_type"] == "CorpApp"
    assert params["appid"] == CORP_ID and params["agentid"] == AGENT_ID
    assert params["redirect_uri"] == "http://example.com/wechat/oauth-callback"
    assert params["state"]


def test_a_desktop_browser_passes_through_without_the_web_login() -> None:
    action = wecom_flow().decide(view("/", user_agent=DESKTOP_UA))
    assert isinstance(action, PassThrough) and action.user is None


def test_a_marked_route_outside_wecom_says_to_open_it_in_wecom() -> None:
    answer = marked_route_answer("snsapi_base", is_wechat=False)
    assert answer is not None and answer.status == 403
    assert "WeCom" in answer.body.decode()


@pytest.mark.parametrize(
    ("user", "navigation", "status"),
    [
        (WeComUser(CORP_ID, userid="lisi"), True, None),
        (WeComUser(CORP_ID, openid="oVisitor0001"), True, 403),
        (WeComUser(CORP_ID, openid="oVisitor0001"), False, 403),
        (WeChatUser("o" * 28), True, 403),  # an Official Account's users are no members
        (None, True, 302),  # not logged in: sent to log in, as any marked route
    ],
    ids=["member", "visitor-page", "visitor-fetch", "official-account-user", "nobody"],
)
def test_a_members_only_route_refuses_a_logged_in_visitor(
    user: WeComUser | WeChatUser | None, navigation: bool, status: int | None
) -> None:
    answer = login_needed(
        wecom_flow().rules,
        user,
        "snsapi_base",
        is_wechat=True,
        navigation=navigation,
        page="/staff",
        referer="",
        site="http://example.com",
        members_only=True,
    )
    assert (answer.status if answer is not None else None) == status
    if status == 403:
        assert answer is not None and "Location" not in dict(answer.headers)  # no login again


# -- the URL check ------------------------------------------------------------------------


def test_the_url_check_answers_the_decrypted_echostr_exactly() -> None:
    flow = wecom_flow(now=float(URL_TIMESTAMP))
    action = flow.decide(view("/wechat/verify", url_check_query()))
    assert isinstance(action, ClaimServerCheck)
    assert action.key == flow.rules.keys.used_server_check(URL_TIMESTAMP, URL_NONCE)
    answer = action.then
    assert isinstance(answer, Respond) and answer.status == 200
    assert answer.body == URL_PLAIN.encode()  # no quotes, BOM or newline (section 1.6)


@pytest.mark.parametrize(
    "query",
    [
        url_check_query(signature="0" * 40),  # forged msg_signature
        url_check_query(echostr=URL_ECHOSTR[:-8]),  # truncated, signature then mismatches
        urlencode({"timestamp": URL_TIMESTAMP, "nonce": URL_NONCE, "echostr": URL_ECHOSTR}),
        url_check_query() + "&msg_signature=" + URL_SIGNATURE,  # a field given twice
    ],
    ids=["forged", "tampered", "unsigned", "repeated"],
)
def test_a_url_check_that_is_not_wecoms_is_forbidden(query: str) -> None:
    action = wecom_flow(now=float(URL_TIMESTAMP)).decide(view("/wechat/verify", query))
    assert isinstance(action, Respond) and action.status == 403


@pytest.mark.parametrize(
    "echostr",
    ["not base64 !!", URL_ECHOSTR[:40] + "=", "A" * 24],
    ids=["bad-base64", "truncated-blocks", "bad-padding"],
)
def test_a_signed_but_broken_echostr_is_forbidden(echostr: str) -> None:
    signature = msg_signature(TOKEN, URL_TIMESTAMP, URL_NONCE, echostr)
    query = url_check_query(echostr=echostr, signature=signature)
    action = wecom_flow(now=float(URL_TIMESTAMP)).decide(view("/wechat/verify", query))
    assert isinstance(action, Respond) and action.status == 403


def test_an_echostr_sealed_for_another_corp_is_forbidden() -> None:
    other = MessageCrypto(TOKEN, AES_KEY, "ww_another_corp")
    sealed = parse_xml(other.encrypt("123", URL_TIMESTAMP, URL_NONCE))["Encrypt"]
    signature = msg_signature(TOKEN, URL_TIMESTAMP, URL_NONCE, sealed)
    query = url_check_query(echostr=sealed, signature=signature)
    action = wecom_flow(now=float(URL_TIMESTAMP)).decide(view("/wechat/verify", query))
    assert isinstance(action, Respond) and action.status == 403


def test_a_url_check_from_long_ago_is_forbidden() -> None:
    flow = wecom_flow(now=float(URL_TIMESTAMP) + 3600)
    action = flow.decide(view("/wechat/verify", url_check_query()))
    assert isinstance(action, Respond) and action.status == 403
    assert b"timestamp" in action.body


def test_without_an_encoding_aes_key_a_url_check_is_forbidden() -> None:
    flow = wecom_flow(now=float(URL_TIMESTAMP), encoding_aes_key=None)
    action = flow.decide(view("/wechat/verify", url_check_query()))
    assert isinstance(action, Respond) and action.status == 403


# -- encrypted pushes -----------------------------------------------------------------------


def push_query(signature: str = PUSH_SIGNATURE) -> str:
    return urlencode({"msg_signature": signature, "timestamp": PUSH_TIMESTAMP, "nonce": PUSH_NONCE})


def test_an_encrypted_push_reaches_the_app_decrypted() -> None:
    flow = wecom_flow(now=float(PUSH_TIMESTAMP))
    request = view("/wechat/verify", push_query(), method="POST")
    action = opened(flow, request, PUSH_BODY)
    assert isinstance(action, PassThrough) and action.message is not None
    assert action.message["Content"] == "hello" and action.message["MsgType"] == "text"
    assert action.message.raw.startswith(b"<xml><ToUserName>")
    assert action.message.encrypted


@pytest.mark.parametrize(
    ("signature", "body"),
    [
        ("0" * 40, PUSH_BODY),
        (PUSH_SIGNATURE, PUSH_BODY.replace(b"RypE", b"RypF")),
        (PUSH_SIGNATURE, b"<xml><Encrypt></Encrypt></xml>"),
        (PUSH_SIGNATURE, b"\xff\xfe not xml"),
        (PUSH_SIGNATURE, b""),
    ],
    ids=["forged", "tampered", "empty-encrypt", "not-utf8", "no-body"],
)
def test_a_push_that_is_not_wecoms_is_forbidden(signature: str, body: bytes) -> None:
    flow = wecom_flow(now=float(PUSH_TIMESTAMP))
    request = view("/wechat/verify", push_query(signature), method="POST")
    action = opened(flow, request, body)
    assert isinstance(action, Respond) and action.status == 403


def test_an_oversized_push_is_refused_before_decrypting() -> None:
    flow = wecom_flow(now=float(PUSH_TIMESTAMP))
    step = flow.decide(view("/wechat/verify", push_query(), method="POST"))
    assert isinstance(step, OpenMessage)
    action = open_message(replace(step, body=b"x" * (step.max_body + 1)), flow.rules)
    assert isinstance(action, Respond) and action.status == 413


def test_a_stale_push_is_forbidden_before_its_body_is_read() -> None:
    flow = wecom_flow(now=float(PUSH_TIMESTAMP) + 3600)
    action = flow.decide(view("/wechat/verify", push_query(), method="POST"))
    assert isinstance(action, Respond) and action.status == 403


def test_a_reply_is_sealed_for_wecom_and_opens_with_the_same_settings() -> None:
    flow = wecom_flow(now=float(PUSH_TIMESTAMP))
    action = opened(flow, view("/wechat/verify", push_query(), method="POST"), PUSH_BODY)
    assert isinstance(action, PassThrough) and action.message is not None
    reply = "<xml><MsgType><![CDATA[text]]></MsgType><Content>hi</Content></xml>"
    body = action.message.reply(reply, timestamp=1409659900, nonce="42")
    envelope = parse_xml(body)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    crypto = MessageCrypto(TOKEN, AES_KEY, CORP_ID)
    assert crypto.decrypt(envelope["MsgSignature"], "1409659900", "42", body) == reply.encode()


# -- an Official Account in safe mode (encrypt_type=aes) --------------------------------------


def safe_mode_flow(now: float) -> Flow:
    """The sample's receive id is an AppID too: the Official Account sample uses it."""
    config = WeChatConfig(
        CORP_ID,
        "app-secret",
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        secret_key="test-secret-key-0123456789abcdef",
        api_base=API,
        open_base=API,
    )
    return Flow(config, lambda: now)


def safe_mode_query(**extra: str) -> str:
    signature = server_signature(TOKEN, PUSH_TIMESTAMP, PUSH_NONCE)
    return urlencode(
        {"signature": signature, "timestamp": PUSH_TIMESTAMP, "nonce": PUSH_NONCE, **extra},
        quote_via=quote,
    )


def test_a_safe_mode_push_reaches_the_app_decrypted() -> None:
    flow = safe_mode_flow(float(PUSH_TIMESTAMP))
    query = safe_mode_query(encrypt_type="aes", msg_signature=PUSH_SIGNATURE)
    action = opened(flow, view("/wechat/verify", query, method="POST"), PUSH_BODY)
    assert isinstance(action, PassThrough) and action.message is not None
    assert action.message["Content"] == "hello"


def test_a_safe_mode_push_with_a_forged_msg_signature_is_forbidden() -> None:
    flow = safe_mode_flow(float(PUSH_TIMESTAMP))
    query = safe_mode_query(encrypt_type="aes", msg_signature="0" * 40)
    action = opened(flow, view("/wechat/verify", query, method="POST"), PUSH_BODY)
    assert isinstance(action, Respond) and action.status == 403


def test_a_safe_mode_push_without_msg_signature_is_forbidden() -> None:
    flow = safe_mode_flow(float(PUSH_TIMESTAMP))
    request = view("/wechat/verify", safe_mode_query(encrypt_type="aes"), method="POST")
    action = flow.decide(request)
    assert isinstance(action, Respond) and action.status == 403


def test_a_plain_push_reaches_the_app_as_it_came() -> None:
    flow = safe_mode_flow(float(PUSH_TIMESTAMP))
    body = b"<xml><MsgType><![CDATA[event]]></MsgType></xml>"
    action = opened(flow, view("/wechat/verify", safe_mode_query(), method="POST"), body)
    assert isinstance(action, PassThrough) and action.message is not None
    assert action.message["MsgType"] == "event" and not action.message.encrypted
    assert action.message.reply("<xml/>") == b"<xml/>"


def test_the_safe_mode_get_check_still_echoes_echostr_unchanged() -> None:
    """docs/wecom-and-qrconnect.md section 1.6: the GET check is the plain one."""
    flow = safe_mode_flow(float(PUSH_TIMESTAMP))
    action = flow.decide(view("/wechat/verify", safe_mode_query(echostr="abc123")))
    assert isinstance(action, ClaimServerCheck)
    assert isinstance(action.then, Respond) and action.then.body == b"abc123"


def test_a_route_marked_for_wechats_consent_asks_wecom_for_its_own() -> None:
    """``snsapi_userinfo`` and ``snsapi_privateinfo`` both mean the consent screen: one
    app's markers work with either provider."""
    answer = marked_route_answer("snsapi_userinfo", is_wechat=True)
    assert answer is not None and answer.status == 302
    assert dict(answer.headers)["Location"].endswith("scope=snsapi_privateinfo")
