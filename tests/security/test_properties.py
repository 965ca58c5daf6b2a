"""Property-based tests (hypothesis): what holds for every input, not just the ones we thought of.

- URL normalisation: idempotent, no fragment, a prefix of its input.
- Signatures: the JS-SDK signature and the server check recomputed independently from
  the protocol text (docs/wechat-protocol.md sections 1.1 and 4.1) agree with ours, and round-trip
  through the flow.
- The request decision: for any request view, ``Flow.decide`` never raises; an answer
  has a known status, header values free of CR/LF and a Location that is same-origin or
  WeChat's authorize page; ``safe_next`` only ever returns a local path.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.actions import (
    ClaimServerCheck,
    CompleteLogin,
    OpenMessage,
    PassThrough,
)
from wechat_middleware.answers import Respond
from wechat_middleware.render import script_safe_json
from wechat_middleware.session import PendingLogin, Session, valid_state
from wechat_middleware.signing import (
    check_server_signature,
    jsapi_signature,
    server_signature,
)
from wechat_middleware.steps import open_message
from wechat_middleware.testing.user_agents import (
    DESKTOP_UA,
    IOS_WECHAT_UA,
    NAVIGATION_ACCEPT,
    WXWORK_UA,
)
from wechat_middleware.urls import normalize_url, safe_next
from wechat_middleware.user import WeChatUser
from wechat_middleware.view import RequestView

from ..support.flow import Flow

NOW = 1_700_000_000.0
TOKEN = "server-check-token"
OPEN_BASE = "https://open.weixin.qq.com"
PUBLIC = "https://shop.example"
# 429: the login path after too many attempts in a row (a browser stuck in a loop)
STATUSES = {200, 302, 400, 403, 405, 429}
ALNUM = string.ascii_letters + string.digits

# Modest, so the suite stays fast; no example database: nothing is written to the tree.
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Text as a server could hand it over: any code point, lone surrogates included, and
# bytes decoded as latin-1 (what WSGI and ASGI servers do with raw bytes).
any_char = st.one_of(st.characters(), st.characters(categories=["Cs"]))
any_text = st.one_of(
    st.text(any_char, max_size=80),
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
)
url_text = st.text(max_size=200)  # real URLs: no lone surrogates


def build_wechat(public_url: str | None) -> WeChat:
    """No network: the decision is pure, and nothing here reads a signature."""
    config = WeChatConfig(
        app_id="wx0123456789abcdef",
        app_secret="app-secret",
        token=TOKEN,
        secret_key="test-secret-key-0123456789abcdef",
        api_base="http://127.0.0.1:9",
        open_base=OPEN_BASE,
        public_url=public_url,
        store="memory://",
    )
    return WeChat(config, clock=lambda: NOW)


@pytest.fixture(scope="module", params=[None, PUBLIC], ids=["request-host", "public-url"])
def flow(request: pytest.FixtureRequest) -> Iterator[Flow]:
    wechat = build_wechat(request.param)
    yield Flow.of(wechat)
    wechat.close()


# -- URL normalisation --------------------------------------------------------------------


@SETTINGS
@given(url=st.text(any_char, max_size=200))
@example(url="http://mp.weixin.qq.com?params=value#frag#ment")
def test_normalize_url_is_idempotent_fragment_free_and_a_prefix(url: str) -> None:
    normal = normalize_url(url)
    assert "#" not in normal
    assert url.startswith(normal)
    assert normalize_url(normal) == normal
    if "#" not in url:
        assert normal == url  # nothing else is touched: the browser signs it byte for byte


# -- signatures ---------------------------------------------------------------------------


def reference_jsapi_signature(ticket: str, nonce: str, timestamp: int, url: str) -> str:
    """docs/wechat-protocol.md section 4.1, read literally: sort the fields by name, join ``k=v``
    with ``&``, sha1."""
    fields = {"noncestr": nonce, "jsapi_ticket": ticket, "timestamp": str(timestamp), "url": url}
    plain = "&".join(f"{name}={fields[name]}" for name in sorted(fields))
    return hashlib.sha1(plain.encode("utf-8")).hexdigest()


def test_jsapi_signature_official_vector() -> None:
    ticket = (
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    )
    expected = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    url = "http://mp.weixin.qq.com?params=value"
    assert jsapi_signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, url) == expected
    assert reference_jsapi_signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, url) == expected


@SETTINGS
@given(
    ticket=st.text(ALNUM + "-_", min_size=1, max_size=120),
    url=url_text,
)
def test_jsapi_signature_round_trips_through_gen_signature(ticket: str, url: str) -> None:
    wechat = _SIGNER
    info = wechat.jssdk.gen_signature(ticket, url)
    assert info["url"] == normalize_url(url)
    assert info["timestamp"] == int(NOW)
    assert info["nonceStr"].isalnum() and len(info["nonceStr"]) == 16
    assert info["signature"] == reference_jsapi_signature(
        ticket, info["nonceStr"], info["timestamp"], normalize_url(url)
    )
    assert "jsapi_ticket" not in wechat.jssdk.get_cached_url_signature().get(info["url"], {})


_SIGNER = build_wechat(None)
_FLOW = Flow.of(_SIGNER)

server_field = st.text(st.characters(codec="utf-8"), min_size=1, max_size=64)


@SETTINGS
@given(token=server_field, timestamp=server_field, nonce=server_field)
def test_server_check_round_trip(token: str, timestamp: str, nonce: str) -> None:
    signature = server_signature(token, timestamp, nonce)
    # docs/wechat-protocol.md section 1.1, read literally:
    plain = "".join(sorted([token, timestamp, nonce]))
    assert signature == hashlib.sha1(plain.encode("utf-8")).hexdigest()
    assert check_server_signature(token, timestamp, nonce, signature)
    assert check_server_signature(token, timestamp, nonce, signature.upper())
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert not check_server_signature(token, timestamp, nonce, flipped)
    assert not check_server_signature(token + "x", timestamp, nonce, signature)


@settings(SETTINGS, max_examples=100)
@given(token=any_text, timestamp=any_text, nonce=any_text, signature=any_text)
def test_server_check_never_raises(token: str, timestamp: str, nonce: str, signature: str) -> None:
    assert check_server_signature(token, timestamp, nonce, signature) in (True, False)


@SETTINGS
@given(
    nonce=st.text(st.characters(codec="utf-8"), min_size=1, max_size=128),
    echostr=st.text(st.characters(codec="utf-8"), max_size=1024),
)
def test_a_signed_server_check_echoes_echostr_through_the_flow(
    flow: Flow, nonce: str, echostr: str
) -> None:
    timestamp = str(int(NOW))
    query = urlencode(
        {
            "signature": server_signature(TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echostr,
        }
    )
    action = flow.decide(view(path="/wechat/verify", raw_path="/wechat/verify", query=query))
    assert isinstance(action, ClaimServerCheck)  # claimed once in the store, then:
    action = action.then
    assert isinstance(action, Respond)
    assert (action.status, action.body) == (200, echostr.encode("utf-8"))
    forged = query.replace("signature=", "signature=0", 1)
    action = flow.decide(view(path="/wechat/verify", raw_path="/wechat/verify", query=forged))
    assert isinstance(action, Respond) and action.status == 403


# -- the request decision ---------------------------------------------------------------

SPECIAL_PATHS = ["/wechat/verify", "/wechat/oauth-callback", "/wechat/login", "/", "/static/x"]
STATE = "S" * 32


def view(**fields: str) -> RequestView:
    values = {
        "method": "GET",
        "scheme": "http",
        "host": "example.com",
        "path": "/",
        "raw_path": "/",
        "query": "",
        "user_agent": IOS_WECHAT_UA,
        "accept": NAVIGATION_ACCEPT,
    }
    values.update(fields)
    return RequestView(**values)


@st.composite
def cookies(draw: st.DrawFn, flow: Flow, for_callback: bool = False) -> str:
    kinds = ["pending", "pending", "spent", "text"] if for_callback else ["none", "text", "user"]
    kind = draw(st.sampled_from([*kinds, "pending", "spent"]))
    if kind == "none":
        return ""
    if kind == "text":
        return draw(any_text)
    if kind == "user":
        session = Session(user=WeChatUser(openid="o-user"))
    else:  # a login in progress, with a return target that may be anything at all
        started = NOW - draw(st.sampled_from([0, 10, 599, 601, -5]))
        # (any text a cookie can carry: itsdangerous cannot sign lone surrogates)
        target = draw(st.one_of(st.text(max_size=80), st.sampled_from(["//evil.example", "/ok"])))
        pending = PendingLogin(STATE, target, started)
        attempts = (3, NOW) if kind == "spent" else (1, NOW)
        session = Session(pending=pending, attempts=attempts)
    name = flow.config.session_cookie
    return f"{name}={flow.codec.dumps(session)}" + draw(st.sampled_from(["", "; other=1"]))


query_names = st.sampled_from(
    ["signature", "timestamp", "nonce", "echostr", "state", "code", "next"]
)
query_values = st.one_of(
    any_text, st.just(STATE), st.just(str(int(NOW))), st.just("//evil.example")
)


@st.composite
def queries(draw: st.DrawFn, shape: str | None = None) -> str:
    shape = shape or draw(st.sampled_from(["text", "pairs", "callback", "server-check"]))
    if shape == "text":
        return draw(any_text)
    pairs = draw(st.lists(st.tuples(query_names, query_values), max_size=2))
    if shape == "callback":  # the browser's own state, with some code
        code = draw(st.one_of(st.text(ALNUM + "-_", min_size=1, max_size=40), any_text))
        pairs = [("state", STATE), ("code", code), *pairs]
    elif shape == "server-check":  # validly signed, then perhaps more fields
        nonce = draw(st.text(ALNUM, min_size=1, max_size=16))
        timestamp = str(int(NOW))
        signature = server_signature(TOKEN, timestamp, nonce)
        signed = [("signature", signature), ("timestamp", timestamp), ("nonce", nonce)]
        pairs = [*signed, ("echostr", draw(any_text)), *pairs]
    elif shape == "login":
        pairs = [("next", draw(query_values)), *pairs]
    return "&".join(f"{k}={v}" for k, v in pairs)


SHAPES = {
    "/wechat/verify": "server-check",
    "/wechat/oauth-callback": "callback",
    "/wechat/login": "login",
}


@st.composite
def views(draw: st.DrawFn, flow: Flow) -> RequestView:
    """Half arbitrary, half plausible (so every branch of the decision is reached)."""
    if draw(st.booleans()):
        path = draw(st.one_of(st.sampled_from(SPECIAL_PATHS), any_text))
        return RequestView(
            method=draw(st.one_of(st.sampled_from(["GET", "HEAD", "POST", "PUT"]), any_text)),
            scheme=draw(st.one_of(st.sampled_from(["http", "https"]), any_text)),
            host=draw(st.one_of(st.sampled_from(HOSTS), any_text)),
            path=path,
            raw_path=draw(st.one_of(st.just(path), any_text)),
            query=draw(queries()),
            user_agent=draw(
                st.one_of(st.sampled_from([IOS_WECHAT_UA, DESKTOP_UA, WXWORK_UA, ""]), any_text)
            ),
            accept=draw(
                st.one_of(st.sampled_from([NAVIGATION_ACCEPT, "application/json", ""]), any_text)
            ),
            cookie=draw(cookies(flow)),
            requested_with=draw(st.sampled_from(["", "XMLHttpRequest"])),
        )
    path = draw(st.sampled_from([*SPECIAL_PATHS, "/wechat/oauth-callback", "/wechat/verify"]))
    return RequestView(
        method=draw(st.sampled_from(["GET", "GET", "GET", "HEAD", "POST"])),
        scheme=draw(st.sampled_from(["http", "https"])),
        host=draw(st.sampled_from(HOSTS)),
        path=path,
        raw_path=path,
        query=draw(queries(SHAPES.get(path))),
        user_agent=draw(st.sampled_from([IOS_WECHAT_UA, DESKTOP_UA])),
        accept=NAVIGATION_ACCEPT,
        cookie=draw(cookies(flow, for_callback=path == "/wechat/oauth-callback")),
    )


HOSTS = ["example.com", "example.com:8443", "[::1]:80", "", "evil.example\r\nX: y"]


@settings(SETTINGS, max_examples=100)  # per configuration: 200 requests in all
@given(data=st.data())
def test_decide_never_raises_and_every_answer_is_safe(flow: Flow, data: st.DataObject) -> None:
    request = data.draw(views(flow))
    action = flow.decide(request)
    if isinstance(action, OpenMessage):  # a signed push: its body opened, then claimed
        assert action.key.startswith(flow.rules.keys.prefix)
        action = open_message(replace(action, body=data.draw(st.binary(max_size=64))), flow.rules)
    if isinstance(action, ClaimServerCheck):  # a signed server check: claimed, then
        assert action.key.startswith(flow.rules.keys.prefix)
        action = action.then
    if isinstance(action, Respond):
        assert action.status in STATUSES
        assert isinstance(action.body, bytes)
        for name, value in action.headers:
            assert "\r" not in value and "\n" not in value, (name, value)
            if name == "Location":
                check_location(flow, request, value)
    elif isinstance(action, CompleteLogin):
        assert valid_state(action.state) and action.state == STATE
        assert action.code.isascii() and action.code.isprintable() and len(action.code) <= 512
        assert flow.location(action.next_url) == flow.location(safe_next(action.next_url))
        check_location(flow, request, flow.location(action.next_url))
    else:
        assert isinstance(action, PassThrough)
        assert action.user is None or action.user.openid == "o-user"


@settings(SETTINGS, max_examples=100)  # per configuration
@given(
    code=st.one_of(
        st.text(ALNUM + "-_", min_size=1, max_size=600),
        st.text(max_size=40),
        st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    ),
    target=st.text(max_size=80),
    age=st.floats(min_value=-10, max_value=700),
)
def test_a_callback_with_this_browsers_state(
    flow: Flow, code: str, target: str, age: float
) -> None:
    """The browser's own state: a well-formed code in time completes, anything else is a 4xx."""
    pending = PendingLogin(STATE, target, NOW - age)
    cookie = f"{flow.config.session_cookie}={flow.codec.dumps(Session(pending=pending))}"
    query = urlencode({"state": STATE, "code": code})
    request = view(
        path="/wechat/oauth-callback", raw_path="/wechat/oauth-callback", query=query, cookie=cookie
    )
    action = flow.decide(request)
    fine = 0 < len(code) <= 512 and code.isascii() and code.isprintable()
    elapsed = NOW - pending.started  # (as the flow computes it: floats round)
    if fine and 0 <= elapsed < 600:
        assert isinstance(action, CompleteLogin)
        assert (action.code, action.state, action.next_url) == (code, STATE, target)
        assert action.session.pending is None  # the state cannot be used twice
        check_location(flow, request, flow.location(action.next_url))
    else:
        assert isinstance(action, Respond) and action.status in (400, 403)
        for name, value in action.headers:
            assert name != "Location" and "\r" not in value and "\n" not in value


def check_location(flow: Flow, request: RequestView, location: str) -> None:
    assert all(0x20 < ord(c) < 0x7F for c in location), location
    assert "\\" not in location, location
    if location.startswith(OPEN_BASE + "/connect/oauth2/authorize?"):
        query = parse_qs(urlsplit(location.split("#", 1)[0]).query)
        origin = flow.config.public_url or f"{request.scheme}://{request.host}"
        assert query["redirect_uri"] == [origin + "/wechat/oauth-callback"]
        assert query["appid"] == [flow.config.app_id] and valid_state(query["state"][0])
        return
    public = flow.config.public_url
    if public:
        assert location.startswith(public + "/") and not location.startswith(public + "//")
        return
    assert location.startswith("/") and not location.startswith("//"), location
    assert urlsplit(urljoin("http://example.com/a/b", location)).netloc == "example.com"


# -- safe_next ------------------------------------------------------------------------------


@SETTINGS
@given(raw=st.one_of(any_text, st.text(max_size=80).map(lambda t: "/" + t)))
@example(raw="/\udc80")
@example(raw="//evil.example")
@example(raw="/\\evil.example")
def test_safe_next_always_returns_a_local_path(raw: str) -> None:
    out = safe_next(raw)
    assert out.startswith("/") and not out.startswith("//")
    assert "\\" not in out
    assert all(0x20 < ord(c) < 0x7F for c in out)  # printable ASCII: no controls, no spaces
    assert safe_next(out) == out
    assert urlsplit(urljoin("http://example.com/a/b", out)).netloc == "example.com"


@settings(SETTINGS, max_examples=100)
@given(raw=st.from_regex(r"/[A-Za-z0-9/_.~-]{0,60}(\?[A-Za-z0-9=&%_-]{0,40})?", fullmatch=True))
def test_safe_next_keeps_an_ordinary_local_path(raw: str) -> None:
    assert safe_next(raw) == "/" + raw.lstrip("/")


# -- the session cookie ---------------------------------------------------------------------


@SETTINGS
@given(
    nickname=st.text(any_char, min_size=1, max_size=40),
    target=st.text(any_char, max_size=80),
    flip=st.integers(min_value=0),
)
def test_session_cookie_round_trips_and_any_change_empties_it(
    nickname: str, target: str, flip: int
) -> None:
    """Whatever WeChat put in a profile, the cookie is written; a changed byte reads empty."""
    flow = _FLOW
    user = WeChatUser(openid="o-user", scope="snsapi_userinfo", nickname=nickname)
    session = Session(
        user=user, pending=PendingLogin(STATE, safe_next(target), NOW), logged_in_at=NOW
    )
    value = flow.codec.dumps(session)
    assert value.isascii() and ";" not in value and "," not in value and " " not in value
    # (JSON escapes join a split surrogate pair back into its character: same text)
    joined = nickname.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    assert flow.codec.loads(value) == Session(
        user=WeChatUser("o-user", "snsapi_userinfo", nickname=joined),
        pending=session.pending,
        logged_in_at=NOW,
    )
    at = flip % len(value)
    changed = value[:at] + ("A" if value[at] != "A" else "B") + value[at + 1 :]
    # (a change in the last character of the signature may decode to the same bytes)
    assert flow.codec.loads(changed).user in (None, flow.codec.loads(value).user)
    assert flow.codec.loads(value[:at]) == Session()


# -- what goes into the page's <script> ---------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(st.characters(codec="utf-8")),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(codec="utf-8")), inner, max_size=4)
    ),
    max_leaves=12,
)


@SETTINGS
@given(value=json_values)
@example(value={"url": "</script><script>alert(1)</script>", "x": "\u2028<!--"})
def test_script_safe_json_cannot_end_the_script_it_is_placed_in(value: object) -> None:
    """``config_json``/``signature_json`` go inside ``<script>``: no markup, same JSON."""
    text = script_safe_json(value)
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == value
