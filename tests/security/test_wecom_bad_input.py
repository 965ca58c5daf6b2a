"""Hostile and malformed requests to a WeCom app (WECHAT_PROVIDER=wecom), over both
adapters (WSGI and ASGI, in-process) and Django's two handlers, against FakeWeCom.

The same four checks as ``test_bad_input`` (``check_answer``, ``no_login``): never a 5xx,
no CR/LF/NUL in a header, every ``Location`` on the site or WeCom's authorize page coming
back to it, and nobody logged in. Then each case states what it gets: a 403 for anything
about the encrypted callbacks that is not WeCom's, a 400 page for a bad login callback.

WeCom facts (docs/wecom-and-qrconnect.md section 1.6): the URL check and pushes carry
``msg_signature`` = sha1 of the sorted Token, timestamp, nonce and ciphertext; the
ciphertext is AES-256-CBC with PKCS#7 to 32-byte blocks around ``random(16) || length ||
message || corp id``. Section 1.3: the login's code is single-use and bound to its app.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote, urlencode

import pytest

from wechat_middleware import WeChat
from wechat_middleware.crypto import msg_signature, parse_xml
from wechat_middleware.stores import open_store
from wechat_middleware.testing.fake_wecom import FakeWeCom
from wechat_middleware.testing.user_agents import WXWORK_UA

from ..conftest import OpenClient, fake_wecom_config
from ..support.apps import AppClient
from .helpers import CALLBACK, check_answer, no_login, state_of

USERINFO = "cgi-bin/auth/getuserinfo"
PLAIN_PUSH = "<xml><MsgType><![CDATA[text]]></MsgType><Content>hi</Content></xml>"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeCom]:
    """One FakeWeCom for the whole matrix (its clock only moves forward)."""
    with FakeWeCom(agents={"1000002": "agent-secret-a", "1000003": "agent-secret-b"}) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_counters(fake: FakeWeCom) -> None:
    fake.reset_counts()
    fake.clear_faults()


@pytest.fixture
def wechat(fake: FakeWeCom) -> Iterator[WeChat]:
    store = open_store("memory://", clock=fake.now)
    wechat = WeChat(fake_wecom_config(fake), store=store, clock=fake.now)
    yield wechat
    wechat.close()


@pytest.fixture
def client(open_client: OpenClient, kind: str, wechat: WeChat) -> AppClient:
    return open_client(kind, wechat)


def now(fake: FakeWeCom) -> int:
    return int(fake.now())


def sealed(fake: FakeWeCom, text: str, nonce: str, **seal: str) -> tuple[dict[str, str], str]:
    """Query parameters and the ``Encrypt`` text of ``text`` sealed as WeCom does."""
    params, body = fake.seal(text, timestamp=now(fake), nonce=nonce, **seal)
    return params, parse_xml(body)["Encrypt"]


def resigned(fake: FakeWeCom, params: dict[str, str], encrypt: str) -> dict[str, str]:
    """``params`` with a valid signature over ``encrypt``: the check after it is tested."""
    signature = msg_signature(fake.callback_token, params["timestamp"], params["nonce"], encrypt)
    return {**params, "msg_signature": signature}


def cut(encrypt: str, blocks: int) -> str:
    """The ciphertext without its last ``blocks`` AES blocks (padding broken)."""
    raw = base64.b64decode(encrypt)
    return base64.b64encode(raw[: len(raw) - 16 * blocks]).decode()


def url_check(fake: FakeWeCom, case: str) -> str:
    """The query of a URL check, broken as ``case`` says."""
    nonce = f"{case[:8]}{time.monotonic_ns() % 10**8}"
    params, encrypt = sealed(fake, "1234567890", nonce)
    echostr = encrypt
    if case == "forged-signature":
        params["msg_signature"] = "0" * 40
    elif case == "signature-for-another-echostr":
        echostr = sealed(fake, "999", nonce + "x")[1]
    elif case == "bad-base64":
        echostr = "!!not*base64!!"
        params = resigned(fake, params, echostr)
    elif case == "another-corp":
        params, echostr = sealed(fake, "1234567890", nonce, receive_id="wwAnotherCorp0001")
    elif case == "truncated-padding":
        echostr = cut(encrypt, 1)
        params = resigned(fake, params, echostr)
    elif case == "not-whole-blocks":
        echostr = base64.b64encode(base64.b64decode(encrypt)[:-3]).decode()
        params = resigned(fake, params, echostr)
    elif case == "empty-echostr":
        echostr = ""
        params = resigned(fake, params, echostr)
    elif case == "huge-echostr":
        echostr = "A" * 100_000
        params = resigned(fake, params, echostr)
    elif case == "missing-msg-signature":
        del params["msg_signature"]
    elif case == "plain-wechat-signature":
        params["signature"] = params.pop("msg_signature")
    elif case == "stale-timestamp":
        params["timestamp"] = str(now(fake) - 3600)
        params = resigned(fake, params, echostr)
    query = urlencode({**params, "echostr": echostr}, quote_via=quote)
    if case == "repeated-echostr":
        query += "&echostr=" + quote(encrypt)
    return query


URL_CHECK_CASES = [
    "forged-signature",
    "signature-for-another-echostr",
    "bad-base64",
    "another-corp",
    "truncated-padding",
    "not-whole-blocks",
    "empty-echostr",
    "huge-echostr",
    "missing-msg-signature",
    "plain-wechat-signature",
    "stale-timestamp",
    "repeated-echostr",
]


@pytest.mark.parametrize("case", URL_CHECK_CASES)
def test_a_url_check_that_is_not_wecoms_is_forbidden(
    client: AppClient, fake: FakeWeCom, wechat: WeChat, case: str
) -> None:
    answer = client.get(f"/wechat/verify?{url_check(fake, case)}", ua="Mozilla/5.0")
    check_answer(answer, open_base=fake.open_base)
    no_login(wechat, answer, client.cookie)
    assert answer.status == 403, (case, answer.content[:200])


def test_the_same_url_check_is_answered_once(client: AppClient, fake: FakeWeCom) -> None:
    params, encrypt = sealed(fake, "1234567890", f"once{time.monotonic_ns()}")
    query = urlencode({**params, "echostr": encrypt})
    first = client.get(f"/wechat/verify?{query}")
    again = client.get(f"/wechat/verify?{query}")
    assert (first.status, first.content) == (200, b"1234567890")
    assert again.status == 403


def push(fake: FakeWeCom, case: str) -> tuple[str, bytes]:
    """The target and body of a push, broken as ``case`` says."""
    nonce = f"{case[:8]}{time.monotonic_ns() % 10**8}"
    params, body = fake.seal(PLAIN_PUSH, timestamp=now(fake), nonce=nonce)
    encrypt = parse_xml(body)["Encrypt"]

    def with_encrypt(text: str) -> bytes:
        return f"<xml><Encrypt><![CDATA[{text}]]></Encrypt></xml>".encode()

    if case == "forged-signature":
        params["msg_signature"] = "f" * 40
    elif case == "another-corp":
        params, body = fake.seal(
            PLAIN_PUSH, timestamp=now(fake), nonce=nonce, receive_id="wwAnotherCorp0001"
        )
    elif case == "bad-base64":
        params, body = resigned(fake, params, "%%%"), with_encrypt("%%%")
    elif case == "truncated-padding":
        short = cut(encrypt, 2)
        params, body = resigned(fake, params, short), with_encrypt(short)
    elif case == "no-encrypt-element":
        body = PLAIN_PUSH.encode()
    elif case == "not-xml":
        body = b"\xff\xfe\x00garbage"
    elif case == "empty-body":
        body = b""
    elif case == "entity-bomb":
        body = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;&a;</Encrypt></xml>'
    elif case == "huge-body":
        body = with_encrypt("A" * 300_000)
    return f"/wechat/verify?{urlencode(params)}", body


PUSH_CASES = {
    "forged-signature": 403,
    "another-corp": 403,
    "bad-base64": 403,
    "truncated-padding": 403,
    "no-encrypt-element": 403,
    "not-xml": 403,
    "empty-body": 403,
    "entity-bomb": 403,
    "huge-body": 413,
}


@pytest.mark.parametrize(("case", "status"), list(PUSH_CASES.items()), ids=list(PUSH_CASES))
def test_a_push_that_is_not_wecoms_is_refused(
    client: AppClient, fake: FakeWeCom, wechat: WeChat, case: str, status: int
) -> None:
    target, body = push(fake, case)
    answer = client.request("POST", target, body=body, ua="Mozilla/5.0")
    check_answer(answer, open_base=fake.open_base)
    no_login(wechat, answer, client.cookie)
    assert answer.status == status, (case, answer.content[:200])
    assert answer.content != b"posted"  # the app never saw it


def test_forged_pushes_and_url_checks_log_one_line(
    client: AppClient, fake: FakeWeCom, caplog: pytest.LogCaptureFixture
) -> None:
    """Each forged one used to write a WARNING: a flood filled the log (issue #20 item
    12). The first is written; the rest are counted into the next line a minute on."""
    with caplog.at_level(logging.WARNING, logger="wechat_middleware"):
        for _ in range(20):
            target, body = push(fake, "forged-signature")
            assert client.request("POST", target, body=body, ua="Mozilla/5.0").status == 403
            check = "/wechat/verify?" + url_check(fake, "forged-signature")
            assert client.get(check, ua="Mozilla/5.0").status == 403
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rejected")]
    assert len(lines) == 1, lines


def test_a_genuine_push_reaches_the_app(client: AppClient, fake: FakeWeCom) -> None:
    target, body = push(fake, "genuine")
    answer = client.request("POST", target, body=body, ua="Mozilla/5.0")
    assert answer.status == 200 and answer.content == b"posted"


# -- the login callback in WeCom mode ---------------------------------------------------------


def start_login(client: AppClient) -> str:
    start = client.get("/page", ua=WXWORK_UA)
    assert start.status == 302 and start.location and "agentid=" in start.location
    return state_of(start.location)


def code_for(fake: FakeWeCom, agent_id: str) -> str:
    """A real code from the authorize page, issued for ``agent_id``'s app."""
    import requests

    location = (
        f"{fake.open_base}/connect/oauth2/authorize?appid={fake.corp_id}"
        "&redirect_uri=http%3A%2F%2Ftestserver%2Fwechat%2Foauth-callback&response_type=code"
        f"&scope=snsapi_base&state=abc&agentid={agent_id}#wechat_redirect"
    )
    reply = requests.get(
        location.split("#")[0],
        headers={"User-Agent": WXWORK_UA},
        allow_redirects=False,
        timeout=5,
    )
    assert reply.status_code == 302, reply.text
    return reply.headers["Location"].split("code=")[1].split("&")[0]


CALLBACK_CASES: dict[str, tuple[Callable[[str, FakeWeCom], str], int, int]] = {
    "forged-state": (lambda s, f: "state=" + "a" * 32 + "&code=x", 400, 0),
    "no-state": (lambda s, f: "code=x", 400, 0),
    "huge-code": (lambda s, f: f"state={s}&code={'c' * 600}", 400, 0),
    "non-ascii-code": (lambda s, f: f"state={s}&code=%E4%BD%A0%E5%A5%BD", 400, 0),
    "forged-code": (lambda s, f: f"state={s}&code=forgedcode0123456789", 400, 1),
    "code-of-another-app": (lambda s, f: f"state={s}&code={code_for(f, '1000003')}", 400, 1),
}


@pytest.mark.parametrize(
    ("build", "status", "exchanges"), list(CALLBACK_CASES.values()), ids=list(CALLBACK_CASES)
)
def test_a_bad_login_callback_logs_nobody_in(
    client: AppClient,
    fake: FakeWeCom,
    wechat: WeChat,
    build: Callable[[str, FakeWeCom], str],
    status: int,
    exchanges: int,
) -> None:
    state = start_login(client)
    answer = client.get(f"{CALLBACK}?{build(state, fake)}", ua=WXWORK_UA)
    check_answer(answer, open_base=fake.open_base)
    no_login(wechat, answer, client.cookie)
    assert answer.status == status
    assert fake.calls(USERINFO) == exchanges


def test_an_official_accounts_cookie_is_no_login_for_a_wecom_app(
    client: AppClient, fake: FakeWeCom, wechat: WeChat
) -> None:
    """Same secret key, another app: the cookie's salt names the app (corp and agent)."""
    from wechat_middleware.session import Session, SessionCodec
    from wechat_middleware.user import WeChatUser

    theirs = SessionCodec("test-secret-key-0123456789abcdef", 3600, app_id=fake.corp_id)
    cookie = theirs.dumps(Session(user=WeChatUser("o" * 28)))
    answer = client.get("/page", ua=WXWORK_UA, cookie=cookie)
    assert answer.status == 302  # sent to log in: the cookie counted for nothing
    no_login(wechat, answer)
