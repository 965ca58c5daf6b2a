"""Acceptance tests of scaling out: two hosts, one Redis, one WeChat.

Two independent gunicorn instances (the Flask example, 4 sync workers each, on different
ports) share nothing but ``WECHAT_STORE=redis://:password@127.0.0.1:PORT/0``. Redis is a
real ``redis-server`` started for each test, with a password that must never reach a
log; WeChat is FakeWeChat. Everything crosses real loopback sockets and processes.

Gunicorn's access log names the worker (pid) that answered each request, so a test can
make sure every worker of a host took part, not just whichever the kernel picked.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.testing import FakeWeChat, WeChatBrowser

from ..support import tickets
from ..support.example_page import Page, assert_signed_for, log_in, new_openid
from ..support.redis_server import RedisServer
from ..support.servers import (
    AppServer,
    ServerStartError,
    app_environment,
    gunicorn_worker_pids,
    served_by_pid,
    start_server,
)

pytestmark = pytest.mark.slow

_T = TypeVar("_T")
_R = TypeVar("_R")
Hosts = tuple[AppServer, AppServer]

SERVER_KIND = "flask+gunicorn-4-workers"
WORKERS = 4
TOKEN_PATH = "cgi-bin/stable_token"
TICKET_PATH = "cgi-bin/ticket/getticket"
LANDING = "/?a=1&b=2"
COLD_BROWSERS = 60
WAVE = 8  # concurrent requests per host in a wave: twice the workers, so all get some
MAX_WAVES = 25  # bounds every "until every worker answered" loop
REQUEST_BOUND = 5.0  # seconds for any one request (the store's own timeout is 1 s)
# Longer than the 1 s per-process copy: every worker that answers goes to the dead store.
OUTAGE = 3.0
RECOVERY_BOUND = 10.0  # seconds for both hosts to serve the ticket refreshed after Redis is back


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def redis_for_hosts() -> Iterator[RedisServer]:
    """A redis-server of this test's own (it may be stopped), with a password."""
    server = RedisServer(password="pw-" + secrets.token_hex(12))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def two_hosts(
    fake_wechat: FakeWeChat, redis_for_hosts: RedisServer, tmp_path: Path
) -> Iterator[Hosts]:
    """Host A and host B: two gunicorns on one Redis URL, started side by side."""
    env = app_environment(fake_wechat, redis_url(redis_for_hosts))
    log_dirs = [tmp_path / "host-a", tmp_path / "host-b"]
    for log_dir in log_dirs:
        log_dir.mkdir()
    started: list[AppServer] = []
    failures: list[ServerStartError] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(start_server, SERVER_KIND, env, d) for d in log_dirs]
        for future in futures:
            try:
                started.append(future.result())
            except ServerStartError as exc:
                failures.append(exc)
    try:
        if failures:
            raise failures[0]
        for host in started:
            wait_for_workers(host)
        yield started[0], started[1]
    finally:
        in_parallel(AppServer.stop, started)  # gunicorn takes 1-2 s to stop: both at once


# -- helpers ------------------------------------------------------------------------------


def redis_url(server: RedisServer) -> str:
    return server.url + "/0"


def redis_description(server: RedisServer) -> str:
    """How the store names itself in logs: the URL without the password."""
    return f"redis://127.0.0.1:{server.port}/0"


def in_parallel(work: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    with ThreadPoolExecutor(max_workers=max(len(items), 1)) as pool:
        return list(pool.map(work, items))


def wait_for_workers(host: AppServer, timeout: float = 10.0) -> set[int]:
    """The pids of the host's workers, once gunicorn logged booting all of them."""
    deadline = time.monotonic() + timeout
    while True:
        pids = gunicorn_worker_pids(host)
        if len(pids) >= WORKERS:
            return pids
        assert time.monotonic() < deadline, f"{host.netloc} booted only workers {pids}"
        time.sleep(0.05)


def signed_with(page: Page, ticket: str | None, url: str) -> bool:
    """Whether the page's wx.config was made with exactly ``ticket``, for exactly ``url``."""
    sig = page.signature
    if sig is None or ticket is None or sig["url"] != url:
        return False
    return tickets.signed_with(ticket, sig, url)


@dataclass(frozen=True)
class Visit:
    url: str
    page: Page
    started: float  # time.monotonic() when the request was sent
    seconds: float


def visit(url: str, browser: WeChatBrowser | None = None) -> Visit:
    """One page load (a plain desktop browser unless ``browser``): a 200 page, in time."""
    own = browser is None
    browser = browser or WeChatBrowser(user_agent="desktop", timeout=REQUEST_BOUND)
    try:
        started = time.monotonic()
        response = browser.get(url, follow_redirects=False)
        seconds = time.monotonic() - started
    finally:
        if own:
            browser.close()
    assert response.status == 200, f"{url}: {response.status}\n{response.text[:500]}"
    assert seconds < REQUEST_BOUND, f"{url} took {seconds:.2f}s"
    return Visit(url, Page.parse(response.text), started, seconds)


def wave(host: AppServer, marker: str, number: int, size: int = WAVE) -> list[Visit]:
    """``size`` plain browsers load distinct URLs of ``host`` at once."""
    urls = [host.url(f"/second?{marker}={number}-{i}") for i in range(size)]
    return in_parallel(visit, urls)


def pids_of(host: AppServer, marker: str, visits: Sequence[Visit]) -> dict[str, int]:
    """The worker that answered each of ``visits`` (those already in the access log)."""
    served = served_by_pid(host, marker)
    prefix = host.base_url
    return {
        v.url: served[v.url[len(prefix) :]][1] for v in visits if v.url[len(prefix) :] in served
    }


def warm_up(host: AppServer, fake: FakeWeChat) -> None:
    """Plain browsers load signed pages until every worker of ``host`` has served one."""
    workers = wait_for_workers(host)
    marker = "warm" + secrets.token_hex(4)
    visits: list[Visit] = []
    for number in range(MAX_WAVES):
        batch = wave(host, marker, number)
        for v in batch:
            assert_signed_for(v.page, v.url, fake)
        visits += batch
        if workers <= set(pids_of(host, marker, visits).values()):
            return
    pytest.fail(f"{MAX_WAVES} waves of requests did not reach every worker of {host.netloc}")


def make_refresher(fake: FakeWeChat, store_url: str) -> WeChat:
    """The test process acting as one more host of the deployment."""
    config = WeChatConfig(
        app_id=fake.app_id,
        app_secret=fake.app_secret,
        api_base=fake.api_base,
        open_base=fake.open_base,
        store=store_url,
    )
    return WeChat(config)


def fetch_counts(fake: FakeWeChat) -> tuple[int, int]:
    return fake.calls(TOKEN_PATH), fake.calls(TICKET_PATH)


# -- tests --------------------------------------------------------------------------------


def test_60_cold_browsers_across_two_hosts_cause_one_token_and_one_ticket_fetch(
    two_hosts: Hosts, fake_wechat: FakeWeChat
) -> None:
    # However many hosts and workers, one token and one ticket fetch per expiry: the
    # Redis lock is the single flight across machines, and the others wait for its value.
    assert fetch_counts(fake_wechat) == (0, 0)  # starting up cost nothing
    openids = [new_openid() for _ in range(COLD_BROWSERS)]
    landing = threading.Barrier(COLD_BROWSERS, timeout=60)

    def one_visit(index: int) -> tuple[AppServer, Page]:
        host = two_hosts[index % 2]
        reached = threading.Event()

        def at_landing(next_url: str) -> None:
            if next_url == host.url(LANDING):
                reached.set()
                landing.wait()  # all 60 land on the page, which needs the ticket, at once

        with WeChatBrowser(openid=openids[index]) as browser:
            try:
                landed = browser.get(host.url(LANDING), before_redirect=at_landing)
            finally:
                if not reached.is_set():
                    landing.abort()  # don't keep the others waiting for a lost browser
        assert [hop.status for hop in landed.hops] == [302, 302, 302, 200], landed.urls
        return host, Page.parse(landed.text)

    results = in_parallel(one_visit, range(COLD_BROWSERS))

    assert [page.openid for _, page in results] == openids
    for host, page in results:
        url = host.url(LANDING)
        assert_signed_for(page, url, fake_wechat)
        other = two_hosts[1] if host is two_hosts[0] else two_hosts[0]
        sig = page.signature
        assert sig is not None
        assert not fake_wechat.check_jsapi_signature(
            other.url(LANDING), sig["nonceStr"], sig["timestamp"], sig["signature"]
        ), "a signature must be valid for its own host's URL only"
    assert fake_wechat.calls(TOKEN_PATH) == 1
    assert fake_wechat.calls(TICKET_PATH) == 1


def test_forced_refresh_on_one_host_is_seen_by_the_other_within_one_request(
    two_hosts: Hosts, fake_wechat: FakeWeChat, redis_for_hosts: RedisServer
) -> None:
    # A forced refresh (e.g. after WeChat rejected the ticket) must reach every worker of
    # every host at once, through the change notice; a worker's 1 s copy must not lag.
    host_a, host_b = two_hosts
    for host in two_hosts:
        warm_up(host, fake_wechat)
    old_ticket = fake_wechat.current_jsapi_ticket()
    assert fetch_counts(fake_wechat) == (1, 1)

    refresher = make_refresher(fake_wechat, redis_url(redis_for_hosts))
    try:
        held = refresher.tokens.cached("jsapi_ticket")  # also opens its Redis connection
        assert held is not None and held.value == old_ticket
        # Right before the refresh every worker of B reads the ticket (and holds it for
        # 1 s): only the change notice can make its next page use the new one.
        warm_up(host_b, fake_wechat)
        touched = time.monotonic()
        # The fake's first forced stable_token is honoured at once (later ones at most
        # every 30 s): no need to advance its clock.
        fake_wechat.rotate_jsapi_ticket()
        refreshed = refresher.jssdk.get_new_token_and_ticket(force=True)
        announced = time.monotonic()
    finally:
        refresher.close()
    new_ticket = fake_wechat.current_jsapi_ticket()
    assert new_ticket is not None and new_ticket != old_ticket
    assert refreshed["jsapi_ticket"] == new_ticket

    # At once, waves of concurrent page loads on B until each of its workers answered.
    workers = wait_for_workers(host_b)
    marker = "after" + secrets.token_hex(4)
    visits: list[Visit] = []
    for number in range(5):
        visits += wave(host_b, marker, number)
        if workers <= set(pids_of(host_b, marker, visits).values()):
            break
    checked = time.monotonic()
    answered_by = pids_of(host_b, marker, visits)
    stale = [
        f"{v.url} (worker {answered_by.get(v.url)}, sent {(v.started - announced) * 1000:.1f} ms "
        f"after the refresh returned, answered in {v.seconds * 1000:.1f} ms)"
        for v in visits
        if not signed_with(v.page, new_ticket, v.url)
    ]
    assert not stale, (
        f"{len(stale)} of {len(visits)} pages of host B right after the refresh were signed "
        f"with the old ticket: {stale}"
    )
    print(
        f"\nforced refresh: {(announced - touched) * 1000:.0f} ms after B's workers read the "
        f"ticket; {len(visits)} pages of B by workers {sorted(set(answered_by.values()))} "
        f"checked {(checked - announced) * 1000:.0f} ms after the notice"
    )
    # Host A did not refresh either: its next pages use the new ticket too.
    for v in wave(host_a, marker, 0):
        assert signed_with(v.page, new_ticket, v.url), v.url
    assert fetch_counts(fake_wechat) == (2, 2)  # the forced refresh, and nothing else


def test_redis_killed_mid_run_pages_keep_rendering_and_recover(
    two_hosts: Hosts, fake_wechat: FakeWeChat, redis_for_hosts: RedisServer
) -> None:
    # Redis down: pages keep their signatures from each worker's in-process copy, no
    # request hangs or fails, and the log names the store (never its password). Redis
    # back: the next refresh goes through Redis again, once for every host.
    redis = redis_for_hosts
    for host in two_hosts:
        warm_up(host, fake_wechat)
    users = []
    for host in two_hosts:  # logging in needs Redis (the OAuth state is checked there)
        openid = new_openid()
        browser = WeChatBrowser(openid=openid, timeout=REQUEST_BOUND)
        assert log_in(browser, host, "/").openid == openid
        users.append((host, browser, openid))
    old_ticket = fake_wechat.current_jsapi_ticket()
    counts = fetch_counts(fake_wechat)
    assert counts == (1, 1)
    offsets = [host.log_size() for host in two_hosts]

    try:
        redis.stop()
        stopped = time.monotonic()
        jobs: list[tuple[str, WeChatBrowser | None, str]] = []
        slowest = 0.0
        served = 0
        number = 0
        while time.monotonic() - stopped < OUTAGE:
            jobs = []
            for host, browser, openid in users:
                jobs.append((host.url(f"/second?down={number}"), browser, openid))
                jobs += [(host.url(f"/second?down={number}-{i}"), None, "") for i in range(3)]

            def load(job: tuple[str, WeChatBrowser | None, str]) -> tuple[Visit, str]:
                url, browser, openid = job
                return visit(url, browser), openid

            for v, openid in in_parallel(load, jobs):
                assert v.page.openid == openid, v.url
                assert signed_with(v.page, old_ticket, v.url), f"{v.url}: {v.page.signature}"
                slowest = max(slowest, v.seconds)
                served += 1
            number += 1
        print(f"\nRedis down: {served} pages in {OUTAGE:.0f}s, slowest {slowest * 1000:.0f} ms")
        assert fetch_counts(fake_wechat) == counts  # nothing went to WeChat meanwhile

        unreachable = f"token store {redis_description(redis)} is unreachable"
        for host, offset in zip(two_hosts, offsets, strict=True):
            assert unreachable in host.log(offset), f"no {unreachable!r} in {host.netloc}'s log"

        # Back, on the same port but empty: the next page needs a refresh, and WeChat
        # hands out a ticket no host has seen yet, so its use shows who refreshed.
        fake_wechat.rotate_jsapi_ticket()
        offsets = [host.log_size() for host in two_hosts]
        redis.restart()
        restarted = time.monotonic()
        new_ticket = recover(two_hosts, fake_wechat)
        recovered = time.monotonic()
        print(
            f"Redis back: every worker of both hosts on the new ticket after "
            f"{(recovered - restarted) * 1000:.0f} ms"
        )
    finally:
        for _, browser, _ in users:
            browser.close()

    assert new_ticket != old_ticket
    assert fetch_counts(fake_wechat) == (counts[0] + 1, counts[1] + 1)  # one refresh for all
    reader = make_refresher(fake_wechat, redis_url(redis))
    try:
        stored_ticket = reader.tokens.cached("jsapi_ticket")
        stored_token = reader.tokens.cached("access_token")
    finally:
        reader.close()
    assert stored_ticket is not None and stored_ticket.value == new_ticket
    assert stored_token is not None and stored_token.value in fake_wechat.valid_access_tokens()
    for host, offset in zip(two_hosts, offsets, strict=True):
        assert "the token store is reachable again" in host.log(offset), host.netloc
    assert redis.password
    for host in two_hosts:
        assert redis.password not in host.log(), f"{host.netloc} logged the Redis password"


def recover(hosts: Hosts, fake: FakeWeChat) -> str:
    """Waves of page loads on both hosts until every worker of each has served a page
    signed with WeChat's current ticket and a whole wave shows nothing else; returns it.

    Right after the restart a worker may still serve its in-process copy (it is valid
    and WeChat still accepts it): that is allowed, for a bounded time only.
    """
    marker = "back" + secrets.token_hex(4)
    deadline = time.monotonic() + RECOVERY_BOUND
    on_new: dict[str, set[int]] = {host.netloc: set() for host in hosts}
    for number in itertools.count():
        ticket = fake.current_jsapi_ticket()
        visits = in_parallel(partial(wave, marker=marker, number=number), hosts)
        everyone = True
        for host, batch in zip(hosts, visits, strict=True):
            workers = gunicorn_worker_pids(host)
            answered_by = pids_of(host, marker, batch)
            for v in batch:
                assert_signed_for(v.page, v.url, fake)  # old or new, always valid
                if signed_with(v.page, ticket, v.url):
                    if v.url in answered_by:
                        on_new[host.netloc].add(answered_by[v.url])
                else:
                    everyone = False
            if not workers <= on_new[host.netloc]:
                everyone = False
        if everyone and ticket is not None:
            return ticket
        assert time.monotonic() < deadline, (
            f"after {RECOVERY_BOUND:.0f}s not every worker serves the ticket fetched after "
            f"Redis came back: workers on it {on_new}"
        )
    raise AssertionError("unreachable")
