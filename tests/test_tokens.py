"""TokenManager: the global access token and jsapi ticket, fetched once for everyone.

WeChat facts relied on (docs/wechat-protocol.md sections 2, 3 and 6): a token and a ticket live
``expires_in`` (7200 s) seconds; a classic token call invalidates the previous token
after ~5 minutes; the stable endpoint returns the current token while more than 5
minutes remain; an invalid or expired token answers 40001/42001 and must be refreshed
once; 45009 means the quota is spent and retrying only makes it worse.
"""

from __future__ import annotations

import threading

import pytest

from wechat_middleware import (
    InvalidCredentialError,
    QuotaExceededError,
    RefreshLimitError,
    WeChatUnavailableError,
)
from wechat_middleware.testing import FakeWeChat, Fault

from .conftest import MakeWeChat

TOKEN = "cgi-bin/stable_token"
CLASSIC = "cgi-bin/token"
TICKET = "cgi-bin/ticket/getticket"


def test_token_is_fetched_once_then_served_from_cache(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    tokens = make_wechat(store_url).tokens
    first = tokens.access_token()
    assert all(tokens.access_token() == first for _ in range(50))
    assert fake_wechat.calls(TOKEN) == 1
    assert first in fake_wechat.valid_access_tokens()


def test_ticket_is_fetched_once_with_the_token(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    tokens = make_wechat(store_url).tokens
    ticket = tokens.jsapi_ticket()
    assert all(tokens.jsapi_ticket() == ticket for _ in range(50))
    assert ticket == fake_wechat.current_jsapi_ticket()
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (1, 1)


def test_stable_endpoint_is_the_default_and_classic_is_a_choice(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    make_wechat().tokens.access_token()
    make_wechat(token_endpoint="classic").tokens.access_token()
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(CLASSIC)) == (1, 1)


def test_token_is_refreshed_a_margin_ahead_of_expiry(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    tokens = make_wechat(store_url, refresh_margin=180).tokens
    old = tokens.access_token()
    fake_wechat.advance(7200 - 181)
    tokens._local.clear()  # skip the one-second local copy instead of sleeping
    assert tokens.access_token() == old
    fake_wechat.advance(2)  # 179 s left: inside the margin, still valid
    tokens._local.clear()
    new = tokens.access_token()
    assert new != old
    assert fake_wechat.calls(TOKEN) == 2
    assert {old, new} <= fake_wechat.valid_access_tokens()  # no gap: the old one still works


def test_stable_token_with_long_remaining_life_is_not_refetched_in_a_loop(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    """The stable endpoint answers the *remaining* life of the current token."""
    first_host = make_wechat()
    first_host.tokens.access_token()
    fake_wechat.advance(6000)  # 1,200 s left on WeChat's side
    late_host = make_wechat(refresh_margin=1000)
    token = late_host.tokens.access_token()
    for _ in range(20):
        late_host.tokens._local.clear()
        assert late_host.tokens.access_token() == token
    assert fake_wechat.calls(TOKEN) == 2


def test_expired_token_is_never_served(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    tokens = make_wechat(store_url).tokens
    old = tokens.access_token()
    fake_wechat.advance(7201)
    assert tokens.access_token() != old
    assert fake_wechat.calls(TOKEN) == 2


def test_rejected_token_is_refreshed_and_the_ticket_call_retried_once(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    tokens = make_wechat(store_url).tokens
    stolen = tokens.access_token()
    fake_wechat.invalidate_access_tokens()  # another deployment force-refreshed it
    ticket = tokens.jsapi_ticket()
    assert ticket == fake_wechat.current_jsapi_ticket()
    assert tokens.access_token() != stolen
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (2, 2)


def test_expired_token_error_42001_is_handled_like_40001(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    tokens = make_wechat().tokens
    tokens.access_token()
    fake_wechat.expire_access_tokens()
    assert tokens.jsapi_ticket() == fake_wechat.current_jsapi_ticket()
    assert fake_wechat.calls(TICKET) == 2


def test_token_rejected_twice_raises_after_one_retry(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    tokens = make_wechat().tokens
    fake_wechat.inject(TICKET, Fault("errcode", 40001, times=2))
    with pytest.raises(InvalidCredentialError):
        tokens.jsapi_ticket()
    assert fake_wechat.calls(TICKET) == 2
    assert fake_wechat.calls(TOKEN) == 2


def test_invalidate_keeps_a_newer_token_stored_by_someone_else(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    tokens = make_wechat(store_url).tokens
    current = tokens.access_token()
    tokens.invalidate("access_token", "some-older-token")
    assert tokens.cached("access_token") is not None
    assert tokens.access_token() == current
    assert fake_wechat.calls(TOKEN) == 1


def test_transient_failures_are_retried_with_backoff(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.inject(TOKEN, Fault("status", 502))
    fake_wechat.inject(TOKEN, Fault("errcode", -1))
    assert make_wechat().tokens.access_token() in fake_wechat.valid_access_tokens()
    assert fake_wechat.calls(TOKEN) == 3


def test_quota_error_is_not_retried_and_backs_off(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    tokens = make_wechat().tokens
    fake_wechat.inject(TOKEN, Fault("errcode", 45009, times=1))
    with pytest.raises(QuotaExceededError):
        tokens.access_token()
    with pytest.raises(QuotaExceededError):
        tokens.access_token()  # served from the remembered failure, WeChat not called
    assert fake_wechat.calls(TOKEN) == 1
    fake_wechat.advance(tokens.quota_backoff + 1)
    assert tokens.access_token() in fake_wechat.valid_access_tokens()


def test_unreachable_wechat_fails_fast_during_the_backoff(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    tokens = make_wechat().tokens
    fake_wechat.inject(TOKEN, Fault("drop", times=3))
    with pytest.raises(WeChatUnavailableError):
        tokens.access_token()
    assert fake_wechat.calls(TOKEN) == 3  # one call and two bounded retries
    for _ in range(10):
        with pytest.raises(WeChatUnavailableError):
            tokens.access_token()
    assert fake_wechat.calls(TOKEN) == 3


def test_failed_refresh_ahead_keeps_serving_the_valid_token(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    tokens = make_wechat().tokens
    old = tokens.access_token()
    fake_wechat.advance(7200 - 100)
    fake_wechat.inject(TOKEN, Fault("status", 503, times=None))
    tokens._local.clear()
    assert tokens.access_token() == old


def test_manual_refresh_is_limited_to_five_in_two_hours(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    """The seed: getNewTokenAndTicket without force runs at most 5 times in 2 hours."""
    tokens = make_wechat(store_url).tokens
    for _ in range(5):
        tokens.refresh()
    calls = fake_wechat.calls(TOKEN)
    with pytest.raises(RefreshLimitError, match="at most 5"):
        tokens.refresh()
    assert fake_wechat.calls(TOKEN) == calls  # the sixth did not reach WeChat


def test_manual_refresh_limit_resets_after_two_hours(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    tokens = make_wechat().tokens
    for _ in range(5):
        tokens.refresh()
    with pytest.raises(RefreshLimitError):
        tokens.refresh()
    fake_wechat.advance(2 * 3600)
    calls = fake_wechat.calls(TOKEN)
    token, ticket = tokens.refresh()  # allowed again, and it reaches WeChat
    assert fake_wechat.calls(TOKEN) == calls + 1
    assert token.value in fake_wechat.valid_access_tokens()
    assert ticket.value == fake_wechat.current_jsapi_ticket()


def test_manual_refresh_limit_is_shared_by_every_worker(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    one = make_wechat()
    other = make_wechat(one.store)
    for _ in range(3):
        one.tokens.refresh()
    for _ in range(2):
        other.tokens.refresh()
    with pytest.raises(RefreshLimitError):
        other.tokens.refresh()


def test_forced_refresh_bypasses_the_limit_and_renews_the_stable_token(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    tokens = make_wechat().tokens
    for _ in range(5):
        tokens.refresh()
    before = tokens.access_token()
    fake_wechat.advance(31)  # WeChat renews a forced stable token at most every 30 s
    token, ticket = tokens.refresh(force=True)
    assert token.value != before
    assert fake_wechat.valid_access_tokens() >= {token.value}
    assert before not in fake_wechat.valid_access_tokens()  # force_refresh invalidates
    assert ticket.value == fake_wechat.current_jsapi_ticket()


def test_set_globally_is_seen_by_every_manager_on_the_store(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    one = make_wechat(store_url)
    two = make_wechat(one.store)
    one.tokens.set_globally("token-from-elsewhere", "ticket-from-elsewhere")
    assert two.tokens.access_token() == "token-from-elsewhere"
    assert two.tokens.jsapi_ticket() == "ticket-from-elsewhere"
    assert fake_wechat.calls(TOKEN) == 0


def test_32_threads_at_a_cold_start_cause_one_fetch_each(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    tokens = make_wechat(store_url).tokens
    fake_wechat.inject(TOKEN, Fault("latency", 0.2))  # widen the race window
    start = threading.Barrier(32)
    tickets: list[str] = []

    def worker() -> None:
        start.wait()
        tickets.append(tokens.jsapi_ticket())

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tickets) == 32 and len(set(tickets)) == 1
    assert (fake_wechat.calls(TOKEN), fake_wechat.calls(TICKET)) == (1, 1)


def test_crashed_lock_holder_delays_others_only_until_its_lock_expires(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, store_url: str
) -> None:
    tokens = make_wechat(store_url).tokens
    tokens.lock_ttl = 0.3
    # A process took the lock and died without releasing it.
    assert tokens.store.acquire_lock(tokens.prefix + "lock:access_token", "dead-worker", 0.3)
    assert tokens.access_token() in fake_wechat.valid_access_tokens()
    assert fake_wechat.calls(TOKEN) == 1
