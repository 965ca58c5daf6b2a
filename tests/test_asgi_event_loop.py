"""The ASGI adapter never blocks the event loop on WeChat or the store.

A real uvicorn server (one worker, one event loop) serves the Starlette test app while
FakeWeChat answers slowly. If the adapter called WeChat on the loop, every other
request would wait behind the slow one; instead they all finish while it is still
waiting. The assertion is about order, not about timings.

A page waits for a ticket being fetched half a second at most by default
(``TokenManager.page_wait``), then renders without a signature; to keep a page waiting
on the slow fetch here, the app's pages wait longer (``PATIENT``). The last test runs
the default: the page does not wait for the slow fetch at all.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
import requests
import uvicorn

from wechat_middleware import WeChat
from wechat_middleware.testing import FakeWeChat, Fault
from wechat_middleware.testing.user_agents import DESKTOP_UA, IOS_WECHAT_UA, NAVIGATION_ACCEPT

from .conftest import MakeWeChat
from .support.apps import starlette_app

SLOW = 3.0  # seconds FakeWeChat holds the slow call; far longer than a fast request
PATIENT = SLOW * 3  # how long the app's pages wait for a ticket being fetched


@pytest.fixture
def server(make_wechat: MakeWeChat) -> Iterator[str]:
    """The app, its pages waiting for a slow ticket (``PATIENT``)."""
    wechat = make_wechat()
    wechat.tokens.page_wait = PATIENT
    yield from serve(wechat)


@pytest.fixture
def default_server(make_wechat: MakeWeChat) -> Iterator[str]:
    """The app with the default ``page_wait``."""
    yield from serve(make_wechat())


def serve(wechat: WeChat) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(starlette_app(wechat), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def run_while_slow(server: str, slow: Callable[[], None], count: int = 5) -> list[str]:
    """Start ``slow``, then ``count`` quick JSON requests to ``server``; return the order
    they finished in (a call whose assertion fails never finishes)."""
    finished: list[str] = []
    lock = threading.Lock()

    def fast() -> None:
        reply = requests.get(f"{server}/api/me", headers={"Accept": "application/json"}, timeout=30)
        assert reply.status_code == 200

    def run(name: str, call: Callable[[], None]) -> None:
        call()
        with lock:
            finished.append(name)

    slow_thread = threading.Thread(target=run, args=("slow", slow))
    slow_thread.start()
    time.sleep(0.3)  # let the slow request reach FakeWeChat
    fast_threads = [threading.Thread(target=run, args=(f"fast{i}", fast)) for i in range(count)]
    for thread in fast_threads:
        thread.start()
    for thread in [*fast_threads, slow_thread]:
        thread.join(timeout=SLOW * 4)
    return finished


def test_loop_serves_other_requests_while_the_ticket_fetch_is_slow(
    server: str, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.inject("cgi-bin/ticket/getticket", Fault("latency", SLOW))

    def slow() -> None:
        page = requests.get(
            f"{server}/page",
            headers={"User-Agent": DESKTOP_UA, "Accept": NAVIGATION_ACCEPT},
            timeout=30,
        )
        assert page.status_code == 200 and '"signature": {' in page.text

    finished = run_while_slow(server, slow)
    assert finished[-1] == "slow" and len(finished) == 6


def test_loop_serves_other_requests_while_the_code_exchange_is_slow(
    server: str, fake_wechat: FakeWeChat
) -> None:
    session = requests.Session()
    session.headers.update({"User-Agent": IOS_WECHAT_UA, "Accept": NAVIGATION_ACCEPT})
    start = session.get(f"{server}/page", allow_redirects=False, timeout=10)
    authorize = session.get(  # WeChat's browser on the authorize page
        start.headers["Location"].split("#")[0], allow_redirects=False, timeout=10
    )
    fake_wechat.inject("sns/oauth2/access_token", Fault("latency", SLOW))

    def slow() -> None:
        back = session.get(authorize.headers["Location"], allow_redirects=False, timeout=30)
        assert back.status_code == 302

    finished = run_while_slow(server, slow)
    assert finished[-1] == "slow" and len(finished) == 6


@pytest.mark.parametrize(
    "target",
    ["/api/sign?url=http%3A%2F%2F127.0.0.1%2Fspa%2F", "/api/signature"],
    ids=["asign", "asignature"],
)
def test_loop_serves_other_requests_while_a_json_endpoint_awaits_a_signature(
    server: str, fake_wechat: FakeWeChat, target: str
) -> None:
    """The README's JSON sign endpoint (not an HTML page: nothing was prefetched)."""
    fake_wechat.inject("cgi-bin/ticket/getticket", Fault("latency", SLOW))
    host = server.removeprefix("http://")
    if target.startswith("/api/sign"):
        target = target.replace("127.0.0.1", host.replace(":", "%3A"))

    def slow() -> None:
        reply = requests.get(server + target, headers={"Accept": "application/json"}, timeout=30)
        assert reply.status_code == 200 and reply.json()["signature"]

    finished = run_while_slow(server, slow)
    assert finished[-1] == "slow" and len(finished) == 6


def test_loop_serves_other_requests_while_the_config_endpoint_waits_for_wechat(
    server: str, fake_wechat: FakeWeChat
) -> None:
    """The SPA config endpoint with WeChat slowed to 3 s: the signing runs off the loop."""
    fake_wechat.inject("cgi-bin/ticket/getticket", Fault("latency", SLOW))
    page = quote(server + "/spa/", safe="")

    def slow() -> None:
        reply = requests.get(f"{server}/wechat/jssdk/config?url={page}", timeout=30)
        assert reply.status_code == 200 and reply.json()["signature"]

    finished = run_while_slow(server, slow)
    assert finished[-1] == "slow" and len(finished) == 6


def test_with_the_default_wait_a_page_does_not_wait_for_a_slow_ticket(
    default_server: str, fake_wechat: FakeWeChat
) -> None:
    """Pages and the config endpoint asked while the ticket takes 3 s: answered at once,
    without a signature; the one fetch goes on, and the pages after it are signed."""
    fake_wechat.inject("cgi-bin/ticket/getticket", Fault("latency", SLOW))
    headers = {"User-Agent": DESKTOP_UA, "Accept": NAVIGATION_ACCEPT}
    page = quote(default_server + "/spa/", safe="")
    began = time.monotonic()
    first = requests.get(f"{default_server}/page", headers=headers, timeout=30)
    config = requests.get(f"{default_server}/wechat/jssdk/config?url={page}", timeout=30)
    took = time.monotonic() - began
    assert first.status_code == 200 and '"signature": null' in first.text
    assert config.status_code == 503 and config.headers["Retry-After"] == "1"
    assert "being fetched" in config.json()["error"]
    assert took < SLOW - 1  # half a second of waiting, not the fetch's 3 s
    deadline = time.monotonic() + SLOW * 4
    while (
        '"signature": {'
        not in requests.get(f"{default_server}/page", headers=headers, timeout=30).text
    ):
        assert time.monotonic() < deadline, "no signature after the slow fetch ended"
        time.sleep(0.1)
    assert fake_wechat.calls("cgi-bin/ticket/getticket") == 1
