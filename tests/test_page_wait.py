"""A slow WeChat stalls no page: one fetch runs, pages stop waiting for it after
``page_wait`` (issue #20, item 1).

A page that needs the jsapi ticket while it is being fetched waits for that one fetch
half a second at most (``WECHAT_PAGE_WAIT``), counted from when the fetch began,
then renders with ``signature = None``; the config endpoint answers 503 with a
``Retry-After``. Explicit API calls still wait for the fetch, within ``wait_timeout``.
After a failure nothing asks WeChat again for the back-off, which lasts at least as
long as the failed call took. Timed bounds are generous (seconds against a 3 s fetch);
what reached WeChat is counted exactly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from wechat_middleware import WeChat, WeChatUnavailableError
from wechat_middleware.testing import FakeWeChat, Fault
from wechat_middleware.testing.user_agents import DESKTOP_UA

from .conftest import MakeWeChat
from .support.apps import KINDS, AppClient, app_client
from .support.fetches import fetches_ended

TOKEN = "cgi-bin/stable_token"
TICKET = "cgi-bin/ticket/getticket"
SLOW = 3.0  # seconds the token endpoint takes; the default page_wait is 0.5 s
QUICK = 1.5  # seconds a page may take here at most (its wait is 0.5 s)
PAGE_URL = "http://testserver/page"


@pytest.fixture(params=KINDS)
def client(request: pytest.FixtureRequest, make_wechat: MakeWeChat) -> Iterator[AppClient]:
    with app_client(str(request.param), make_wechat()) as client:
        yield client


def signature_of(client: AppClient) -> object:
    answer = client.get("/page", ua=DESKTOP_UA)
    assert answer.status == 200
    return answer.json()["signature"]


def test_pages_asked_while_the_token_is_slow_render_at_once_and_wechat_is_asked_once(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    """The issue's in-process case: the token endpoint takes seconds; the page that
    started the fetch and the pages asked a moment later waited the whole fetch."""
    fake_wechat.inject(TOKEN, Fault("latency", SLOW))
    began = time.monotonic()
    assert signature_of(client) is None
    assert time.monotonic() - began < QUICK
    time.sleep(0.6)  # the fetch is still in flight; pages no longer wait for it at all
    for _ in range(3):
        asked = time.monotonic()
        assert signature_of(client) is None
        assert time.monotonic() - asked < QUICK
    assert time.monotonic() - began < SLOW  # four pages, all before the fetch ended
    fetches_ended(client.wechat)
    signature = signature_of(client)
    assert isinstance(signature, dict) and signature["url"] == PAGE_URL
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (1, 1)


def test_an_explicit_call_waits_for_the_fetch_in_flight_within_its_bound(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    """``jssdk.get_signature_by_url`` is an explicit call: it waits for the fetch a
    page started (no second fetch), and no longer than ``wait_timeout``."""
    wechat = client.wechat
    fake_wechat.inject(TOKEN, Fault("latency", SLOW))
    assert signature_of(client) is None  # the page started the fetch, and went on
    wechat.tokens.wait_timeout = 0.5
    began = time.monotonic()
    with pytest.raises(WeChatUnavailableError, match="timed out"):
        wechat.jssdk.get_signature_by_url(PAGE_URL)
    assert time.monotonic() - began < QUICK  # not the rest of the 3 s fetch
    wechat.tokens.wait_timeout = 30.0
    signature = wechat.jssdk.get_signature_by_url(PAGE_URL)
    assert fake_wechat.check_jsapi_signature(
        signature["url"], signature["nonceStr"], signature["timestamp"], signature["signature"]
    )
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (1, 1)


def test_the_back_off_after_a_slow_failure_outlasts_the_failed_call(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    """Three tries cut at 0.3 s: the failed fetch took about a second. With a back-off
    configured shorter than that, WeChat is still not asked again within that second."""
    wechat = make_wechat(timeout=0.3)
    wechat.tokens.failure_backoff = 0.1
    fake_wechat.inject(TOKEN, Fault("latency", 1.0, times=None))
    with app_client("wsgi", wechat) as client:
        assert signature_of(client) is None
        fetches_ended(wechat)
        assert fake_wechat.calls(TOKEN) == 3  # one call and two retries, all cut
        fake_wechat.advance(0.5)  # past the configured 0.1 s, within the failed call's 0.9 s
        for _ in range(5):
            assert signature_of(client) is None
        fetches_ended(wechat)
        assert fake_wechat.calls(TOKEN) == 3
        fake_wechat.clear_faults()
        fake_wechat.advance(10)  # past the back-off however long the failed call took
        assert signature_of(client) is not None
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (4, 1)


def test_the_config_endpoint_answers_503_with_retry_after_instead_of_waiting(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    wechat = client.wechat
    config = "/wechat/jssdk/config?url=" + quote(PAGE_URL, safe="")
    fake_wechat.inject(TOKEN, Fault("latency", SLOW))
    assert signature_of(client) is None  # the fetch is in flight since half a second
    asked = time.monotonic()
    answer = client.get(config, ua=DESKTOP_UA, accept="*/*")
    assert time.monotonic() - asked < QUICK
    assert answer.status == 503 and answer.headers.get("Retry-After") == "1"
    assert "being fetched" in answer.json()["error"]
    fetches_ended(wechat)
    assert client.get(config, ua=DESKTOP_UA, accept="*/*").status == 200

    fake_wechat.inject(TICKET, Fault("status", 502, times=None))
    fake_wechat.advance(7200)  # both expired: the next ticket fetch fails
    client.get(config, ua=DESKTOP_UA, accept="*/*")  # starts it
    fetches_ended(wechat)
    answer = client.get(config, ua=DESKTOP_UA, accept="*/*")
    assert answer.status == 503 and "unavailable" in answer.json()["error"]
    # The rest of the back-off (5 s after the failed fetch), in whole seconds.
    assert 4 <= int(answer.headers.get("Retry-After") or 0) <= wechat.tokens.failure_backoff


def test_with_a_longer_page_wait_a_page_waits_for_the_fetch(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    """``WECHAT_PAGE_WAIT`` is the one knob: a site that prefers a late signature to none."""
    wechat: WeChat = make_wechat(page_wait=SLOW * 3)
    assert wechat.tokens.page_wait == SLOW * 3
    fake_wechat.inject(TOKEN, Fault("latency", 1.0))
    with app_client("wsgi", wechat) as client:
        assert signature_of(client) is not None
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (1, 1)
