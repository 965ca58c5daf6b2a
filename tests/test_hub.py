"""The token hub over real sockets: WeChat's endpoints and shapes, every fixed point of
its contract (the issue's #22), bad input on every endpoint, and followers.

The hub runs in a threaded server of this process on a FakeWeChat that keeps an IP
whitelist: only the hub's source address (127.0.0.2) may fetch a token, as in
production, where followers are off the whitelist.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from wechat_middleware import WeChat
from wechat_middleware.cli import wsgi_server
from wechat_middleware.errors import ConfigError
from wechat_middleware.hub import Hub, make_hub
from wechat_middleware.stores import open_store
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.fake_wecom import FakeWeCom

from .conftest import fake_config, fake_wecom_config
from .support.site import block_with
from .support.tickets import sign

HUB_ADDRESS = "127.0.0.2"  # on the fake's whitelist
FOLLOWER_ADDRESS = "127.0.0.3"  # off it
SHOP_KEY = "shop-key-0123456789abcdef"
CRM_KEY = "crm-key-0123456789abcdef"
CLIENTS = {"shop": SHOP_KEY, "crm": CRM_KEY}
TOKEN, STABLE, TICKET = "cgi-bin/token", "cgi-bin/stable_token", "cgi-bin/ticket/getticket"


class Served:
    """A hub in a threaded server on loopback."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.server = wsgi_server("127.0.0.1", 0, hub)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def get(self, path: str, **params: str) -> dict[str, Any]:
        response = requests.get(self.url + path, params=params, timeout=10)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def token(self, **extra: str) -> dict[str, Any]:
        params = {"grant_type": "client_credential", "appid": self.hub.wechat.config.app_id}
        return self.get("/cgi-bin/token", **{**params, "secret": SHOP_KEY, **extra})

    def ticket(self, token: str, **extra: str) -> dict[str, Any]:
        params = {"access_token": token, "type": "jsapi", **extra}
        return self.get("/cgi-bin/ticket/getticket", **params)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.hub.wechat.close()


@pytest.fixture
def whitelisted(fake_wechat: FakeWeChat) -> FakeWeChat:
    fake_wechat.ip_whitelist = frozenset({HUB_ADDRESS})
    return fake_wechat


@pytest.fixture
def serve_hub(whitelisted: FakeWeChat) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def serve(store: Any = None, **options: Any) -> Served:
        config = fake_config(whitelisted, source_address=HUB_ADDRESS)
        store = store or open_store("memory://", clock=whitelisted.now)
        wechat = WeChat(config, store=store, clock=whitelisted.now)
        hub = make_hub(wechat, CLIENTS) if not options else Hub(wechat, CLIENTS.items(), **options)
        started.append(Served(hub))
        return started[-1]

    yield serve
    for served in started:
        served.stop()


@pytest.fixture
def hub(serve_hub: Callable[..., Served]) -> Served:
    return serve_hub()


def in_parallel(count: int, call: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


# -- WeChat's endpoints and shapes -----------------------------------------------------------


def test_the_token_endpoint_answers_wechats_token_in_wechats_shape(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    answer = hub.token()
    assert set(answer) == {"access_token", "expires_in"}
    assert answer["access_token"] in whitelisted.valid_access_tokens()
    assert isinstance(answer["expires_in"], int) and 7000 < answer["expires_in"] <= 7200
    assert whitelisted.calls(STABLE) == 1


def test_stable_token_and_the_ticket_come_from_one_fetch_each(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    body = {"grant_type": "client_credential", "appid": whitelisted.app_id, "secret": CRM_KEY}
    answer = requests.post(hub.url + "/cgi-bin/stable_token", json=body, timeout=10).json()
    ticket = hub.ticket(answer["access_token"])
    assert ticket["errcode"] == 0 and ticket["errmsg"] == "ok"
    assert ticket["ticket"] == whitelisted.current_jsapi_ticket()
    assert 0 < ticket["expires_in"] <= 7200
    assert hub.token()["access_token"] == answer["access_token"]
    assert hub.ticket(answer["access_token"])["ticket"] == ticket["ticket"]
    assert (whitelisted.calls(STABLE), whitelisted.calls(TICKET)) == (1, 1)


def test_expires_in_is_counted_from_the_hubs_own_fetch(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    first = hub.token()
    whitelisted.advance(1000)
    later = hub.token()
    assert later["access_token"] == first["access_token"]
    assert first["expires_in"] - 1002 <= later["expires_in"] <= first["expires_in"] - 999


# -- errors as WeChat answers them ----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "errcode"),
    [
        ({"secret": "not-a-client-key-0123456"}, 40125),
        ({"secret": "fake-app-secret"}, 40125),  # the real app secret is no client key
        ({"appid": "wx_another_app"}, 40013),
        ({"appid": ""}, 41002),
        ({"secret": ""}, 41004),
        ({"grant_type": "password"}, 40002),
        ({"secret": "x" * 600}, 40097),
    ],
)
def test_a_bad_token_call_gets_wechats_error_and_no_token(
    hub: Served, whitelisted: FakeWeChat, change: dict[str, str], errcode: int
) -> None:
    answer = hub.token(**change)
    assert answer["errcode"] == errcode, answer
    assert "access_token" not in answer and isinstance(answer["errmsg"], str)
    assert whitelisted.calls(STABLE) == 0


def test_a_ticket_call_with_an_unknown_or_stale_token_is_40001(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    assert hub.ticket("not-a-token")["errcode"] == 40001
    assert hub.get("/cgi-bin/ticket/getticket", type="jsapi")["errcode"] == 41001
    token = hub.token()["access_token"]
    assert hub.ticket(token, type="wx_card")["errcode"] == 40097
    whitelisted.invalidate_access_tokens()
    fresh = hub.token(rejected=token)["access_token"]
    assert fresh != token
    assert hub.ticket(token)["errcode"] == 40001
    assert "ticket" in hub.ticket(fresh)
    assert whitelisted.calls(TICKET) == 1


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "errcode"),
    [
        ("POST", "/cgi-bin/token", {}, 43001),
        ("GET", "/cgi-bin/stable_token", {}, 43002),
        ("PUT", "/cgi-bin/ticket/getticket", {}, 43001),
        ("POST", "/cgi-bin/stable_token", {"data": b"{not json"}, 47001),
        ("POST", "/cgi-bin/stable_token", {"data": b"[1, 2]"}, 47001),
        ("POST", "/cgi-bin/stable_token", {"data": b"\xff\xfe"}, 47001),
        ("POST", "/cgi-bin/stable_token", {"data": b"{}" + b" " * 5000}, 47001),
        ("POST", "/cgi-bin/stable_token", {"json": {"force_refresh": "yes"}}, 47001),
        ("POST", "/cgi-bin/stable_token", {"json": {"appid": 1}}, 47001),
        ("POST", "/cgi-bin/stable_token", {"json": {"grant_type": "client_credential"}}, 41002),
        ("GET", "/cgi-bin/token", {"params": {"a": "b" * 5000}}, 40097),
        ("GET", "/cgi-bin/ticket/getticket", {"params": {"access_token": "t" * 600}}, 40097),
    ],
)
def test_bad_input_gets_a_wechat_shaped_error_never_a_5xx(
    hub: Served, method: str, path: str, kwargs: dict[str, Any], errcode: int
) -> None:
    response = requests.request(method, hub.url + path, timeout=10, **kwargs)
    assert response.status_code == 200
    assert response.json()["errcode"] == errcode
    assert "access_token" not in response.json() and "ticket" not in response.json()


def test_an_unknown_path_is_404_in_wechats_shape(hub: Served) -> None:
    response = requests.get(hub.url + "/cgi-bin/user/info", timeout=10)
    assert response.status_code == 404 and response.json()["errcode"] == 40066


def test_a_key_brute_force_is_rate_limited_even_once_it_guesses_right(hub: Served) -> None:
    refused = [hub.token(secret=f"guess-{n:020d}")["errcode"] for n in range(25)]
    assert refused[:20] == [40125] * 20 and set(refused[20:]) == {45011}
    assert hub.token()["errcode"] == 45011  # from the same address, the right key too


def test_the_default_per_client_limit_serves_a_burst_of_50_concurrent_calls(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    answers = in_parallel(50, hub.token)
    assert len({answer.get("access_token") for answer in answers}) == 1
    assert None not in {answer.get("access_token") for answer in answers}
    assert whitelisted.calls(STABLE) == 1


def test_a_client_over_its_limit_gets_45011(serve_hub: Callable[..., Served]) -> None:
    hub = serve_hub(calls_per_minute=3)
    assert [hub.token().get("errcode", 0) for _ in range(4)] == [0, 0, 0, 45011]


# -- refresh only if stale ------------------------------------------------------------------


def test_50_concurrent_rejected_reports_cause_one_refresh(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    token = hub.token()["access_token"]
    ticket = hub.ticket(token)["ticket"]
    whitelisted.invalidate_access_tokens()  # another system retired it
    answers = in_parallel(50, lambda: hub.token(rejected=token))
    fresh = {answer["access_token"] for answer in answers} - {token}
    assert len(fresh) == 1 and whitelisted.calls(STABLE) == 2
    (new_token,) = fresh
    whitelisted.rotate_jsapi_ticket()
    tickets = in_parallel(50, lambda: hub.ticket(new_token, rejected=ticket))
    assert {t["ticket"] for t in tickets} - {ticket} == {whitelisted.current_jsapi_ticket()}
    assert whitelisted.calls(TICKET) == 2


def test_naming_a_value_the_hub_does_not_hold_fetches_nothing(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    token = hub.token()["access_token"]
    assert hub.token(rejected="an-old-token")["access_token"] == token
    assert "ticket" in hub.ticket(token, rejected="an-old-ticket")
    assert (whitelisted.calls(STABLE), whitelisted.calls(TICKET)) == (1, 1)


def test_force_refresh_fetches_once_per_burst_and_only_a_token_older_than_a_minute(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    def forced() -> dict[str, Any]:
        body = {"grant_type": "client_credential", "appid": whitelisted.app_id}
        body |= {"secret": SHOP_KEY, "force_refresh": True}
        found: dict[str, Any] = requests.post(hub.url + "/cgi-bin/stable_token", json=body).json()
        return found

    token = forced()["access_token"]
    assert {a["access_token"] for a in in_parallel(20, forced)} == {token}
    assert whitelisted.calls(STABLE) == 1  # younger than a minute: not fetched again
    whitelisted.advance(61)
    in_parallel(20, forced)
    assert whitelisted.calls(STABLE) == 2


# -- health and metrics -----------------------------------------------------------------------


def test_healthz_and_metrics(hub: Served) -> None:
    hub.token()
    hub.token(secret="wrong-key-0123456789")
    assert requests.get(hub.url + "/healthz", timeout=5).text == "ok"
    metrics = requests.get(hub.url + "/metrics", timeout=5).text
    assert 'wechat_hub_fetches_total{errcode="0",kind="access_token"} 1' in metrics
    assert 'wechat_hub_refusals_total{errcode="40125"} 1' in metrics
    assert 'wechat_hub_calls_total{client="shop",endpoint="/cgi-bin/token"} 1' in metrics


def test_a_hub_whose_wechat_refuses_it_answers_a_system_error_not_a_5xx(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    whitelisted.ip_whitelist = frozenset({"127.0.0.9"})
    answer = hub.token()
    assert answer["errcode"] == -1 and "access_token" not in answer


def test_a_client_key_may_not_be_the_app_secret(whitelisted: FakeWeChat) -> None:
    secret = "an-app-secret-0123456789"
    wechat = WeChat(fake_config(whitelisted, app_secret=secret), store=open_store("memory://"))
    with pytest.raises(ConfigError, match="app secret"):
        make_hub(wechat, {"shop": secret})
    with pytest.raises(ConfigError, match="app secret"):
        fake_config(whitelisted, app_secret=secret, hub_clients=(("shop", secret),))
    wechat.close()


# -- WeCom ----------------------------------------------------------------------------------------


def test_a_wecom_hub_answers_wecoms_endpoints_and_errors(fake_wecom: FakeWeCom) -> None:
    config = fake_wecom_config(fake_wecom)
    wechat = WeChat(config, store=open_store("memory://"), clock=fake_wecom.now)
    served = Served(make_hub(wechat, CLIENTS))
    try:
        token = served.get("/cgi-bin/gettoken", corpid=fake_wecom.corp_id, corpsecret=SHOP_KEY)
        assert token["errcode"] == 0 and 0 < token["expires_in"] <= 7200
        value = token["access_token"]
        corp = served.get("/cgi-bin/get_jsapi_ticket", access_token=value)
        agent = served.get("/cgi-bin/ticket/get", access_token=value, type="agent_config")
        assert corp["ticket"] != agent["ticket"] and corp["errcode"] == agent["errcode"] == 0
        wrong = served.get("/cgi-bin/gettoken", corpid=fake_wecom.corp_id, corpsecret="x" * 20)
        assert wrong["errcode"] == 40001
        assert served.get("/cgi-bin/get_jsapi_ticket", access_token="stale")["errcode"] == 40014
        assert fake_wecom.calls("cgi-bin/gettoken") == 1
    finally:
        served.stop()


# -- followers -------------------------------------------------------------------------------------


def follower(fake: FakeWeChat, hub: Served, **overrides: Any) -> WeChat:
    config = fake_config(
        fake,
        token_hub=hub.url,
        hub_key=overrides.pop("hub_key", SHOP_KEY),
        source_address=FOLLOWER_ADDRESS,
        **overrides,
    )
    wechat = WeChat(config, store=open_store("memory://", clock=fake.now), clock=fake.now)
    wechat.client.backoff = wechat.tokens.client.backoff = 0.01  # type: ignore[attr-defined]
    return wechat


def test_a_follower_signs_with_the_hubs_ticket_and_never_calls_wechats_token_endpoints(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    hosts = [follower(whitelisted, hub) for _ in range(2)]
    try:
        url = "http://127.0.0.1/page?x=1"
        for wechat in hosts:
            signature = wechat.jssdk.get_signature_by_url(url)
            ticket = whitelisted.current_jsapi_ticket()
            assert ticket is not None
            expected = sign(ticket, signature["nonceStr"], signature["timestamp"], url)
            assert signature["signature"] == expected
        assert (whitelisted.calls(STABLE), whitelisted.calls(TICKET)) == (1, 1)
        assert whitelisted.calls(TOKEN) == 0
    finally:
        for wechat in hosts:
            wechat.close()


def test_the_fake_refuses_a_token_call_from_off_its_whitelist(whitelisted: FakeWeChat) -> None:
    wechat = WeChat(fake_config(whitelisted, source_address=FOLLOWER_ADDRESS))
    try:
        with pytest.raises(Exception, match="40164") as refused:
            wechat.client.get_stable_access_token()
        assert f"invalid ip {FOLLOWER_ADDRESS}, not in whitelist" in str(refused.value)
    finally:
        wechat.close()


def test_a_follower_that_sees_its_ticket_rejected_asks_the_hub_naming_it(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    wechat = follower(whitelisted, hub)
    try:
        old = wechat.tokens.jsapi_ticket()
        whitelisted.rotate_jsapi_ticket()
        assert wechat.tokens.invalidate_rejected("jsapi_ticket", old, at_most_every=60)
        assert wechat.tokens.jsapi_ticket() == whitelisted.current_jsapi_ticket() != old
        assert whitelisted.calls(TICKET) == 2
    finally:
        wechat.close()


def test_when_the_hub_is_down_pages_get_no_signature_and_the_follower_backs_off(
    whitelisted: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    down = Served.__new__(Served)
    down.url = "http://127.0.0.1:9"  # nothing listens there
    wechat = follower(whitelisted, down)
    try:
        from wechat_middleware.errors import WeChatError

        with pytest.raises(WeChatError):
            wechat.tokens.get_for_page("jsapi_ticket")
        assert wechat.tokens.backing_off("jsapi_ticket")
        assert "fetching the" in caplog.text
        assert whitelisted.calls(STABLE) == whitelisted.calls(TOKEN) == 0
    finally:
        wechat.close()


def test_a_follower_with_a_wrong_key_is_refused(hub: Served, whitelisted: FakeWeChat) -> None:
    wechat = follower(whitelisted, hub, hub_key="wrong-key-0123456789abc")
    try:
        from wechat_middleware.errors import AppConfigError

        with pytest.raises(AppConfigError):
            wechat.tokens.get("access_token")
    finally:
        wechat.close()


# -- a real peer SDK: wechatpy (PyPI) with the hub as its API base ------------------------------


def wechatpy_on(hub_url: str, app_id: str, key: str) -> Any:
    """wechatpy's client with the hub as its API base, as docs/several-hosts.md writes it
    (its token URL is written out in ``fetch_access_token``, so that method names the
    hub too): the page's block, run with this hub's URL."""
    pytest.importorskip("wechatpy")
    code = block_with("class HubClient", ["docs/several-hosts.md"]).code
    namespace: dict[str, Any] = {}
    exec(code.replace('"http://hub.internal:8080"', repr(hub_url)), namespace)
    return namespace["HubClient"](app_id, key)


def test_wechatpy_pointed_at_the_hub_gets_its_token_and_ticket_and_signs_as_we_do(
    hub: Served, whitelisted: FakeWeChat
) -> None:
    peer = wechatpy_on(hub.url, whitelisted.app_id, CRM_KEY)
    ours = follower(whitelisted, hub)
    try:
        assert peer.access_token == ours.tokens.access_token()
        ticket = peer.jsapi.get_jsapi_ticket()
        assert ticket == ours.tokens.jsapi_ticket() == whitelisted.current_jsapi_ticket()
        url, nonce, timestamp = "https://shop.example.com/p?id=1", "Wm3WZYTPz0wzccnW", 1700000000
        theirs = peer.jsapi.get_jsapi_signature(nonce, ticket, timestamp, url)
        signed = ours.jssdk.gen_signature(ticket, url, nonce=nonce, timestamp=timestamp)
        assert theirs == signed["signature"]
        assert whitelisted.calls(TICKET) == 1
    finally:
        ours.close()


def test_wechatpy_with_a_wrong_key_gets_wechats_40125(hub: Served, whitelisted: FakeWeChat) -> None:
    from wechatpy.exceptions import WeChatClientException  # type: ignore[import-untyped]

    peer = wechatpy_on(hub.url, whitelisted.app_id, "not-a-client-key-012345")
    with pytest.raises(WeChatClientException) as refused:
        peer.fetch_access_token()
    assert refused.value.errcode == 40125


# -- doctor and the command line -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({}, "OK", "takes this host's key"),
        ({"WECHAT_HUB_KEY": "wrong-key-0123456789abc"}, "FAIL", "refused WECHAT_HUB_KEY"),
        ({"WECHAT_APP_ID": "wx_another_app"}, "FAIL", "serves another AppID"),
        ({"WECHAT_TOKEN_HUB": "http://127.0.0.1:9"}, "FAIL", "no token from the hub"),
    ],
)
def test_doctor_checks_a_followers_hub(
    hub: Served,
    whitelisted: FakeWeChat,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, str],
    status: str,
    words: str,
) -> None:
    from wechat_middleware.doctor import doctor
    from wechat_middleware.testing.browser import fake_wechat_env

    env = {**fake_wechat_env(whitelisted), "WECHAT_TOKEN_HUB": hub.url, "WECHAT_HUB_KEY": SHOP_KEY}
    env["WECHAT_SOURCE_ADDRESS"] = FOLLOWER_ADDRESS
    for name, value in {**env, **change}.items():
        monkeypatch.setenv(name, value)
    (check,) = [check for check in doctor() if check.name == "token hub"]
    assert (check.status, words in check.detail) == (status, True), check
    assert SHOP_KEY not in check.detail


def test_the_hub_command_serves_until_sigterm(whitelisted: FakeWeChat) -> None:
    import os
    import signal
    import subprocess
    import sys

    from wechat_middleware.testing.browser import fake_wechat_env

    from .support.servers import free_port

    port = free_port()
    env = {**os.environ, **fake_wechat_env(whitelisted)}
    env.update(WECHAT_HUB_CLIENTS=f"shop:{SHOP_KEY}", WECHAT_SOURCE_ADDRESS=HUB_ADDRESS)
    command = [sys.executable, "-m", "wechat_middleware", "hub", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert "token hub for" in process.stdout.readline()
        url = f"http://127.0.0.1:{port}/cgi-bin/token"
        params = {"grant_type": "client_credential", "appid": whitelisted.app_id}
        answer = requests.get(url, params={**params, "secret": SHOP_KEY}, timeout=10).json()
        assert answer["access_token"] in whitelisted.valid_access_tokens()
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
        assert process.returncode == 0 and "hub stopped" in out and SHOP_KEY not in out
    finally:
        process.kill()


def test_the_hub_command_refuses_a_missing_client_list(whitelisted: FakeWeChat) -> None:
    import os
    import subprocess
    import sys

    from wechat_middleware.testing.browser import fake_wechat_env

    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env.update(fake_wechat_env(whitelisted))
    done = subprocess.run(
        [sys.executable, "-m", "wechat_middleware", "hub", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 3 and "WECHAT_HUB_CLIENTS is required" in done.stderr


def test_the_readme_example_runs() -> None:
    import subprocess
    import sys

    from .support.servers import REPO_ROOT

    done = subprocess.run(
        [sys.executable, "examples/hub/run.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "WeChat saw 1 token call and 1 ticket call, both from the hub" in done.stdout
    assert "40164 invalid ip 127.0.0.3, not in whitelist" in done.stdout
