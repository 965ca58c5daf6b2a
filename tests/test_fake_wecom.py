"""FakeWeCom keeps WeCom's rules, checked over real sockets with real ``requests``.

The library's WeCom tests trust this fake; these tests are what earns that trust. Each
rule cites the protocol reference, docs/wecom-and-qrconnect.md section 1. The callback
envelope is checked against Tencent's own vectors with raw AES here, never with the
library's ``crypto`` module, so neither can agree with the other's mistake.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wechat_middleware.testing import (
    FakeWeChat,
    FakeWeCom,
    WeChatBrowser,
    WeComMember,
    fake_wecom_env,
)
from wechat_middleware.testing.fake_http import HTTPService
from wechat_middleware.testing.fake_records import Reply, Request
from wechat_middleware.testing.fake_wecom_callbacks import (
    aes_key,
    callback_signature,
    open_message,
    seal_message,
)
from wechat_middleware.testing.user_agents import DESKTOP_UA, IOS_WECHAT_UA, WXWORK_UA

from .support.vectors import (
    AES_KEY,
    CORP_ID,
    PUSH_ENCRYPT,
    PUSH_NONCE,
    PUSH_PLAIN,
    PUSH_SIGNATURE,
    PUSH_TIMESTAMP,
    TOKEN,
    URL_ECHOSTR,
    URL_NONCE,
    URL_PLAIN,
    URL_SIGNATURE,
    URL_TIMESTAMP,
)

GETTOKEN = "cgi-bin/gettoken"
CORP_TICKET = "cgi-bin/get_jsapi_ticket"
AGENT_TICKET = "cgi-bin/ticket/get"
USERINFO = "cgi-bin/auth/getuserinfo"
LEGACY_USERINFO = "cgi-bin/user/getuserinfo"
USERDETAIL = "cgi-bin/auth/getuserdetail"
AUTHORIZE = "connect/oauth2/authorize"
SSO = "wwlogin/sso/login"
CONFIG_CHECK = "fake/jssdk/config"
AGENT_CONFIG_CHECK = "fake/jssdk/agent_config"

FIRST, SECOND = "1000002", "1000003"
AGENTS = {FIRST: "fake-agent-secret", SECOND: "second-agent-secret"}
CALLBACK = "https://app.example.com/wecom/oauth-callback"
PAGE_URL = "http://127.0.0.1:8000/work/?tab=1"
NONCE = "Wm3WZYTPz0wzccnW"

# Tencent's WXBizMsgCrypt sample (docs/wecom-and-qrconnect.md section 1.7), as in test_crypto.
SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_RECEIVER = TOKEN, AES_KEY, CORP_ID
TEXT_MESSAGE = (
    "<xml><ToUserName><![CDATA[ww0123456789abcdef]]></ToUserName>"
    "<FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1409659813</CreateTime>"
    "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content>"
    "<MsgId>1</MsgId><AgentID>1000003</AgentID></xml>"
)


@pytest.fixture
def fake() -> Iterator[FakeWeCom]:
    """A fresh fake with two apps per test: state never leaks between behaviours."""
    with FakeWeCom(agents=AGENTS) as server:
        yield server


# --------------------------------------------------------------------------- helpers


def get(fake: FakeWeCom, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{fake.base_url}/{path}", params=params, timeout=5)


def get_json(fake: FakeWeCom, path: str, **params: Any) -> dict[str, Any]:
    response = get(fake, path, **params)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def errcode(body: dict[str, Any]) -> int:
    code: int = body["errcode"]
    return code


def token(fake: FakeWeCom, agent_id: str = FIRST) -> str:
    body = get_json(fake, GETTOKEN, corpid=fake.corp_id, corpsecret=fake.agent_secret(agent_id))
    value: str = body["access_token"]
    return value


def ticket(fake: FakeWeCom, path: str, access_token: str) -> dict[str, Any]:
    params = {"access_token": access_token}
    if path == AGENT_TICKET:
        params["type"] = "agent_config"
    return get_json(fake, path, **params)


def open_login(
    fake: FakeWeCom,
    path: str = AUTHORIZE,
    headers: dict[str, str] | None = None,
    user_agent: str = WXWORK_UA,
    **overrides: str,
) -> requests.Response:
    """The authorize page (or, with ``path=SSO``, the desktop login) in WeCom's browser."""
    if path == AUTHORIZE:
        params = {"appid": fake.corp_id, "redirect_uri": CALLBACK, "response_type": "code"}
        params.update(scope="snsapi_base", state="abc123", agentid=FIRST)
    else:
        params = {"login_type": "CorpApp", "appid": fake.corp_id, "agentid": FIRST}
        params.update(redirect_uri=CALLBACK, state="abc123")
    params.update(overrides)
    params = {name: value for name, value in params.items() if value is not None}
    return requests.get(
        f"{fake.base_url}/{path}",
        params=params,
        headers={"User-Agent": user_agent, **(headers or {})},
        allow_redirects=False,
        timeout=5,
    )


def redirect_query(response: requests.Response) -> dict[str, list[str]]:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)


def login_code(fake: FakeWeCom, headers: dict[str, str] | None = None, **overrides: str) -> str:
    return redirect_query(open_login(fake, headers=headers, **overrides))["code"][0]


def exchange(fake: FakeWeCom, code: str, agent_id: str = FIRST, path: str = USERINFO) -> Any:
    return get_json(fake, path, access_token=token(fake, agent_id), code=code)


def detail(fake: FakeWeCom, user_ticket: str, agent_id: str = FIRST) -> dict[str, Any]:
    response = requests.post(
        f"{fake.base_url}/{USERDETAIL}",
        params={"access_token": token(fake, agent_id)},
        json={"user_ticket": user_ticket},
        timeout=5,
    )
    body: dict[str, Any] = response.json()
    return body


def sign(ticket_value: str, noncestr: str, timestamp: int, url: str) -> str:
    plain = f"jsapi_ticket={ticket_value}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode()).hexdigest()


def raw_cipher(encoding_aes_key: str) -> Cipher[modes.CBC]:
    """AES-256-CBC with IV = key[:16], built here (section 1.6), not by the fake."""
    key = base64.b64decode(encoding_aes_key + "=")
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def raw_open(encoding_aes_key: str, encrypt: str) -> tuple[bytes, bytes]:
    """``(message, receiveid)`` of an Encrypt text, decrypted and unpadded by hand."""
    decryptor = raw_cipher(encoding_aes_key).decryptor()
    plain = decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length], plain[20 + length :]


def raw_seal(encoding_aes_key: str, message: bytes, receive_id: bytes) -> str:
    plain = bytes(16) + struct.pack(">I", len(message)) + message + receive_id
    pad = 32 - len(plain) % 32
    encryptor = raw_cipher(encoding_aes_key).encryptor()
    padded = plain + bytes([pad]) * pad
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


# --------------------------------------------------------------------------- the server


def test_the_default_fake_is_one_app_with_a_visible_default_member() -> None:
    with FakeWeCom() as fake:
        assert list(fake.agents) == [fake.agent_id] == ["1000002"]
        assert fake.default_userid == "zhangsan"
        assert exchange(fake, login_code(fake, scope="snsapi_privateinfo"))["user_ticket"]


def test_two_apps_may_not_share_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        FakeWeCom(agents={"1": "same", "2": "same"})


def test_errors_are_http_200_json_with_wecoms_errmsg_and_help_link(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.2: every error is an errcode in HTTP 200.
    response = get(fake, GETTOKEN, corpid="ww_not_ours", corpsecret="x")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["errcode"] == 40013
    assert body["errmsg"].startswith("invalid corpid, hint: [")
    assert body["errmsg"].endswith(
        "more info at https://open.work.weixin.qq.com/devtool/query?e=40013"
    )


def test_a_get_to_getuserdetail_is_refused(fake: FakeWeCom) -> None:
    assert errcode(get_json(fake, USERDETAIL, access_token=token(fake))) == 43002


# --------------------------------------------------------------------------- access tokens


def test_gettoken_answers_a_token_with_its_lifetime(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.1
    body = get_json(fake, GETTOKEN, corpid=fake.corp_id, corpsecret=AGENTS[FIRST])
    assert body["errcode"] == 0 and body["errmsg"] == "ok"
    assert body["expires_in"] == 7200 and len(body["access_token"]) > 100


def test_gettoken_within_the_lifetime_returns_the_same_token_and_the_time_left(
    fake: FakeWeCom,
) -> None:
    # docs/wecom-and-qrconnect.md section 1.1: unlike the Official Account's classic token.
    first = token(fake)
    fake.advance(1000)
    body = get_json(fake, GETTOKEN, corpid=fake.corp_id, corpsecret=AGENTS[FIRST])
    assert body["access_token"] == first
    assert 6199 <= body["expires_in"] <= 6200


def test_gettoken_after_expiry_issues_a_new_token_and_the_old_answers_42001(
    fake: FakeWeCom,
) -> None:
    first = token(fake)
    fake.advance(7200)
    assert token(fake) != first
    assert errcode(ticket(fake, CORP_TICKET, first)) == 42001


def test_each_app_has_its_own_token(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.1: a token serves only its app.
    assert token(fake, FIRST) != token(fake, SECOND)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"corpsecret": AGENTS[FIRST]}, 41002),
        ({"corpid": "ww_not_ours", "corpsecret": AGENTS[FIRST]}, 40013),
        ({"corpid": "ww0123456789abcdef"}, 41004),
        ({"corpid": "ww0123456789abcdef", "corpsecret": "not-a-secret"}, 40001),
    ],
)
def test_gettoken_checks_the_corp_id_and_the_app_secret(
    fake: FakeWeCom, params: dict[str, str], expected: int
) -> None:
    # docs/wecom-and-qrconnect.md section 1.2
    assert errcode(get_json(fake, GETTOKEN, **params)) == expected


def token_taking_call(fake: FakeWeCom, path: str, access_token: str | None) -> dict[str, Any]:
    params = {} if access_token is None else {"access_token": access_token}
    if path == USERDETAIL:
        response = requests.post(
            f"{fake.base_url}/{path}", params=params, json={"user_ticket": "x"}, timeout=5
        )
        body: dict[str, Any] = response.json()
        return body
    return get_json(fake, path, code="x", type="agent_config", **params)


TOKEN_TAKING = [CORP_TICKET, AGENT_TICKET, USERINFO, LEGACY_USERINFO, USERDETAIL]


@pytest.mark.parametrize("path", TOKEN_TAKING)
def test_every_token_taking_endpoint_knows_missing_unknown_revoked_and_expired_tokens(
    fake: FakeWeCom, path: str
) -> None:
    # docs/wecom-and-qrconnect.md section 1.1: 40014 invalid, 42001 expired.
    assert errcode(token_taking_call(fake, path, None)) == 41001
    assert errcode(token_taking_call(fake, path, "not-a-token")) == 40014
    fake.invalidate_access_tokens()
    revoked = token(fake)  # the dead token is replaced, not answered again
    fake.invalidate_access_tokens()
    assert errcode(token_taking_call(fake, path, revoked)) == 40014
    fresh = token(fake)
    assert fresh != revoked
    fake.expire_access_tokens()
    assert errcode(token_taking_call(fake, path, fresh)) == 42001


# --------------------------------------------------------------------------- JS-SDK tickets


@pytest.mark.parametrize("path", [CORP_TICKET, AGENT_TICKET])
def test_a_ticket_is_cached_for_its_lifetime_then_reissued(fake: FakeWeCom, path: str) -> None:
    # docs/wecom-and-qrconnect.md section 1.5
    first = ticket(fake, path, token(fake))
    assert first["errcode"] == 0 and first["expires_in"] == 7200
    fake.advance(100)
    again = ticket(fake, path, token(fake))
    assert again["ticket"] == first["ticket"] and again["expires_in"] == 7100
    fake.advance(7100)
    assert ticket(fake, path, token(fake))["ticket"] != first["ticket"]


def test_corp_and_app_tickets_are_apart_and_issued_per_app(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.5: wx.config's corp ticket, wx.agentConfig's app ticket.
    corp_first = ticket(fake, CORP_TICKET, token(fake, FIRST))["ticket"]
    corp_second = ticket(fake, CORP_TICKET, token(fake, SECOND))["ticket"]
    app_first = ticket(fake, AGENT_TICKET, token(fake, FIRST))["ticket"]
    assert len({corp_first, corp_second, app_first}) == 3
    assert fake.current_jsapi_ticket() == corp_first
    assert fake.current_jsapi_ticket(SECOND) == corp_second
    assert fake.current_agent_ticket(FIRST) == app_first
    assert fake.current_agent_ticket(SECOND) is None


@pytest.mark.parametrize("kind", [None, "jsapi", "agent"])
def test_the_app_ticket_needs_type_agent_config(fake: FakeWeCom, kind: str | None) -> None:
    # 91040 "invalid ticket type": WeCom's error table (section 1.2 lists the common ones).
    params = {"access_token": token(fake)} | ({} if kind is None else {"type": kind})
    assert errcode(get_json(fake, AGENT_TICKET, **params)) == 91040


def test_corp_tickets_are_limited_to_100_an_hour_per_app(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.2: 45009 over the limit, by the fake's clock.
    access_token = token(fake)
    for _ in range(100):
        assert ticket(fake, CORP_TICKET, access_token)["errcode"] == 0
    assert errcode(ticket(fake, CORP_TICKET, access_token)) == 45009
    assert ticket(fake, CORP_TICKET, token(fake, SECOND))["errcode"] == 0  # another app
    fake.advance(3600)
    assert ticket(fake, CORP_TICKET, token(fake))["errcode"] == 0


def test_corp_tickets_are_limited_to_400_an_hour_per_corp() -> None:
    # docs/wecom-and-qrconnect.md section 1.2: 400 an hour per corp, 100 per app.
    agents = {str(1000002 + n): f"secret-{n}" for n in range(5)}
    with FakeWeCom(agents=agents) as fake:
        for agent_id in list(agents)[:4]:
            access_token = token(fake, agent_id)
            for _ in range(100):
                assert ticket(fake, CORP_TICKET, access_token)["errcode"] == 0
        assert errcode(ticket(fake, CORP_TICKET, token(fake, "1000006"))) == 45009


def test_app_tickets_are_limited_to_100_an_hour_per_app_apart_from_corp_tickets(
    fake: FakeWeCom,
) -> None:
    # docs/wecom-and-qrconnect.md section 1.5: the fake applies the 100-an-hour figure.
    access_token = token(fake)
    for _ in range(100):
        assert ticket(fake, AGENT_TICKET, access_token)["errcode"] == 0
    assert errcode(ticket(fake, AGENT_TICKET, access_token)) == 45009
    assert ticket(fake, CORP_TICKET, access_token)["errcode"] == 0
    fake.advance(3600)
    assert ticket(fake, AGENT_TICKET, access_token)["errcode"] == 0


# --------------------------------------------------------------------------- the authorize page


def test_authorize_logs_the_default_member_in_with_code_and_state(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.3: redirect_uri?code=CODE&state=STATE.
    response = open_login(fake)
    assert response.headers["Location"].startswith(CALLBACK + "?code=")
    query = redirect_query(response)
    assert query["state"] == ["abc123"] and len(query["code"][0]) <= 512
    assert exchange(fake, query["code"][0]) == {
        "errcode": 0,
        "errmsg": "ok",
        "userid": "zhangsan",
    }


@pytest.mark.parametrize("user_agent", [IOS_WECHAT_UA, DESKTOP_UA])
def test_authorize_outside_the_wecom_browser_asks_to_open_it_in_wecom(
    fake: FakeWeCom, user_agent: str
) -> None:
    response = open_login(fake, user_agent=user_agent)
    assert response.status_code == 200 and "Location" not in response.headers
    assert "企业微信" in response.text


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"appid": "ww_not_ours"}, "appid"),
        ({"appid": None}, "appid"),
        ({"redirect_uri": "/relative/callback"}, "redirect_uri"),
        ({"redirect_uri": "ftp://app.example.com/cb"}, "redirect_uri"),
        ({"response_type": "token"}, "response_type"),
        ({"scope": "snsapi_userinfo"}, "scope"),
        ({"scope": "snsapi_login"}, "scope"),
        ({"agentid": "999"}, "40056"),
        ({"scope": "snsapi_privateinfo", "agentid": None}, "40056"),
        ({"state": "has-dash"}, "state"),
        ({"state": "a" * 129}, "state"),
    ],
)
def test_authorize_errors_are_a_page_with_status_200(
    fake: FakeWeCom, overrides: dict[str, Any], expected: str
) -> None:
    # docs/wecom-and-qrconnect.md section 1.3: privateinfo without agentid fails (strict).
    response = open_login(fake, **overrides)
    assert response.status_code == 200 and "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert expected in response.text


def test_authorize_redirects_only_to_a_trusted_domain_with_its_port() -> None:
    # docs/wecom-and-qrconnect.md section 1.3: exact match, port included, no wildcard.
    with FakeWeCom(trusted_domains={"App.Example.com:8443"}) as fake:
        good = "https://app.example.com:8443/cb"
        assert redirect_query(open_login(fake, redirect_uri=good))["code"]
        for bad in ("https://app.example.com/cb", "https://sub.app.example.com:8443/cb"):
            refused = open_login(fake, redirect_uri=bad)
            assert refused.status_code == 200 and "redirect_uri参数错误" in refused.text


def test_authorize_without_agentid_issues_a_code_any_app_of_the_corp_may_exchange(
    fake: FakeWeCom,
) -> None:
    # docs/wecom-and-qrconnect.md section 1.3: agentid is recommended, not required, for base.
    assert exchange(fake, login_code(fake, agentid=None), SECOND)["userid"] == "zhangsan"


def test_a_non_member_gets_an_openid_and_no_userid(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.3: not a member -> openid (external_userid if any).
    code = login_code(fake, headers={"x-fake-wechat-openid": "oVisitor1"})
    assert exchange(fake, code) == {"errcode": 0, "errmsg": "ok", "openid": "oVisitor1"}


def test_a_customer_of_a_visible_member_gets_an_external_userid(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.3
    openid = fake.add_visitor(external_userid="wmCustomer1")
    assert openid.startswith("o")
    body = exchange(fake, login_code(fake, headers={"x-fake-wechat-openid": openid}))
    assert body["openid"] == openid and body["external_userid"] == "wmCustomer1"
    assert "userid" not in body


# --------------------------------------------------------------------------- codes


def test_a_code_is_single_use(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.3: single use, 5 minutes.
    code = login_code(fake)
    assert exchange(fake, code)["userid"] == "zhangsan"
    assert errcode(exchange(fake, code)) == 40029


def test_an_unknown_code_is_40029_and_a_missing_one_41008(fake: FakeWeCom) -> None:
    assert errcode(exchange(fake, "not-a-code")) == 40029
    assert errcode(get_json(fake, USERINFO, access_token=token(fake))) == 41008


def test_a_code_expires_after_five_minutes(fake: FakeWeCom) -> None:
    code, access_token = login_code(fake), token(fake)
    fake.advance(300)
    assert errcode(get_json(fake, USERINFO, access_token=access_token, code=code)) == 40029


def test_a_code_exchanged_with_another_apps_token_is_50001_and_stays_usable(
    fake: FakeWeCom,
) -> None:
    # docs/wecom-and-qrconnect.md section 1.3: 50001, the redirect is not the token's app's.
    code = login_code(fake, agentid=FIRST)
    assert errcode(exchange(fake, code, SECOND)) == 50001
    assert exchange(fake, code, FIRST)["userid"] == "zhangsan"


def test_legacy_field_names_answer_the_old_capitalised_names(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.3: UserId, DeviceId, OpenId.
    fake.legacy_field_names = True
    member = exchange(fake, login_code(fake, scope="snsapi_privateinfo"))
    assert member["UserId"] == "zhangsan" and member["DeviceId"] and member["user_ticket"]
    assert "userid" not in member
    # The old answer sent the ticket's lifetime along ("随user_ticket一起返回").
    assert member["expires_in"] == 1800
    visitor = exchange(fake, login_code(fake, headers={"x-fake-wechat-openid": "oVisitor1"}))
    assert visitor["OpenId"] == "oVisitor1" and "openid" not in visitor


def test_the_old_user_getuserinfo_always_answers_capitalised_names(fake: FakeWeCom) -> None:
    body = exchange(fake, login_code(fake), path=LEGACY_USERINFO)
    assert body["UserId"] == "zhangsan" and "userid" not in body
    assert exchange(fake, login_code(fake))["userid"] == "zhangsan"  # the new one is unchanged


# --------------------------------------------------------------------------- user tickets


def test_privateinfo_with_consent_and_visibility_gives_a_user_ticket_for_1800_seconds(
    fake: FakeWeCom,
) -> None:
    # docs/wecom-and-qrconnect.md section 1.3. auth/getuserinfo's documented answer is
    # {errcode, errmsg, userid, user_ticket}: the ticket's 1800 s are stated in the docs,
    # not sent (DW96442; docs/fake-beliefs.md). Only the old user/getuserinfo sent them.
    body = exchange(fake, login_code(fake, scope="snsapi_privateinfo"))
    assert body["userid"] == "zhangsan" and "expires_in" not in body
    assert 0 < len(body["user_ticket"]) <= 512
    fake.advance(1799)
    assert detail(fake, body["user_ticket"])["userid"] == "zhangsan"
    fake.advance(1)
    assert errcode(detail(fake, body["user_ticket"])) == 84014


def test_privateinfo_refused_redirects_with_the_state_only(fake: FakeWeCom) -> None:
    response = open_login(
        fake, headers={"x-fake-wechat-consent": "deny"}, scope="snsapi_privateinfo"
    )
    assert redirect_query(response) == {"state": ["abc123"]}


def test_base_scope_never_gives_a_user_ticket(fake: FakeWeCom) -> None:
    body = exchange(fake, login_code(fake, scope="snsapi_base"))
    assert "user_ticket" not in body and "expires_in" not in body


@pytest.mark.parametrize("visible", [False, frozenset({SECOND})])
def test_privateinfo_for_a_member_outside_the_apps_visibility_is_an_error_page(
    fake: FakeWeCom, visible: bool | frozenset[str]
) -> None:
    # DW96441 ("scope的特殊情况"): with snsapi_privateinfo the member must be in the app's
    # visibility scope, or the page reports that they are not: no redirect, no code. (The
    # fake used to issue a code without a user_ticket; docs/corrections.md section 5.)
    fake.add_member(WeComMember(userid="lisi", visible=visible))
    member = {"x-fake-wecom-userid": "lisi"}
    response = open_login(fake, headers=member, scope="snsapi_privateinfo")
    assert response.status_code == 200 and "Location" not in response.headers
    assert "可见范围" in response.text
    # snsapi_base still logs them in: members get their userid whatever the visibility.
    assert exchange(fake, login_code(fake, headers=member))["userid"] == "lisi"


def test_an_interconnected_corps_member_gets_no_user_ticket(fake: FakeWeCom) -> None:
    # DW96442: user_ticket is not supported for 上下游/企业互联 members, whose userid
    # comes as CorpId/userid.
    fake.add_member(WeComMember(userid="wwOtherCorp/lisi"))
    member = {"x-fake-wecom-userid": "wwOtherCorp/lisi"}
    body = exchange(fake, login_code(fake, headers=member, scope="snsapi_privateinfo"))
    assert body["userid"] == "wwOtherCorp/lisi" and "user_ticket" not in body


def test_authorize_keeps_an_empty_state_in_the_redirect(fake: FakeWeCom) -> None:
    # DW96441's example: a link with "state=" comes back as "...&code=CODE&state=".
    response = open_login(fake, state="")
    query = parse_qs(urlsplit(response.headers["Location"]).query, keep_blank_values=True)
    assert query["state"] == [""] and query["code"]


def test_getuserdetail_answers_the_members_sensitive_fields(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.3: gender is a string.
    lisi = WeComMember(
        userid="lisi",
        name="李四",
        gender="2",
        avatar="https://wework.qpic.cn/lisi/0",
        qr_code="https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=lisi",
        mobile="13800000000",
        email="lisi@example.com",
        biz_mail="lisi@corp.example.com",
        address="广州市海珠区新港中路",
    )
    fake.add_member(lisi)
    code = login_code(fake, headers={"x-fake-wecom-userid": "lisi"}, scope="snsapi_privateinfo")
    assert detail(fake, exchange(fake, code)["user_ticket"]) == {
        "errcode": 0,
        "errmsg": "ok",
        "userid": "lisi",
        "gender": "2",
        "avatar": lisi.avatar,
        "qr_code": lisi.qr_code,
        "mobile": lisi.mobile,
        "email": lisi.email,
        "biz_mail": lisi.biz_mail,
        "address": lisi.address,
    }


def test_getuserdetail_shows_only_the_fields_the_administrator_enabled(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.3: otherwise gender "0" and a default avatar.
    fake.add_member(WeComMember(userid="lisi", mobile="138", enabled_fields=frozenset({"mobile"})))
    code = login_code(fake, headers={"x-fake-wecom-userid": "lisi"}, scope="snsapi_privateinfo")
    body = detail(fake, exchange(fake, code)["user_ticket"])
    assert body["gender"] == "0" and body["avatar"] != WeComMember("x").avatar
    assert body["mobile"] == "138"
    assert not {"qr_code", "email", "biz_mail", "address"} & set(body)


def test_unknown_enabled_fields_are_refused(fake: FakeWeCom) -> None:
    with pytest.raises(ValueError, match="enabled_fields"):
        fake.add_member(WeComMember(userid="x", enabled_fields=frozenset({"salary"})))


def test_getuserdetail_refuses_bad_expired_foreign_and_missing_user_tickets(
    fake: FakeWeCom,
) -> None:
    # 84015 invalid, 84014 expired, 84090 missing: WeCom's error table (WxCpErrorMsgEnum).
    user_ticket = exchange(fake, login_code(fake, scope="snsapi_privateinfo"))["user_ticket"]
    assert errcode(detail(fake, "not-a-ticket")) == 84015
    assert errcode(detail(fake, user_ticket, SECOND)) == 84015  # another app's token
    assert errcode(detail(fake, "")) == 84090
    response = requests.post(
        f"{fake.base_url}/{USERDETAIL}",
        params={"access_token": token(fake)},
        data=b"user_ticket=x",
        timeout=5,
    )
    assert response.json()["errcode"] == 84090
    assert "wrong json format" in response.json()["errmsg"]
    assert detail(fake, user_ticket)["userid"] == "zhangsan"
    fake.advance(1800)
    assert errcode(detail(fake, user_ticket)) == 84014


# --------------------------------------------------------------------------- desktop (SSO)


def test_the_sso_page_without_a_scan_shows_a_scan_link(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.4
    response = open_login(fake, SSO, user_agent=DESKTOP_UA)
    assert response.status_code == 200 and "Location" not in response.headers
    assert 'id="scan"' in response.text and "scan=1" in response.text


def test_following_the_scan_link_logs_the_member_in(fake: FakeWeCom) -> None:
    page = open_login(fake, SSO, user_agent=DESKTOP_UA).text
    href = page.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    response = requests.get(fake.base_url + href, allow_redirects=False, timeout=5)
    assert redirect_query(response)["state"] == ["abc123"]


def test_a_scanned_sso_login_exchanges_to_a_userid_only(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.4: userid only, never a user_ticket.
    headers = {"x-fake-wechat-scan": "1", "x-fake-wecom-userid": "lisi"}
    query = redirect_query(open_login(fake, SSO, headers=headers, user_agent=DESKTOP_UA))
    assert query["state"] == ["abc123"]
    assert exchange(fake, query["code"][0]) == {"errcode": 0, "errmsg": "ok", "userid": "lisi"}


def test_an_sso_login_refused_on_the_phone_carries_no_code(fake: FakeWeCom) -> None:
    headers = {"x-fake-wechat-scan": "1", "x-fake-wechat-consent": "deny"}
    assert redirect_query(open_login(fake, SSO, headers=headers)) == {"state": ["abc123"]}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"login_type": "ServiceApp"}, "login_type"),
        ({"login_type": None}, "login_type"),
        ({"appid": "ww_not_ours"}, "appid"),
        ({"agentid": None}, "40056"),
        ({"agentid": "999"}, "40056"),
        ({"redirect_uri": "/cb"}, "redirect_uri"),
        ({"state": "a-b"}, "state"),
    ],
)
def test_sso_link_errors_are_a_page_with_status_200(
    fake: FakeWeCom, overrides: dict[str, Any], expected: str
) -> None:
    # docs/wecom-and-qrconnect.md section 1.4: login_type=CorpApp, appid=CorpID, agentid.
    response = open_login(fake, SSO, headers={"x-fake-wechat-scan": "1"}, **overrides)
    assert response.status_code == 200 and "Location" not in response.headers
    assert expected in response.text


# --------------------------------------------------------------------------- the test browser


def test_the_browser_names_the_member_to_the_wecom_login_pages(fake: FakeWeCom) -> None:
    fake.add_member(WeComMember(userid="lisi"))
    url = open_login(fake, agentid=FIRST).request.url
    assert url is not None
    with WeChatBrowser(user_agent="wxwork", userid="lisi") as browser:
        login = browser.get(url, follow_redirects=False)
        sso = browser.get(
            url.replace(AUTHORIZE, SSO) + "&login_type=CorpApp", follow_redirects=False
        )
        assert browser.new()._options()["userid"] == "lisi"
    for response in (login, sso):
        code = parse_qs(urlsplit(response.location or "").query)["code"][0]
        assert exchange(fake, code)["userid"] == "lisi"


def test_fake_wecom_env_points_an_app_at_the_fake(fake: FakeWeCom) -> None:
    env = fake_wecom_env(fake, store="sqlite:///tmp/x.sqlite3")
    assert {name: env[name] for name in env if name != "WECHAT_SECRET_KEY"} == {
        "WECHAT_PROVIDER": "wecom",
        "WECHAT_CORP_ID": fake.corp_id,
        "WECHAT_CORP_SECRET": AGENTS[FIRST],
        "WECHAT_AGENT_ID": FIRST,
        "WECHAT_API_BASE": fake.base_url,
        "WECHAT_OPEN_BASE": fake.base_url,
        "WECHAT_LOGIN_BASE": fake.base_url,
        "WECHAT_TOKEN": fake.callback_token,
        "WECHAT_ENCODING_AES_KEY": fake.encoding_aes_key,
        "WECHAT_STORE": "sqlite:///tmp/x.sqlite3",
        "WECHAT_JSSDK_URL": fake.jssdk_url,
        "WECHAT_ALLOWED_HOSTS": "testserver,.localhost,127.0.0.1,[::1]",  # in-process, loopback
    }
    assert len(env["WECHAT_SECRET_KEY"]) >= 32
    assert env["WECHAT_SECRET_KEY"] != fake_wecom_env(fake)["WECHAT_SECRET_KEY"]


def test_the_plugins_wecom_env_sets_only_the_fakes_variables(
    wecom_env: dict[str, str], fake_wecom: FakeWeCom
) -> None:
    import os

    assert wecom_env["WECHAT_CORP_ID"] == fake_wecom.corp_id
    assert {n: v for n, v in os.environ.items() if n.startswith("WECHAT_")} == wecom_env
    assert requests.get(fake_wecom.jssdk_url, timeout=5).status_code == 200


# --------------------------------------------------------------------------- the JS-SDK stand-in


def test_wecoms_bridge_checks_agent_config_and_wechats_does_not(fake: FakeWeCom) -> None:
    wecom = fake.bridge_script()
    assert f'"{fake.base_url}/{AGENT_CONFIG_CHECK}"' in wecom
    with FakeWeChat() as wechat:
        script = wechat.bridge_script()
        served = requests.get(wechat.jssdk_url, timeout=5).text  # bridge + stand-in
    assert "var AGENT_CONFIG_ENDPOINT = null;" in script and AGENT_CONFIG_CHECK not in served
    assert "__AGENT_CONFIG_ENDPOINT__" not in script + wecom + served


def check(fake: FakeWeCom, path: str, body: dict[str, Any], user_agent: str = WXWORK_UA) -> str:
    response = requests.post(
        f"{fake.base_url}/{path}", json=body, headers={"User-Agent": user_agent}, timeout=5
    )
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    errmsg: str = response.json()["errMsg"]
    return errmsg


def signed(ticket_value: str, url: str = PAGE_URL, **fields: Any) -> dict[str, Any]:
    timestamp = 1700000000
    body = {"timestamp": timestamp, "nonceStr": NONCE, "url": url, "landing_url": url}
    body["signature"] = sign(ticket_value, NONCE, timestamp, url)
    return body | fields


def test_wx_config_is_checked_against_any_apps_corp_ticket(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.5: appId is the CorpID; same signature as OA.
    corp_ticket = ticket(fake, CORP_TICKET, token(fake, SECOND))["ticket"]
    assert check(fake, CONFIG_CHECK, signed(corp_ticket, appId=fake.corp_id)) == "config:ok"
    other = signed(corp_ticket, appId="ww_not_ours")
    assert check(fake, CONFIG_CHECK, other) == "config:invalid url domain"
    app_ticket = ticket(fake, AGENT_TICKET, token(fake))["ticket"]
    wrong = signed(app_ticket, appId=fake.corp_id)
    assert check(fake, CONFIG_CHECK, wrong) == "config:invalid signature"


def test_agent_config_is_checked_against_that_apps_ticket(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md sections 1.2 and 1.5: invalid signature is e=40093.
    app_ticket = ticket(fake, AGENT_TICKET, token(fake, SECOND))["ticket"]
    good = signed(app_ticket, corpid=fake.corp_id, agentid=int(SECOND))
    assert check(fake, AGENT_CONFIG_CHECK, good) == "agentConfig:ok"
    for bad in (
        good | {"agentid": FIRST},  # another app's ticket
        signed(fake.current_jsapi_ticket(SECOND) or "", corpid=fake.corp_id, agentid=SECOND),
        good | {"signature": "0" * 40},
    ):
        errmsg = check(fake, AGENT_CONFIG_CHECK, bad)
        assert "invalid signature" in errmsg and "40093" in errmsg


def test_agent_config_names_a_foreign_corp_or_unknown_app(fake: FakeWeCom) -> None:
    app_ticket = ticket(fake, AGENT_TICKET, token(fake))["ticket"]
    body = signed(app_ticket, corpid=fake.corp_id, agentid=FIRST)
    assert "invalid corpId" in check(fake, AGENT_CONFIG_CHECK, body | {"corpid": "ww_x"})
    assert "invalid agentid" in check(fake, AGENT_CONFIG_CHECK, body | {"agentid": "999"})


@pytest.mark.parametrize("user_agent", [IOS_WECHAT_UA, DESKTOP_UA])
def test_agent_config_fails_outside_wecom(fake: FakeWeCom, user_agent: str) -> None:
    # docs/wecom-and-qrconnect.md section 1.5: only inside WeCom.
    app_ticket = ticket(fake, AGENT_TICKET, token(fake))["ticket"]
    body = signed(app_ticket, corpid=fake.corp_id, agentid=FIRST)
    assert check(fake, AGENT_CONFIG_CHECK, body, user_agent).startswith("agentConfig:fail")


def test_agent_config_in_wecom_checks_the_current_url_on_ios_too(fake: FakeWeCom) -> None:
    # WeCom's own SDK signs location.href inside WeCom on every platform (@wecom/jssdk
    # 2.4.4, ConfigTask: useOriginalURL is for WeChat only): the landing URL is WeChat's rule.
    app_ticket = ticket(fake, AGENT_TICKET, token(fake))["ticket"]
    body = signed(app_ticket, corpid=fake.corp_id, agentid=FIRST)
    moved = body | {"landing_url": "http://127.0.0.1:8000/work/landing"}
    android = WXWORK_UA.replace("iPhone", "Linux; Android 13")
    assert check(fake, AGENT_CONFIG_CHECK, moved) == "agentConfig:ok"
    assert check(fake, AGENT_CONFIG_CHECK, moved, android) == "agentConfig:ok"
    route = body | {"url": "http://127.0.0.1:8000/work/route"}
    assert "invalid signature" in check(fake, AGENT_CONFIG_CHECK, route)


# --------------------------------------------------------------------------- the envelope


def test_the_fakes_envelope_reproduces_tencents_url_check_vector() -> None:
    # docs/wecom-and-qrconnect.md section 1.7
    key = aes_key(SAMPLE_AES_KEY)
    signature = callback_signature(SAMPLE_TOKEN, URL_TIMESTAMP, URL_NONCE, URL_ECHOSTR)
    assert signature == URL_SIGNATURE
    random16, message, receive_id = open_message(key, URL_ECHOSTR)
    assert (message, receive_id) == (URL_PLAIN.encode(), SAMPLE_RECEIVER)
    assert seal_message(key, message, receive_id, random16) == URL_ECHOSTR


def test_the_fakes_envelope_reproduces_tencents_push_vector() -> None:
    # docs/wecom-and-qrconnect.md section 1.7: 352 bytes, pad 30, only with 32-byte blocks.
    key = aes_key(SAMPLE_AES_KEY)
    signature = callback_signature(SAMPLE_TOKEN, PUSH_TIMESTAMP, PUSH_NONCE, PUSH_ENCRYPT)
    assert signature == PUSH_SIGNATURE
    random16, message, receive_id = open_message(key, PUSH_ENCRYPT)
    assert (message, receive_id) == (PUSH_PLAIN, SAMPLE_RECEIVER)
    assert seal_message(key, message, receive_id, random16) == PUSH_ENCRYPT


def sample_fake() -> FakeWeCom:
    """A fake with the sample's settings (not started: the envelope needs no server)."""
    return FakeWeCom(SAMPLE_RECEIVER, callback_token=SAMPLE_TOKEN, encoding_aes_key=SAMPLE_AES_KEY)


def reply_xml(encrypt: str, signature: str, timestamp: str, nonce: str) -> bytes:
    return (
        f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
        f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
    ).encode()


def test_open_reply_reads_a_correct_reply_as_wecom_does() -> None:
    # docs/wecom-and-qrconnect.md section 1.6: <Encrypt/><MsgSignature/><TimeStamp/><Nonce/>.
    body = reply_xml(PUSH_ENCRYPT, PUSH_SIGNATURE, PUSH_TIMESTAMP, PUSH_NONCE)
    opened = sample_fake().open_reply(body, timestamp=PUSH_TIMESTAMP, nonce=PUSH_NONCE)
    assert opened == PUSH_PLAIN.decode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (reply_xml(PUSH_ENCRYPT, "0" * 40, PUSH_TIMESTAMP, PUSH_NONCE), "MsgSignature"),
        (reply_xml(PUSH_ENCRYPT, PUSH_SIGNATURE, "1409659814", PUSH_NONCE), "MsgSignature"),
        (f"<xml><Encrypt>{PUSH_ENCRYPT}</Encrypt></xml>".encode(), "lacks MsgSignature"),
        (b"success", "lacks Encrypt"),
        (reply_xml("@@", callback_signature(SAMPLE_TOKEN, "1", "n", "@@"), "1", "n"), "base64"),
    ],
)
def test_open_reply_says_what_is_wrong_with_a_bad_reply(body: bytes, expected: str) -> None:
    with pytest.raises(AssertionError, match=expected):
        sample_fake().open_reply(body, timestamp=PUSH_TIMESTAMP, nonce=PUSH_NONCE)


def test_open_reply_refuses_a_reply_encrypted_for_another_receiver() -> None:
    # docs/wecom-and-qrconnect.md section 1.6: reject a receiveid that is not ours.
    encrypt = raw_seal(SAMPLE_AES_KEY, b"<xml/>", b"ww_someone_else")
    signature = callback_signature(SAMPLE_TOKEN, "1", "n", encrypt)
    with pytest.raises(AssertionError, match="ww_someone_else"):
        sample_fake().open_reply(reply_xml(encrypt, signature, "1", "n"))


def test_seal_signs_and_encrypts_a_push_for_the_corp(fake: FakeWeCom) -> None:
    # docs/wecom-and-qrconnect.md section 1.6: the signature covers Encrypt.
    params, body = fake.seal(TEXT_MESSAGE, timestamp=1409659813, nonce="1372623149")
    xml = body.decode()
    assert xml.startswith(f"<xml><ToUserName><![CDATA[{fake.corp_id}]]></ToUserName><Encrypt>")
    assert xml.endswith("<AgentID><![CDATA[1000003]]></AgentID></xml>")
    encrypt = xml.split("<Encrypt><![CDATA[", 1)[1].split("]]>", 1)[0]
    assert params == {
        "msg_signature": callback_signature(
            fake.callback_token, "1409659813", "1372623149", encrypt
        ),
        "timestamp": "1409659813",
        "nonce": "1372623149",
    }
    assert raw_open(fake.encoding_aes_key, encrypt) == (
        TEXT_MESSAGE.encode(),
        fake.corp_id.encode(),
    )
    _, other = fake.seal("<xml/>", timestamp=1, nonce="n", receive_id="ww_someone_else")
    encrypt = other.decode().split("<Encrypt><![CDATA[", 1)[1].split("]]>", 1)[0]
    assert raw_open(fake.encoding_aes_key, encrypt)[1] == b"ww_someone_else"


def test_a_bad_encoding_aes_key_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="43"):
        FakeWeCom(encoding_aes_key="too-short")


def test_the_fake_imports_without_cryptography_and_says_how_to_install_it() -> None:
    script = (
        "import sys; sys.modules['cryptography'] = None\n"
        "from wechat_middleware.testing import FakeWeCom\n"
        "fake = FakeWeCom()\n"
        "try:\n"
        "    fake.seal('<xml/>', timestamp=1, nonce='n')\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'cryptography>=41'" in done.stdout


# --------------------------------------------------------------------------- WeCom calling the app

Answer = Callable[[str, dict[str, str], bytes], tuple[int, bytes]]


class CallbackApp:
    """An app's callback endpoint on loopback; ``answer`` decides, ``seen`` records."""

    def __init__(self) -> None:
        self.answer: Answer = lambda method, query, body: (200, b"")
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        self.http = HTTPService(self._respond, "127.0.0.1").start()
        self.url = f"http://127.0.0.1:{self.http.port}/wecom/callback"

    def _respond(self, request: Request) -> Reply:
        self.seen.append((request.method, request.query, request.body))
        status, content = self.answer(request.method, request.query, request.body)
        return Reply(status, content, "text/plain")


@pytest.fixture
def app() -> Iterator[CallbackApp]:
    served = CallbackApp()
    yield served
    served.http.stop()


def echo_plaintext(fake: FakeWeCom, suffix: bytes = b"") -> Answer:
    """A correct URL check (section 1.6), written with raw AES, plus ``suffix``."""

    def answer(method: str, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        fields = (fake.callback_token, query["timestamp"], query["nonce"], query["echostr"])
        if hashlib.sha1("".join(sorted(fields)).encode()).hexdigest() != query["msg_signature"]:
            return 403, b"bad signature"
        message, receive_id = raw_open(fake.encoding_aes_key, query["echostr"])
        assert receive_id == fake.corp_id.encode()
        return 200, message + suffix

    return answer


def test_check_url_passes_an_app_that_answers_the_bare_plaintext(
    fake: FakeWeCom, app: CallbackApp
) -> None:
    # docs/wecom-and-qrconnect.md section 1.6: the plaintext, no quotes, BOM or newline.
    app.answer = echo_plaintext(fake)
    fake.advance(1000)
    result = fake.check_url(app.url)
    assert result.ok and result.status == 200 and result.body.isdigit()
    assert result.elapsed < 1
    ((method, query, _),) = app.seen
    assert method == "GET" and set(query) == {"msg_signature", "timestamp", "nonce", "echostr"}
    assert abs(int(query["timestamp"]) - fake.now()) < 5  # the fake's clock


@pytest.mark.parametrize("suffix", [b"\n", b'"'])
def test_check_url_fails_an_app_that_adds_anything(
    fake: FakeWeCom, app: CallbackApp, suffix: bytes
) -> None:
    app.answer = echo_plaintext(fake, suffix)
    result = fake.check_url(app.url)
    assert result.status == 200 and not result.ok


def test_check_url_fails_an_app_that_refuses(fake: FakeWeCom, app: CallbackApp) -> None:
    app.answer = lambda method, query, body: (403, b"")
    assert not fake.check_url(app.url).ok


def test_push_posts_the_envelope_signed_over_encrypt(fake: FakeWeCom, app: CallbackApp) -> None:
    # docs/wecom-and-qrconnect.md section 1.6
    result = fake.push(app.url, TEXT_MESSAGE, timestamp=1409659813, nonce="42")
    assert result.ok
    ((method, query, body),) = app.seen
    encrypt = body.decode().split("<Encrypt><![CDATA[", 1)[1].split("]]>", 1)[0]
    assert method == "POST" and query["timestamp"] == "1409659813" and query["nonce"] == "42"
    expected = callback_signature(fake.callback_token, "1409659813", "42", encrypt)
    assert query["msg_signature"] == expected
    assert raw_open(fake.encoding_aes_key, encrypt)[0] == TEXT_MESSAGE.encode()


def test_a_passive_reply_round_trips_through_open_reply(fake: FakeWeCom, app: CallbackApp) -> None:
    def reply(method: str, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        encrypt = raw_seal(fake.encoding_aes_key, b"<xml>reply</xml>", fake.corp_id.encode())
        signature = callback_signature(fake.callback_token, "77", "nonce77", encrypt)
        return 200, reply_xml(encrypt, signature, "77", "nonce77")

    app.answer = reply
    result = fake.push(app.url, TEXT_MESSAGE)
    assert fake.open_reply(result.body, timestamp="77", nonce="nonce77") == "<xml>reply</xml>"
