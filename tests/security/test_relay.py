"""The OAuth relay's security properties, on every adapter (docs/several-domains.md,
one account"; SECURITY.md, "relay").

A relay ticket is single-use, lives at most 60 s, is bound to the target origin it was
issued for (scheme, host and port) and to the target's state; redeeming it needs the
relay key; an unlisted target is refused before WeChat is contacted; the relay only ever
sends the browser to a listed origin's callback; and nothing in a URL can be exchanged
at WeChat. The relay runs in-process over each adapter (``kind``); a target's redeem
goes to a relay on a real socket (tests/test_relay.py's ``relay_server``).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from wechat_middleware import WeChat
from wechat_middleware.session import make_state, make_ticket
from wechat_middleware.testing import FakeWeChat

from ..conftest import MakeWeChat, OpenClient
from ..support.apps import AppClient
from ..test_relay import RELAY_KEY, relay_server
from .helpers import authorize, check_answer, no_login

T8000 = "http://target.localhost:8000"
T8001 = "http://target.localhost:8001"  # another port: another target
REDEEM = "/wechat/relay/redeem"
EXCHANGE = "sns/oauth2/access_token"


@pytest.fixture
def relay(open_client: OpenClient, kind: str, make_wechat: MakeWeChat) -> AppClient:
    wechat = make_wechat(relay_for=f"{T8000},{T8001}", relay_key=RELAY_KEY)
    return open_client(kind, wechat)


def start(relay: AppClient, target: str = T8000, state: str = "", **extra: str) -> str:
    query = {"target": target, "state": state or make_state(), "scope": "snsapi_base"}
    query.update(extra)
    return "/wechat/relay/start?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())


def ticket_for(relay: AppClient, fake: FakeWeChat, target: str = T8000, state: str = "") -> str:
    """A real ticket: the browser's login at the relay, for ``target`` and ``state``."""
    state = state or make_state()
    to_wechat = relay.get(start(relay, target, state))
    assert to_wechat.status == 302 and to_wechat.location
    back = relay.get(authorize(to_wechat.location)[1])
    check_answer(back, open_base=fake.open_base, origins=(target,))
    assert back.status == 303 and back.location
    location = urlsplit(back.location)
    assert (
        f"{location.scheme}://{location.netloc}{location.path}" == target + "/wechat/oauth-callback"
    )
    query = parse_qs(location.query)
    assert query["state"] == [state] and set(query) == {"relay_ticket", "state"}
    no_login(relay.wechat, back)  # the relay keeps no session for the user
    return query["relay_ticket"][0]


def redeem(
    relay: AppClient, body: object, key: str | None = RELAY_KEY, raw: bytes | None = None
) -> tuple[int, object]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    sent = raw if raw is not None else json.dumps(body).encode()
    answer = relay.request("POST", REDEEM, headers=headers, body=sent, accept="application/json")
    assert (answer.status < 500 and "user" not in answer.text) or answer.status == 200, answer
    return answer.status, answer.json()


def test_a_ticket_is_redeemed_once(relay: AppClient, fake_wechat: FakeWeChat) -> None:
    state = make_state()
    ticket = ticket_for(relay, fake_wechat, state=state)
    status, answer = redeem(relay, {"ticket": ticket, "target": T8000, "state": state})
    assert status == 200 and answer["user"]["openid"] == fake_wechat.default_openid  # type: ignore[index]
    assert redeem(relay, {"ticket": ticket, "target": T8000, "state": state})[0] == 410


def test_a_ticket_expires_within_60_seconds(relay: AppClient, fake_wechat: FakeWeChat) -> None:
    state = make_state()
    ticket = ticket_for(relay, fake_wechat, state=state)
    fake_wechat.advance(61)
    assert redeem(relay, {"ticket": ticket, "target": T8000, "state": state})[0] == 404


@pytest.mark.parametrize("other", [T8001, "https://target.localhost:8000", "http://evil.example"])
def test_a_ticket_is_bound_to_its_target_origin(
    relay: AppClient, fake_wechat: FakeWeChat, other: str
) -> None:
    state = make_state()
    ticket = ticket_for(relay, fake_wechat, state=state)
    assert redeem(relay, {"ticket": ticket, "target": other, "state": state})[0] == 403
    # a wrong try spends it: the right target cannot use it afterwards either
    assert redeem(relay, {"ticket": ticket, "target": T8000, "state": state})[0] == 410


def test_a_ticket_is_bound_to_the_targets_state(relay: AppClient, fake_wechat: FakeWeChat) -> None:
    ticket = ticket_for(relay, fake_wechat)
    assert redeem(relay, {"ticket": ticket, "target": T8000, "state": make_state()})[0] == 403


@pytest.mark.parametrize("key", [None, "", "wrong-key-0123456789abcdef0123456789", RELAY_KEY + "x"])
def test_redeeming_needs_the_relay_key(
    relay: AppClient, fake_wechat: FakeWeChat, key: str | None
) -> None:
    state = make_state()
    ticket = ticket_for(relay, fake_wechat, state=state)
    body = {"ticket": ticket, "target": T8000, "state": state}
    assert redeem(relay, body, key=key)[0] == 401
    assert redeem(relay, body)[0] == 200  # refused before the ticket was touched


def test_a_forged_ticket_is_refused(relay: AppClient) -> None:
    for ticket in (make_ticket(), "x" * 43, "", "../" * 20):
        assert redeem(relay, {"ticket": ticket, "target": T8000, "state": make_state()})[0] in (
            404,
            400,
        )


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b"null",
        b'{"ticket": 1, "target": [], "state": {}}',
        b"\xff\xfe\x00",
        json.dumps({"ticket": "t" * 5000, "target": T8000, "state": "s"}).encode(),
        b"{" * 2_000_000,
    ],
)
def test_odd_and_huge_redeems_get_a_4xx(relay: AppClient, raw: bytes) -> None:
    status, _ = redeem(relay, None, raw=raw)
    assert status in (400, 413)


def test_the_redeem_endpoint_takes_only_post(relay: AppClient, fake_wechat: FakeWeChat) -> None:
    answer = relay.get(REDEEM)
    check_answer(answer, open_base=fake_wechat.open_base)
    assert answer.status == 405


@pytest.mark.parametrize(
    "target",
    [
        "http://evil.example",
        "http://target.localhost:8002",
        "https://target.localhost:8000",
        "http://x.target.localhost:8000",
        "http://target.localhost:8000/path",
        "http://target.localhost:8000@evil.example",
        "http://evil.example#@target.localhost:8000",
        "//evil.example",
        "javascript:alert(1)",
        "http://target.localhost:8000\r\nSet-Cookie: a=b",
        "http://\uff54arget.localhost:8000",  # a full-width t
        "",
        "x" * 100_000,
    ],
)
def test_an_unlisted_target_is_refused_before_wechat_is_contacted(
    relay: AppClient, fake_wechat: FakeWeChat, target: str
) -> None:
    answer = relay.get(start(relay, target))
    check_answer(answer, open_base=fake_wechat.open_base)
    assert answer.status == 400 and answer.location is None
    assert fake_wechat.calls(EXCHANGE) == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"state": "not a state!"},
        {"state": "s" * 1000},
        {"scope": "snsapi_everything"},
        {"via": "http://evil.example"},
        {"next": "//evil.example", "state": "bad/state"},
    ],
)
def test_odd_start_parameters_are_refused(
    relay: AppClient, fake_wechat: FakeWeChat, extra: dict[str, str]
) -> None:
    answer = relay.get(start(relay, T8000, **extra))
    check_answer(answer, open_base=fake_wechat.open_base)
    assert answer.status == 400 and answer.location is None


def test_a_next_or_redirect_parameter_never_leads_off_the_listed_target(
    relay: AppClient, fake_wechat: FakeWeChat
) -> None:
    """The relay's return is ``{listed origin}{callback path}``, whatever else is sent."""
    evil = {
        "next": "//evil.example",
        "redirect_uri": "http://evil.example/",
        "return": "http://evil.example",
    }
    to_wechat = relay.get(start(relay, T8000, **evil))
    assert to_wechat.status == 302 and to_wechat.location
    back = relay.get(authorize(to_wechat.location)[1] + "&redirect_uri=http://evil.example")
    assert back.status == 303 and (back.location or "").startswith(
        T8000 + "/wechat/oauth-callback?"
    )


def test_a_ticket_cannot_be_exchanged_at_wechat(relay: AppClient, fake_wechat: FakeWeChat) -> None:
    ticket = ticket_for(relay, fake_wechat)
    params = {
        "appid": fake_wechat.app_id,
        "secret": fake_wechat.app_secret,
        "code": ticket,
        "grant_type": "authorization_code",
    }
    reply = requests.get(f"{fake_wechat.api_base}/{EXCHANGE}", params=params, timeout=5).json()
    assert reply.get("errcode") and "openid" not in reply


def test_the_check_endpoint_takes_odd_input(relay: AppClient, fake_wechat: FakeWeChat) -> None:
    for target in ("", "x" * 10_000, "http://evil.example/%0d%0a", T8000):
        answer = relay.get("/wechat/relay/check?target=" + quote(target, safe=""))
        check_answer(answer, open_base=fake_wechat.open_base)
        assert answer.status in (200, 400)


# -- the target's callback ------------------------------------------------------------------


@pytest.fixture
def target(open_client: OpenClient, kind: str, make_wechat: MakeWeChat) -> tuple[AppClient, WeChat]:
    relay_wechat = make_wechat(relay_for="http://testserver", relay_key=RELAY_KEY)
    with relay_server(relay_wechat) as origin:
        wechat = make_wechat(oauth_relay=origin, relay_key=RELAY_KEY)
        yield open_client(kind, wechat), relay_wechat  # type: ignore[misc]


def _started(client: AppClient) -> str:
    """A login started at the target: its state (the target's cookie holds it)."""
    answer = client.get("/page")
    assert answer.status == 302 and "/wechat/relay/start?" in (answer.location or "")
    return parse_qs(urlsplit(answer.location or "").query)["state"][0]


@pytest.mark.parametrize("ticket", [make_ticket(), "short", "t" * 5000, "%00", "a\\b"])
def test_a_forged_ticket_at_the_target_logs_nobody_in(
    target: tuple[AppClient, WeChat], fake_wechat: FakeWeChat, ticket: str
) -> None:
    client, _ = target
    state = _started(client)
    answer = client.get(f"/wechat/oauth-callback?relay_ticket={quote(ticket)}&state={state}")
    check_answer(answer, open_base=fake_wechat.open_base)
    assert answer.status == 400
    no_login(client.wechat, answer)


def test_a_ticket_with_another_browsers_state_is_refused_at_the_target(
    target: tuple[AppClient, WeChat], fake_wechat: FakeWeChat
) -> None:
    client, _ = target
    _started(client)
    answer = client.get(f"/wechat/oauth-callback?relay_ticket={make_ticket()}&state={make_state()}")
    check_answer(answer, open_base=fake_wechat.open_base)
    assert answer.status == 400
    no_login(client.wechat, answer)


def test_an_unreachable_relay_is_a_login_failure_page(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    wechat = make_wechat(oauth_relay="http://127.0.0.1:9", relay_key=RELAY_KEY)
    client = open_client(kind, wechat)
    state = _started(client)
    answer = client.get(f"/wechat/oauth-callback?relay_ticket={make_ticket()}&state={state}")
    check_answer(answer, open_base=fake_wechat.open_base, unavailable=True)
    assert answer.status == 503 and "text/html" in answer.headers["Content-Type"]
    no_login(client.wechat, answer)
