"""Hostile and malformed requests, over both adapters (WSGI and ASGI, in-process) and
over Django's WSGI and ASGI handlers with our Django middleware.

Every case checks the same four things (``check_answer`` and ``no_login``):
- the middleware answers, and never with a 5xx;
- no header carries CR, LF or NUL (no header injection);
- a ``Location`` is a local path, the configured public URL or the request's own origin
  (or WeChat's authorize page, whose ``redirect_uri`` is one of those);
- nobody is logged in by it;
and each case then states what it should get: a 4xx, a login start (302 to WeChat),
or the page itself (a safe pass-through).

WeChat facts (docs/wechat-protocol.md sections 1.1, 5.1 and 5.2): the server check signs sorted
token, timestamp and
nonce; the callback brings ``code`` (single-use, 5 minutes) and ``state`` (up to 128
``[A-Za-z0-9]``), and ``state`` alone when the user declines consent.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest

from wechat_middleware import WeChat
from wechat_middleware.signing import server_signature
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import DESKTOP_UA, IOS_WECHAT_UA

from ..conftest import MakeWeChat, OpenClient
from ..support.apps import DJANGO_KINDS, Answer, AppClient, app_client
from .helpers import (
    CALLBACK,
    ORIGIN,
    SignedLongAgo,
    authorize,
    check_answer,
    log_in,
    no_login,
    session_user,
    signer,
    spent_code,
    state_of,
)

TOKEN = "server-check-token"  # tests/conftest.py's fake_config
EXCHANGE = "sns/oauth2/access_token"
PUBLIC = "https://shop.example"


@pytest.fixture(scope="module")
def fake_wechat() -> Iterator[FakeWeChat]:
    """One fake for the whole matrix: starting one per case would cost more than the case.

    Its clock only moves forward, and everything here reads it, so a test that ages
    codes or states (``advance``) leaves the others consistent.
    """
    with FakeWeChat() as fake:
        yield fake


@pytest.fixture(autouse=True)
def fresh_counters(fake_wechat: FakeWeChat) -> None:
    fake_wechat.reset_counts()
    fake_wechat.clear_faults()


@pytest.fixture
def wechat(make_wechat: MakeWeChat) -> WeChat:
    return make_wechat()


@pytest.fixture
def client(kind: str, wechat: WeChat) -> Iterator[AppClient]:
    with app_client(kind, wechat) as client:
        yield client


@pytest.fixture
def raw(kind: str, wechat: WeChat, open_client: OpenClient) -> AppClient:
    return open_client(kind, wechat)


# -- 1. the server check (GET/POST {verify_path}) ------------------------------------------


def signed(
    ts: int | str, nonce: str = "n0nce", echostr: str = "echo-123", token: str = TOKEN
) -> str:
    signature = server_signature(token, str(ts), nonce)
    return (
        f"signature={signature}&timestamp={quote(str(ts))}&nonce={quote(nonce)}&echostr={echostr}"
    )


def sig(ts: int | str, nonce: str = "n0nce") -> str:
    return server_signature(TOKEN, str(ts), nonce)


VERIFY_CASES: dict[str, tuple[Callable[[int], str], int]] = {
    "nothing": (lambda now: "", 403),
    "missing-signature": (lambda now: f"timestamp={now}&nonce=n0nce&echostr=e", 403),
    "missing-timestamp": (lambda now: f"signature={sig(now)}&nonce=n0nce&echostr=e", 403),
    "missing-nonce": (lambda now: f"signature={sig(now)}&timestamp={now}&echostr=e", 403),
    "blank-values": (lambda now: "signature=&timestamp=&nonce=&echostr=e", 403),
    "forged-signature": (
        lambda now: f"signature={'0' * 40}&timestamp={now}&nonce=n0nce&echostr=e",
        403,
    ),
    "signed-with-another-token": (lambda now: signed(now, token="not-our-token"), 403),
    "duplicated-signature-same-value": (lambda now: f"{signed(now)}&signature={sig(now)}", 403),
    "duplicated-signature-forged-first": (
        lambda now: f"signature={'0' * 40}&{signed(now)}",
        403,
    ),
    "duplicated-timestamp": (lambda now: f"{signed(now)}&timestamp={now}", 403),
    "duplicated-nonce": (lambda now: f"{signed(now)}&nonce=n0nce", 403),
    "over-long-signature": (
        lambda now: f"signature={'a' * 5000}&timestamp={now}&nonce=n0nce",
        403,
    ),
    "over-long-nonce-validly-signed": (lambda now: signed(now, nonce="n" * 200), 403),
    "over-long-echostr-validly-signed": (lambda now: signed(now, echostr="e" * 2000), 400),
    "duplicated-echostr-validly-signed": (lambda now: f"{signed(now)}&echostr=other", 400),
    "stale-timestamp": (lambda now: signed(now - 301), 403),
    "hour-old-timestamp": (lambda now: signed(now - 3600), 403),
    "future-timestamp": (lambda now: signed(now + 3600), 403),
    "fullwidth-digit-timestamp": (
        lambda now: signed("".join(chr(0xFF10 + int(d)) for d in str(now))),
        403,
    ),
    "exponent-timestamp": (lambda now: signed("1.7e9"), 403),
    "negative-timestamp": (lambda now: signed(-now), 403),
    "over-long-timestamp": (lambda now: signed("0" * 20 + str(now)), 403),
    "too-many-fields": (lambda now: signed(now) + "".join(f"&f{i}=1" for i in range(40)), 403),
    "percent-garbage": (lambda now: "signature=%zz&timestamp=%&nonce=%ff%fe&echostr=%", 403),
    "uppercase-hex-signature": (
        lambda now: signed(now).replace(sig(now), sig(now).upper()),
        200,
    ),
    "script-in-echostr-is-inert-text": (
        lambda now: signed(now, echostr="%3Cscript%3Ealert(1)%3C/script%3E"),
        200,
    ),
    "crlf-in-echostr-stays-in-the-body": (
        lambda now: signed(now, echostr="x%0d%0aSet-Cookie:%20pwned=1"),
        200,
    ),
}


@pytest.mark.parametrize(("build", "status"), list(VERIFY_CASES.values()), ids=list(VERIFY_CASES))
def test_server_check_bad_input(
    client: AppClient,
    fake_wechat: FakeWeChat,
    wechat: WeChat,
    build: Callable[[int], str],
    status: int,
) -> None:
    answer = client.get(f"/wechat/verify?{build(int(fake_wechat.now()))}")
    check_answer(answer, open_base=fake_wechat.open_base)
    no_login(wechat, answer)
    assert answer.status == status
    assert answer.location is None and not answer.set_cookies
    # Whatever comes back is inert text: never HTML a browser would run.
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "query", "status"),
    [("POST", "", 403), ("POST", "forged", 403), ("POST", "signed", 200), ("PUT", "signed", 405)],
    ids=["unsigned-push", "forged-push", "signed-push-reaches-the-app", "put"],
)
def test_server_check_other_methods(
    client: AppClient, fake_wechat: FakeWeChat, method: str, query: str, status: int
) -> None:
    now = int(fake_wechat.now())
    built = {
        "": "",
        "forged": f"signature={'0' * 40}&timestamp={now}&nonce=n",
        "signed": signed(now),
    }
    answer = client.request(method, f"/wechat/verify?{built[query]}")
    check_answer(answer, open_base=fake_wechat.open_base)
    assert answer.status == status
    if status == 200:
        assert answer.text == "posted"  # the app got it, not our echo


# -- 2. the OAuth callback ------------------------------------------------------------------


# (query from the browser's real state and the fake, status, code exchanges it may cause)
CALLBACK_CASES: dict[str, tuple[Callable[[str, FakeWeChat], str], int, int]] = {
    "nothing": (lambda s, f: "", 400, 0),
    "code-without-state": (lambda s, f: f"code={f.issue_code()}", 400, 0),
    "declined-consent-state-only": (lambda s, f: f"state={s}", 403, 0),
    "blank-code": (lambda s, f: f"state={s}&code=", 403, 0),
    "forged-state": (lambda s, f: f"state=forged0state&code={f.issue_code()}", 400, 0),
    "truncated-state": (lambda s, f: f"state={s[:-1]}&code={f.issue_code()}", 400, 0),
    "extended-state": (lambda s, f: f"state={s}A&code={f.issue_code()}", 400, 0),
    "case-flipped-state": (lambda s, f: f"state={s.swapcase()}&code={f.issue_code()}", 400, 0),
    "state-with-path-chars": (lambda s, f: f"state=..%2F{s}&code={f.issue_code()}", 400, 0),
    "unicode-lookalike-state": (
        lambda s, f: f"state=%D0%90{s[1:]}&code={f.issue_code()}",  # Cyrillic A
        400,
        0,
    ),
    "oversized-state": (lambda s, f: f"state={'A' * 129}&code={f.issue_code()}", 400, 0),
    "64kb-state": (lambda s, f: f"state={'A' * 65536}&code={f.issue_code()}", 400, 0),
    "duplicated-state": (lambda s, f: f"state={s}&state={s}&code={f.issue_code()}", 400, 0),
    "duplicated-code": (
        lambda s, f: f"state={s}&code={f.issue_code()}&code={f.issue_code()}",
        403,
        0,
    ),
    "oversized-code": (lambda s, f: f"state={s}&code={'c' * 513}", 400, 0),
    "64kb-code": (lambda s, f: f"state={s}&code={'c' * 65536}", 400, 0),
    "nul-in-code": (lambda s, f: f"state={s}&code=%00{f.issue_code()}", 400, 0),
    "crlf-in-code": (lambda s, f: f"state={s}&code=x%0d%0aSet-Cookie:%20pwned=1", 400, 0),
    "non-ascii-code": (lambda s, f: f"state={s}&code=%E4%BD%A0%E5%A5%BD", 400, 0),
    "too-many-fields": (
        lambda s, f: f"state={s}&code={f.issue_code()}" + "".join(f"&f{i}=1" for i in range(40)),
        400,
        0,
    ),
    "forged-code": (lambda s, f: f"state={s}&code=forgedcode0123456789", 400, 1),
    "used-code": (lambda s, f: f"state={s}&code={spent_code(f)}", 400, 2),
}


@pytest.mark.parametrize(
    ("build", "status", "exchanges"), list(CALLBACK_CASES.values()), ids=list(CALLBACK_CASES)
)
def test_callback_bad_input(
    raw: AppClient,
    fake_wechat: FakeWeChat,
    wechat: WeChat,
    build: Callable[[str, FakeWeChat], str],
    status: int,
    exchanges: int,
) -> None:
    # The raw client: HTTP client libraries refuse 64 KB URLs before they are sent.
    start = raw.get("/page")
    assert start.status == 302 and start.location
    answer = raw.get(f"{CALLBACK}?{build(state_of(start.location), fake_wechat)}")
    check_answer(answer, open_base=fake_wechat.open_base)
    no_login(wechat, answer, raw.cookie)
    assert answer.status == status
    assert answer.location is None  # a page with a link back, never an automatic redirect
    assert fake_wechat.calls(EXCHANGE) == exchanges


def test_callback_with_an_expired_code(
    client: AppClient, fake_wechat: FakeWeChat, wechat: WeChat
) -> None:
    start = client.get("/page")
    assert start.location
    code = fake_wechat.issue_code()
    fake_wechat.advance(301)  # codes live 5 minutes, states 10
    answer = client.get(f"{CALLBACK}?state={state_of(start.location)}&code={code}")
    check_answer(answer, open_base=fake_wechat.open_base)
    no_login(wechat, answer, client.cookie)
    assert answer.status == 400 and fake_wechat.calls(EXCHANGE) == 1


def test_callback_with_an_expired_state(
    client: AppClient, fake_wechat: FakeWeChat, wechat: WeChat
) -> None:
    start = client.get("/page")
    assert start.location
    _, callback = authorize(start.location)
    fake_wechat.advance(601)
    answer = client.get(callback)
    check_answer(answer, open_base=fake_wechat.open_base)
    no_login(wechat, answer, client.cookie)
    assert answer.status == 400 and fake_wechat.calls(EXCHANGE) == 0


def test_replayed_callback_with_the_old_cookie(
    client: AppClient, fake_wechat: FakeWeChat, wechat: WeChat
) -> None:
    start = client.get("/page")
    assert start.location
    before = client.cookie
    _, callback = authorize(start.location)
    assert client.get(callback).status == 302
    for _ in range(3):  # an attacker who captured the request replays it as it was
        client.cookie = before
        answer = client.get(callback)
        check_answer(answer, open_base=fake_wechat.open_base)
        no_login(wechat, answer, client.cookie)
        assert answer.status == 400 and answer.location is None
    assert fake_wechat.calls(EXCHANGE) == 1  # refused before WeChat is asked again


def test_callback_carrying_another_browsers_state_and_code(
    kind: str, wechat: WeChat, fake_wechat: FakeWeChat
) -> None:
    """Login CSRF: the attacker's own (valid) callback, opened in the victim's browser."""
    with app_client(kind, wechat) as attacker, app_client(kind, wechat) as victim:
        start = attacker.get("/page")
        assert start.location
        _, callback = authorize(start.location, **{"X-Fake-WeChat-Openid": "o-attacker"})
        for victim_cookie in (None, "started"):
            if victim_cookie:
                assert victim.get("/other").status == 302  # the victim has its own login going
            answer = victim.get(callback)
            check_answer(answer, open_base=fake_wechat.open_base)
            no_login(wechat, answer, victim.cookie)
            assert answer.status == 400
        assert fake_wechat.calls(EXCHANGE) == 0  # the attacker's code is still unspent


def test_post_to_the_callback(client: AppClient, fake_wechat: FakeWeChat, wechat: WeChat) -> None:
    start = client.get("/page")
    assert start.location
    _, callback = authorize(start.location)
    answer = client.request("POST", callback)
    check_answer(answer, open_base=fake_wechat.open_base)
    no_login(wechat, answer, client.cookie)
    assert answer.status == 405 and fake_wechat.calls(EXCHANGE) == 0


# -- 3. the session cookie -----------------------------------------------------------------


def flip(value: str, index: int) -> str:
    return value[:index] + ("A" if value[index] != "A" else "B") + value[index + 1 :]


VICTIM = {"u": {"openid": "o-victim", "scope": "snsapi_base"}}

COOKIE_CASES: dict[str, Callable[[WeChat, str], str]] = {
    "tampered-signature": lambda w, good: flip(good, len(good) - 2),
    "tampered-payload": lambda w, good: flip(good, 3),
    "truncated-to-half": lambda w, good: good[: len(good) // 2],
    "truncated-by-one": lambda w, good: good[:-1],
    "signature-stripped": lambda w, good: good.split(".", 1)[0],
    "re-signed-with-another-key": lambda w, good: signer(w, "another-key").dumps(VICTIM),
    "right-key-wrong-salt": lambda w, good: signer(w, salt="flask-session").dumps(VICTIM),
    "expired": lambda w, good: signer(w, signer=SignedLongAgo).dumps(VICTIM),
    "oversized-but-validly-signed": lambda w, good: signer(w).dumps(
        {**VICTIM, "pad": secrets.token_urlsafe(3000)}  # incompressible: over 3,800 bytes
    ),
    "garbage": lambda w, good: "%%%\"';,\\",
    "signed-hostile-openid": lambda w, good: signer(w).dumps({"u": {"openid": "../../admin"}}),
    "signed-hostile-scope": lambda w, good: signer(w).dumps(
        {"u": {"openid": "o-victim", "scope": "snsapi_admin"}}
    ),
    "signed-user-not-a-mapping": lambda w, good: signer(w).dumps({"u": "o-victim"}),
    "signed-payload-not-a-mapping": lambda w, good: signer(w).dumps([VICTIM]),
    "signed-hostile-pending-login": lambda w, good: signer(w).dumps(
        {"p": ["bad state!", "//evil.example", "NaN"], "a": ["x", None], "x": "soon"}
    ),
}


@pytest.mark.parametrize("make", list(COOKIE_CASES.values()), ids=list(COOKIE_CASES))
def test_session_cookie_bad_input(
    client: AppClient,
    fake_wechat: FakeWeChat,
    wechat: WeChat,
    make: Callable[[WeChat, str], str],
) -> None:
    good = log_in(client)
    assert session_user(wechat, good) is not None
    client.cookie = make(wechat, good)
    answer = client.get("/page")
    check_answer(answer, open_base=fake_wechat.open_base)
    no_login(wechat, answer, client.cookie)
    assert answer.status == 302  # nobody logged in: a WeChat browser is sent to log in


def test_a_second_session_cookie_cannot_smuggle_a_login(
    client: AppClient, fake_wechat: FakeWeChat, wechat: WeChat
) -> None:
    good = log_in(client)
    client.cookie = None
    answer = client.get("/page", headers={"Cookie": f"wechat_session=junk; wechat_session={good}"})
    check_answer(answer, open_base=fake_wechat.open_base)
    no_login(wechat, answer, client.cookie)
    assert answer.status == 302


# -- 4. open redirects: the login path's ``next`` and the page a login started from ---------

NEXT_CASES: dict[str, tuple[str, str]] = {
    # id: (the ``next`` value as sent in the query, where the browser must end up)
    "scheme-relative": ("//evil.example", "/evil.example"),
    "triple-slash": ("///evil.example", "/evil.example"),
    "encoded-scheme-relative": ("%2F%2Fevil.example", "/evil.example"),
    "slash-then-encoded-slashes": ("/%2F%2Fevil.example", "/evil.example"),
    "slash-backslash": ("/%5Cevil.example", "/"),
    "raw-slash-backslash": ("/\\evil.example", "/"),
    "double-backslash": ("%5C%5Cevil.example", "/"),
    "slash-backslash-slash": ("/%5C/evil.example", "/"),
    "scheme-without-slashes": ("https:evil.example", "/"),
    "absolute-url": ("https://evil.example", "/"),
    "absolute-url-encoded": ("https%3A%2F%2Fevil.example", "/"),
    "double-encoded-slashes": ("%252F%252Fevil.example", "/"),
    "slash-then-double-encoded-slashes": ("/%252F%252Fevil.example", "/%2F%2Fevil.example"),
    "crlf-header-injection": ("/%0d%0aSet-Cookie:%20pwned=1", "/"),
    "crlf-after-a-path": ("/ok%0d%0aLocation:%20https://evil.example", "/"),
    "double-encoded-crlf-stays-text": (
        "/%250d%250aSet-Cookie:pwned=1",
        "/%0d%0aSet-Cookie:pwned=1",
    ),
    "tab-in-slashes": ("/%09/evil.example", "/"),
    "leading-tab": ("%09//evil.example", "/"),
    "nul": ("/%00//evil.example", "/"),
    "leading-space": ("%20//evil.example", "/"),
    "ideographic-full-stop": ("%E3%80%82evil.example", "/"),
    "fullwidth-solidus-after-slash": (
        "/%EF%BC%8F%EF%BC%8Fevil.example",
        "/%EF%BC%8F%EF%BC%8Fevil.example",
    ),
    "fullwidth-solidus": ("%EF%BC%8F%EF%BC%8Fevil.example", "/"),
    "fraction-slash": ("/%E2%81%84%E2%81%84evil.example", "/%E2%81%84%E2%81%84evil.example"),
    "javascript-url": ("javascript:alert(1)", "/"),
    "data-url": ("data:text/html,%3Cscript%3Ealert(1)%3C/script%3E", "/"),
    "over-long": ("/" + "a" * 3000, "/"),
    "benign-path-with-query": ("/account%3Ftab%3D2", "/account?tab=2"),
}


@pytest.mark.parametrize(("sent", "landing"), list(NEXT_CASES.values()), ids=list(NEXT_CASES))
def test_login_next_never_leaves_the_site(
    client: AppClient, fake_wechat: FakeWeChat, sent: str, landing: str
) -> None:
    start = client.get(f"/wechat/login?next={sent}", ua=DESKTOP_UA)
    check_answer(start, open_base=fake_wechat.open_base)
    assert start.status == 302 and start.location
    back = client.get(authorize(start.location)[1], ua=DESKTOP_UA)
    check_answer(back, open_base=fake_wechat.open_base)
    assert back.status == 302 and back.location == landing


@pytest.mark.parametrize(
    ("sent", "landing"),
    [NEXT_CASES[k] for k in ("scheme-relative", "slash-backslash", "crlf-header-injection")],
    ids=["scheme-relative", "slash-backslash", "crlf-header-injection"],
)
def test_login_next_with_public_url_stays_on_the_public_origin(
    kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat, sent: str, landing: str
) -> None:
    with app_client(kind, make_wechat(public_url=PUBLIC)) as client:
        start = client.get(f"/wechat/login?next={sent}", ua=DESKTOP_UA)
        check_answer(start, open_base=fake_wechat.open_base, origins=[PUBLIC])
        assert start.location
        back = client.get(authorize(start.location)[1], ua=DESKTOP_UA)
        check_answer(back, open_base=fake_wechat.open_base, origins=[PUBLIC])
        assert back.status == 302 and back.location == PUBLIC + landing


def test_callback_query_cannot_choose_where_the_login_returns(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    start = client.get("/page")
    assert start.location
    _, callback = authorize(start.location)
    evil = "https%3A%2F%2Fevil.example"
    back = client.get(f"{callback}&next=//evil.example&redirect_uri={evil}&return_to={evil}")
    check_answer(back, open_base=fake_wechat.open_base)
    assert back.status == 302 and back.location == "/page"


def test_a_validly_signed_pending_login_cannot_redirect_off_site(
    client: AppClient, fake_wechat: FakeWeChat, wechat: WeChat
) -> None:
    """Defence in depth: even a return target in our own signed cookie is re-checked."""
    state = "S" * 32
    client.cookie = signer(wechat).dumps({"p": [state, "//evil.example", fake_wechat.now()]})
    back = client.get(f"{CALLBACK}?state={state}&code={fake_wechat.issue_code()}")
    check_answer(back, open_base=fake_wechat.open_base)
    assert back.status == 302 and back.location == "/evil.example"


RETURN_CASES: dict[str, tuple[bytes, str | None]] = {
    # id: (the request target a WeChat browser asked for, where it must land after login)
    "scheme-relative-path": (b"//evil.example/x", "/evil.example/x"),
    "triple-slash-path": (b"///evil.example", "/evil.example"),
    "raw-backslash-path": (b"/\\evil.example", "/"),
    "encoded-backslash-path": (b"/%5Cevil.example", "/%5Cevil.example"),
    "encoded-slashes-path": (b"/%2F%2Fevil.example", "/%2F%2Fevil.example"),
    "encoded-crlf-in-query": (b"/page?%0d%0aSet-Cookie:pwned=1", "/page?%0d%0aSet-Cookie:pwned=1"),
    "redirect-params-in-query": (
        b"/page?next=//evil.example&redirect_uri=https://evil.example",
        "/page?next=//evil.example&redirect_uri=https://evil.example",
    ),
    "raw-tab-in-path": (b"/page\t//evil.example", "/"),
    "raw-utf8-fullwidth-solidus": (b"/\xef\xbc\x8f\xef\xbc\x8fevil.example", None),
    "64kb-query-falls-back-to-the-path": (b"/page?" + b"a" * 65536, "/page"),
}


@pytest.mark.parametrize(("target", "landing"), list(RETURN_CASES.values()), ids=list(RETURN_CASES))
def test_return_url_never_leaves_the_site(
    raw: AppClient, fake_wechat: FakeWeChat, target: bytes, landing: str | None
) -> None:
    start = raw.get(target)
    check_answer(start, open_base=fake_wechat.open_base)
    assert start.status == 302 and start.location
    back = raw.get(authorize(start.location)[1])
    check_answer(back, open_base=fake_wechat.open_base)
    assert back.status == 302 and back.location
    if landing is not None:
        assert back.location == landing


# -- 5. non-UTF-8 and percent-garbage paths, queries and headers ----------------------------

GARBAGE_CASES: dict[str, tuple[bytes, int, int]] = {
    # id: (request target, status for a WeChat browser, status for another browser)
    "raw-0xff-path": (b"/\xff", 302, 200),
    "percent-ff-path": (b"/%ff%fe", 302, 200),
    "lone-percent-path": (b"/%", 302, 200),
    "percent-zz-path": (b"/%zz", 302, 200),
    "overlong-utf8-slashes-encoded": (b"/%c0%af%c0%afevil.example", 302, 200),
    "overlong-utf8-slashes-raw": (b"/\xc0\xaf\xc0\xafevil.example", 302, 200),
    "encoded-surrogate": (b"/%ed%a0%80", 302, 200),
    "nul-in-path": (b"/a%00b", 302, 200),
    "encoded-dot-dot": (b"/%2e%2e/%2e%2e/etc/passwd", 302, 200),
    "raw-0xff-query": (b"/?\xff=\xfe", 302, 200),
    "lone-percent-query": (b"/?%", 302, 200),
    "percent-zz-query": (b"/?a=%zz&%zz", 302, 200),
    "overlong-utf8-query": (b"/?a=%c0%af&b=\xc0\xaf", 302, 200),
    "64kb-query": (b"/page?" + b"a" * 65536, 302, 200),
    "64kb-percent-garbage-query": (b"/page?" + b"%" * 65536, 302, 200),
    "login-next-raw-bytes": (b"/wechat/login?next=\xff\xfe", 302, 302),
    "login-next-overlong-slashes": (b"/wechat/login?next=%c0%af%c0%afevil.example", 302, 302),
    "login-next-lone-percent": (b"/wechat/login?next=/%", 302, 302),
    "login-next-64kb": (b"/wechat/login?next=/" + b"a" * 65536, 302, 302),
    "login-path-with-garbage-suffix": (b"/wechat/login%ff", 302, 200),
    "callback-garbage": (b"/wechat/oauth-callback?state=\xff&code=%ff%", 400, 400),
    "callback-path-percent-encoded": (b"/wechat%2Foauth-callback?code=x&state=y", 400, 400),
    "verify-garbage": (b"/wechat/verify?signature=\xff&timestamp=%ff&nonce=%", 403, 403),
    "verify-64kb-of-fields": (b"/wechat/verify?" + b"a=1&" * 16384, 403, 403),
}


@pytest.mark.parametrize(
    ("target", "wechat_status", "other_status"),
    list(GARBAGE_CASES.values()),
    ids=list(GARBAGE_CASES),
)
@pytest.mark.parametrize("browser", ["wechat", "other"])
def test_garbage_paths_and_queries(
    raw: AppClient,
    fake_wechat: FakeWeChat,
    wechat: WeChat,
    target: bytes,
    wechat_status: int,
    other_status: int,
    browser: str,
) -> None:
    answer = raw.get(target, ua=IOS_WECHAT_UA if browser == "wechat" else DESKTOP_UA)
    check_answer(answer, open_base=fake_wechat.open_base)
    no_login(wechat, answer)
    if django_asgi_refuses_the_query(raw, target):
        assert (answer.status, answer.content) == (400, b"")  # Django's, before any middleware
        return
    assert answer.status == (wechat_status if browser == "wechat" else other_status)
    if answer.status == 200:
        check_page_signature(answer, fake_wechat)


def django_asgi_refuses_the_query(raw: AppClient, target: bytes) -> bool:
    """Django's ASGI handler answers a query string that is not UTF-8 with a bare 400 of
    its own before any middleware runs (ASGIRequest decodes ``scope["query_string"]``
    strictly; ASGIHandler.create_request turns the UnicodeDecodeError into
    HttpResponseBadRequest). Its WSGI handler decodes the query only when it is read."""
    try:
        target.partition(b"?")[2].decode("utf-8")
    except UnicodeDecodeError:
        return raw.kind == "django-asgi"
    return False


def check_page_signature(answer: Answer, fake: FakeWeChat) -> None:
    """The page rendered; its signature is WeChat-valid, or None when the URL cannot be."""
    signature = answer.json()["signature"]
    if signature is not None:
        assert fake.check_jsapi_signature(
            signature["url"], signature["nonceStr"], signature["timestamp"], signature["signature"]
        )


@pytest.mark.parametrize(
    "cookie",
    [b"wechat_session=\xff\xfe", b"wechat_session=%ff%", b"wechat_session", b";;;=;=="],
    ids=["raw-bytes", "percent-garbage", "no-value", "separators-only"],
)
def test_garbage_cookie_header(
    raw: AppClient, fake_wechat: FakeWeChat, wechat: WeChat, cookie: bytes
) -> None:
    answer = raw.get(b"/page", cookie=cookie)
    check_answer(answer, open_base=fake_wechat.open_base)
    no_login(wechat, answer)
    assert answer.status == 302


def test_garbage_user_agent_and_accept(
    raw: AppClient, fake_wechat: FakeWeChat, wechat: WeChat
) -> None:
    answer = raw.get(b"/page", ua=b"MicroMessenger/8.0 \xff\xfe\x00", accept=b"text/html\xff")
    check_answer(answer, open_base=fake_wechat.open_base)
    no_login(wechat, answer)
    assert answer.status == 302


# -- 6. Host header spoofing -----------------------------------------------------------------

# The hosts this site serves are tests/conftest.py's (WECHAT_ALLOWED_HOSTS: testserver and
# this machine's names; on Django, the same list as ALLOWED_HOSTS). A Host outside them
# gets nothing built on it: no redirect_uri, no signature (SECURITY.md, Host-header
# spoofing). "other-host" and "other-host-and-port" were logins coming back to
# evil.example before WECHAT_ALLOWED_HOSTS: the bug of issue #20, item 8.
HOST_CASES: dict[str, tuple[bytes | None, int, tuple[str, ...], bool]] = {
    # id: (Host header, status without public_url, the origins a login may go back to,
    #      whether Django's request.get_host() accepts it)
    "other-host": (b"evil.example", 400, (), False),
    "other-host-and-port": (b"evil.example:8080", 400, (), False),
    "served-host-other-port": (b"testserver:8080", 302, ("http://testserver:8080",), True),
    "ipv6-literal": (b"[::1]:8080", 302, ("http://[::1]:8080",), True),
    "crlf-injection": (b"evil.example\r\nX-Injected: 1", 400, (), False),
    "crlf-set-cookie": (b"evil.example\r\nSet-Cookie: pwned=1", 400, (), False),
    "path-in-host": (b"evil.example/path", 400, (), False),
    "userinfo-in-host": (b"user@evil.example", 400, (), False),
    "bad-port": (b"evil.example:99999999", 400, (), False),
    "two-ports": (b"evil.example:80:80", 400, (), False),
    "cyrillic-lookalike": (b"\xd0\xb5vil.example", 400, (), False),
    "trailing-space": (b"evil.example ", 400, (), False),
    "percent-encoded": (b"evil.example%2F", 400, (), False),
    "over-long": (b"a" * 300, 400, (), False),
    "empty": (b"", 302, (ORIGIN, ORIGIN + ":80"), False),  # Django: a Host header, empty
    "absent": (None, 302, (ORIGIN, ORIGIN + ":80"), True),  # the server's name, then
}


@pytest.mark.parametrize(
    ("host", "status", "origins", "django_ok"), list(HOST_CASES.values()), ids=list(HOST_CASES)
)
def test_host_header_without_public_url(
    raw: AppClient,
    fake_wechat: FakeWeChat,
    wechat: WeChat,
    host: bytes | None,
    status: int,
    origins: tuple[str, ...],
    django_ok: bool,
) -> None:
    django = raw.kind in DJANGO_KINDS
    if django and not django_ok:
        status = 400  # Django's own answer to a Host outside ALLOWED_HOSTS
    answer = raw.get(b"/page", host=host)
    check_answer(answer, open_base=fake_wechat.open_base, origins=origins or (ORIGIN,))
    no_login(wechat, answer)
    assert answer.status == status
    if status == 400:
        assert answer.location is None and not answer.set_cookies
    page = raw.get(b"/page", host=host, ua=DESKTOP_UA)  # other browsers still get the page
    check_answer(page, open_base=fake_wechat.open_base)
    if django and not django_ok:
        assert page.status == 400  # ... but on Django, a host it does not serve is a 400
    elif not flask_refused_the_host(raw, page):
        assert page.status == 200
        signature = page.json()["signature"]
        if status == 302:
            assert signature["url"] == origins[0] + "/page"
        else:  # a page of a host this site does not serve is not signed
            assert signature is None


@pytest.mark.parametrize(
    ("host", "django_ok"), [(h, ok) for h, _, _, ok in HOST_CASES.values()], ids=list(HOST_CASES)
)
def test_host_header_with_public_url(
    kind: str,
    make_wechat: MakeWeChat,
    open_client: OpenClient,
    fake_wechat: FakeWeChat,
    host: bytes | None,
    django_ok: bool,
) -> None:
    wechat = make_wechat(public_url=PUBLIC)
    raw = open_client(kind, wechat)
    answer = raw.get(b"/page", host=host)
    check_answer(answer, open_base=fake_wechat.open_base, origins=[PUBLIC])
    no_login(wechat, answer)
    if kind in DJANGO_KINDS and not django_ok:
        # Django checks every Host against ALLOWED_HOSTS, whatever WECHAT_PUBLIC_URL says.
        assert answer.status == 400 and answer.location is None
        assert raw.get(b"/page?a=1", host=host, ua=DESKTOP_UA).status == 400
        return
    assert answer.status == 302  # the Host header no longer matters
    assert all("Secure" in c for c in answer.set_cookies)  # the public URL is https
    assert answer.location
    back = raw.get(authorize(answer.location)[1], host=host)
    check_answer(back, open_base=fake_wechat.open_base, origins=[PUBLIC])
    assert back.location == PUBLIC + "/page"
    page = raw.get(b"/page?a=1", host=host, ua=DESKTOP_UA)
    check_answer(page, open_base=fake_wechat.open_base, origins=[PUBLIC])
    if not flask_refused_the_host(raw, page):
        signature = page.json()["signature"]
        assert signature["url"] == PUBLIC + "/page?a=1"


def flask_refused_the_host(raw: AppClient, page: Answer) -> bool:
    """Flask itself (werkzeug's host check) answers 400 to a 300-character Host: the
    middleware passed the request through, the app refused it."""
    return raw.kind == "wsgi" and page.status == 400 and b"Bad Request" in page.content


# -- 7. flooding: distinct URLs cannot grow memory or call WeChat more ----------------------


def test_distinct_urls_cannot_grow_the_signature_cache(
    kind: str, make_wechat: MakeWeChat, open_client: OpenClient, fake_wechat: FakeWeChat
) -> None:
    wechat = make_wechat(url_cache_size=8)
    raw = open_client(kind, wechat)
    for n in range(100):  # an attacker requesting page after page with a new query
        answer = raw.get(f"/page?flood={n}", ua=DESKTOP_UA)
        check_answer(answer, open_base=fake_wechat.open_base)
        assert answer.status == 200
        check_page_signature(answer, fake_wechat)
    assert len(wechat.jssdk.get_cached_url_signature()) == 8  # a bounded LRU
    assert fake_wechat.calls("cgi-bin/stable_token") == 1
    assert fake_wechat.calls("cgi-bin/ticket/getticket") == 1
