"""The token hub as deployed: 2 hub replicas under real gunicorn on one real Redis, and
follower hosts (the Flask example, 2 gunicorn workers each) that WeChat refuses.

Hosts are told apart by source address (Linux routes all of 127/8 to loopback): the
hub calls WeChat from 127.0.0.2, the one address on FakeWeChat's IP whitelist; the
followers leave from 127.0.0.3 and 127.0.0.4, and a token call of theirs gets 40164, as
from a host off WeChat's whitelist. WeChat must see one token and one ticket fetch.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.browser import fake_wechat_env

from ..support.example_page import Page, assert_signed_for
from ..support.redis_server import RedisServer
from ..support.servers import (
    REPO_ROOT,
    AppServer,
    _gunicorn,
    free_port,
    server_environment,
    start_app,
)

pytestmark = pytest.mark.slow

HUB_ADDRESS = "127.0.0.2"
FOLLOWERS = ("127.0.0.3", "127.0.0.4")
KEY = "follower-key-" + secrets.token_hex(8)


def start_hub(fake: FakeWeChat, store: str, log_dir: Path) -> AppServer:
    """One hub replica: gunicorn with 2 workers, answering once /healthz does."""
    env = server_environment()
    env.update(fake_wechat_env(fake, store=store))
    env.update(WECHAT_HUB_CLIENTS=f"hosts:{KEY}", WECHAT_SOURCE_ADDRESS=HUB_ADDRESS)
    port = free_port()
    log_path = log_dir / f"hub-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            _gunicorn("wechat_middleware.hub:app", port, workers=2),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = AppServer("hub+gunicorn-2-workers", port, process, log_path)
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(hub.url("/healthz"), timeout=1).text == "ok":
                return hub
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            hub.stop()
            raise AssertionError(f"the hub did not start:\n{hub.log()}")
        time.sleep(0.1)


@pytest.fixture
def deployment(fake_wechat: FakeWeChat, tmp_path: Path) -> Iterator[list[AppServer]]:
    """Two hub replicas on one Redis, and one follower host on each."""
    fake_wechat.ip_whitelist = frozenset({HUB_ADDRESS})
    servers: list[AppServer] = []
    with RedisServer() as redis:
        try:
            for _ in range(2):
                servers.append(start_hub(fake_wechat, redis.url + "/0", tmp_path))
            for n, address in enumerate(FOLLOWERS):
                workdir = tmp_path / f"host-{n}"
                workdir.mkdir()
                env = {"WECHAT_TOKEN_HUB": servers[n].base_url, "WECHAT_HUB_KEY": KEY}
                env["WECHAT_SOURCE_ADDRESS"] = address
                servers.append(start_app("flask+gunicorn-2-workers", fake_wechat, workdir, **env))
            yield servers
        finally:
            for server in servers:
                server.stop()


def test_followers_sign_every_page_with_the_hubs_ticket_from_one_fetch(
    deployment: list[AppServer], fake_wechat: FakeWeChat
) -> None:
    followers = deployment[2:]
    urls = [host.url(f"/?page={n}") for host in followers for n in range(12)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = list(pool.map(lambda url: requests.get(url, timeout=15), urls))
    for url, response in zip(urls, pages, strict=True):
        assert response.status_code == 200
        assert_signed_for(Page.parse(response.text), url, fake_wechat)
    assert fake_wechat.calls("cgi-bin/stable_token") == 1
    assert fake_wechat.calls("cgi-bin/ticket/getticket") == 1
    assert fake_wechat.calls("cgi-bin/token") == 0
    # A follower's own token call would be refused: it is off the whitelist.
    refused = requests.Session()
    refused.mount("http://", _bound(FOLLOWERS[0]))
    body = {
        "grant_type": "client_credential",
        "appid": fake_wechat.app_id,
        "secret": fake_wechat.app_secret,
    }
    answer = refused.post(f"{fake_wechat.base_url}/cgi-bin/stable_token", json=body, timeout=5)
    answer = answer.json()
    assert answer["errcode"] == 40164
    assert f"invalid ip {FOLLOWERS[0]}, not in whitelist" in answer["errmsg"]


def test_50_concurrent_rejected_reports_to_two_replicas_cause_one_refresh(
    deployment: list[AppServer], fake_wechat: FakeWeChat
) -> None:
    hubs = deployment[:2]
    params = {"grant_type": "client_credential", "appid": fake_wechat.app_id, "secret": KEY}
    token = requests.get(hubs[0].url("/cgi-bin/token"), params=params, timeout=10).json()
    old = token["access_token"]
    fake_wechat.invalidate_access_tokens()

    def report(n: int) -> str:
        hub = hubs[n % 2]
        answer = requests.get(
            hub.url("/cgi-bin/token"), params={**params, "rejected": old}, timeout=30
        ).json()
        return str(answer["access_token"])

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = set(pool.map(report, range(50)))
    assert fake_wechat.calls("cgi-bin/stable_token") == 2
    assert len(answers - {old}) == 1


def _bound(address: str) -> requests.adapters.HTTPAdapter:
    from wechat_middleware.client import _Adapter

    return _Adapter(address)
