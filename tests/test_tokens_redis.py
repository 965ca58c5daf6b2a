"""Tokens over a real Redis: change notices between hosts, and life while Redis is down.

The promise (docs/several-hosts.md): a refresh on one host is used by every host from
its next request, and a dead Redis costs no page: each process serves its in-memory
copy while it is valid, says clearly which store is down, and recovers by itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from wechat_middleware import StoreError, WeChat
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import DESKTOP_UA

from .conftest import MakeWeChat
from .support.apps import AppClient, app_client
from .support.fetches import fetches_ended
from .support.redis_server import RedisServer

TICKET = "cgi-bin/ticket/getticket"


def page(client: AppClient) -> object:
    """A page for a plain browser: it renders; its signature, or None."""
    answer = client.get("/page", ua=DESKTOP_UA)
    assert answer.status == 200
    return answer.json()["signature"]


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own: these tests stop and restart it."""
    with RedisServer() as server:
        yield server


def test_a_refresh_on_one_host_replaces_the_copy_held_by_another(
    make_wechat: MakeWeChat, redis_url: str
) -> None:
    host_a, host_b = make_wechat(redis_url), make_wechat(redis_url)
    host_b.tokens.local_ttl = 3600  # only the change notice can make B look again
    first = host_b.tokens.jsapi_ticket()
    host_a.tokens.set_globally(ticket="ticket-from-host-a")
    # set_globally returns once every listening process has heard the notice.
    assert host_b.tokens.jsapi_ticket() == "ticket-from-host-a"
    assert first != "ticket-from-host-a"


def test_redis_down_serves_the_in_process_copy_while_it_is_valid(
    make_wechat: MakeWeChat, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    wechat = make_wechat(own_redis.url + "/0")
    ticket = wechat.tokens.jsapi_ticket()
    own_redis.stop()
    wechat.tokens._local["jsapi_ticket"].until = 0  # the 1 s copy is due for a store read
    with caplog.at_level(logging.WARNING, "wechat_middleware"):
        assert wechat.tokens.jsapi_ticket() == ticket
    assert f"redis://127.0.0.1:{own_redis.port}/0" in caplog.text


def test_redis_down_without_a_copy_gives_no_signature_but_the_page_renders(
    make_wechat: MakeWeChat, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    from wechat_middleware.context import WeChatContext

    wechat = make_wechat(own_redis.url + "/0", allowed_hosts="a.example")
    own_redis.stop()
    context = WeChatContext(wechat, page_url="http://a.example/", user=None, is_wechat_browser=True)
    with caplog.at_level(logging.WARNING, "wechat_middleware"):
        assert context.signature is None
    assert "unreachable" in caplog.text


def test_redis_coming_back_is_used_again_without_a_restart(
    make_wechat: MakeWeChat,
    own_redis: RedisServer,
    fake_wechat: FakeWeChat,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wechat: WeChat = make_wechat(own_redis.url + "/0")
    wechat.tokens.jsapi_ticket()
    own_redis.stop()
    with pytest.raises(StoreError):
        wechat.store.get("anything")
    own_redis.restart()  # an empty Redis: what was stored is gone
    fake_wechat.advance(7201)  # and the copies have expired
    with caplog.at_level(logging.WARNING, "wechat_middleware"):
        ticket = wechat.tokens.jsapi_ticket()
    assert ticket == fake_wechat.current_jsapi_ticket()
    assert wechat.store.get(wechat.tokens.prefix + "jsapi_ticket") is not None


def test_a_hung_redis_holds_no_page_of_a_cold_worker_behind_its_timeouts(
    make_wechat: MakeWeChat, own_redis: RedisServer, fake_wechat: FakeWeChat
) -> None:
    """Redis frozen (SIGSTOP: connections open, nothing answered; each read gives up
    after the store's 1 s timeout). Pages of a worker holding no copy used to queue one
    behind the other, a 1 s timeout each; now one background look-up waits, the pages
    render without a signature, and the store is not asked again for the back-off."""
    wechat = make_wechat(own_redis.url + "/0")
    own_redis.pause()
    try:
        with app_client("wsgi", wechat) as first, app_client("wsgi", wechat) as second:
            began = time.monotonic()
            with ThreadPoolExecutor(max_workers=8) as pool:
                signatures = list(pool.map(page, [first, second] * 4))
            assert signatures == [None] * 8
            assert time.monotonic() - began < 2.5  # eight 1 s timeouts in a row before
            fetches_ended(wechat)
            assert wechat.tokens.backing_off("jsapi_ticket")
            began = time.monotonic()
            assert all(page(first) is None for _ in range(20))
            assert time.monotonic() - began < 1.0  # no store I/O: twenty timeouts before
    finally:
        own_redis.resume()
    fake_wechat.advance(wechat.tokens.failure_backoff + 1)
    with app_client("wsgi", wechat) as client:
        assert page(client) is not None
    assert (fake_wechat.calls("cgi-bin/stable_token"), fake_wechat.calls(TICKET)) == (1, 1)
