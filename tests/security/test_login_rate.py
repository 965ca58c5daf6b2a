"""OAuth code exchanges are bounded, per client address and in all (SECURITY.md, finding 4).

A login ``state`` costs an attacker one request to the login path, and each callback
with such a state makes the server call WeChat (``sns/oauth2/access_token``,
docs/wechat-protocol.md section 5.3). Over the bound the callback answers 429 without
calling WeChat, and nothing is logged in.
"""

from __future__ import annotations

import pytest

from wechat_middleware.testing import FakeWeChat

from ..conftest import MakeWeChat, OpenClient
from ..support.apps import AppClient
from .helpers import check_answer, no_login, state_of

EXCHANGE = "sns/oauth2/access_token"


def forged_callback(client: AppClient, attempt: int, address: str) -> int:
    """Mint a state at the login path, then bring it back with a made-up code."""
    client.cookie = None  # an attacker keeps no cookies between rounds
    start = client.get("/wechat/login?next=/", client=address)
    assert start.status == 302 and start.location
    state = state_of(start.location)
    answer = client.get(
        f"/wechat/oauth-callback?state={state}&code=made-up-{attempt}", client=address
    )
    check_answer(answer, open_base="http://unused")
    no_login(client.wechat, answer)
    return answer.status


def test_one_address_gets_at_most_the_per_client_bound_of_exchanges(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    client = open_client(kind, make_wechat(login_rate_per_client=5))
    statuses = [forged_callback(client, i, "203.0.113.7") for i in range(8)]
    assert statuses == [400] * 5 + [429] * 3
    assert fake_wechat.calls(EXCHANGE) == 5


def test_another_address_keeps_its_own_bound(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    client = open_client(kind, make_wechat(login_rate_per_client=2))
    assert [forged_callback(client, i, "203.0.113.7") for i in range(3)] == [400, 400, 429]
    assert forged_callback(client, 9, "198.51.100.4") == 400
    assert fake_wechat.calls(EXCHANGE) == 3


def test_all_addresses_together_get_at_most_the_total_bound(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    client = open_client(kind, make_wechat(login_rate_total=4))
    statuses = [forged_callback(client, i, f"203.0.113.{i + 1}") for i in range(6)]
    assert statuses == [400] * 4 + [429] * 2
    assert fake_wechat.calls(EXCHANGE) == 4


def test_a_proxy_address_is_not_bounded_as_one_client(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    """Behind a reverse proxy without ProxyFix every request comes from the proxy: a
    per-client bound on it would be a site-wide one, so only the total applies."""
    client = open_client(kind, make_wechat(login_rate_per_client=2))
    assert [forged_callback(client, i, "127.0.0.1") for i in range(4)] == [400] * 4
    assert [forged_callback(client, i, "10.0.0.5") for i in range(3)] == [400] * 3


def test_over_the_bound_the_answer_says_when_to_retry(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    client = open_client(kind, make_wechat(login_rate_per_client=1))
    forged_callback(client, 0, "203.0.113.7")
    client.cookie = None
    start = client.get("/wechat/login?next=/", client="203.0.113.7")
    assert start.location
    over = client.get(
        f"/wechat/oauth-callback?state={state_of(start.location)}&code=c", client="203.0.113.7"
    )
    assert over.status == 429 and over.headers.get("Retry-After") == "60"
    assert b"try again" in over.content


# -- addresses as servers pass them (issue #20, items 2 and 6) -----------------------------


@pytest.mark.parametrize("proxy", ["::ffff:127.0.0.1", "::ffff:10.0.0.5"])
def test_an_ipv4_mapped_proxy_address_is_not_bounded_as_one_client(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, proxy: str
) -> None:
    """A server bound to ``[::]`` sees a local proxy's IPv4 address in its IPv6 form: it
    is the same proxy, and must not turn the per-client bound into a site-wide one."""
    client = open_client(kind, make_wechat(login_rate_per_client=2))
    assert [forged_callback(client, i, proxy) for i in range(4)] == [400] * 4


def test_an_ipv4_mapped_client_is_bounded_as_its_ipv4_address(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    client = open_client(kind, make_wechat(login_rate_per_client=2))
    statuses = [forged_callback(client, i, "::ffff:203.0.113.7") for i in range(2)]
    assert [*statuses, forged_callback(client, 2, "203.0.113.7")] == [400, 400, 429]
    assert fake_wechat.calls(EXCHANGE) == 2


def test_the_addresses_of_one_ipv6_64_share_one_bound(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    """One subscriber holds a whole /64 (and picks new addresses in it at will): counted
    per address, it would have 2^64 bounds."""
    client = open_client(kind, make_wechat(login_rate_per_client=3))
    same_64 = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:a:b:c:d", "2001:db8:1:2:ffff::9"]
    statuses = [forged_callback(client, i, address) for i, address in enumerate(same_64)]
    assert statuses == [400] * 3 + [429]
    assert forged_callback(client, 9, "2001:db8:1:3::1") == 400  # the next /64: its own
    assert fake_wechat.calls(EXCHANGE) == 4


def test_over_the_total_bound_no_client_counter_is_written(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat
) -> None:
    """A refused callback costs the store nothing: a flood from many addresses past the
    total must not leave one counter per address behind."""
    wechat = make_wechat(login_rate_total=2)
    client = open_client(kind, wechat)
    addresses = [f"203.0.113.{i + 1}" for i in range(5)]
    statuses = [forged_callback(client, i, address) for i, address in enumerate(addresses)]
    assert statuses == [400] * 2 + [429] * 3
    counters = [wechat.store.get(wechat.tokens.keys.exchange_budget(a)) for a in addresses]
    assert counters == ["1", "1", None, None, None]


# -- the site-wide bound is WeChat's own (issue #20, item 13) -----------------------------


def test_a_campaign_past_3000_logins_a_minute_still_logs_visitors_in(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    """A page shared in a group brings ~50 first visits a second: the default total is
    WeChat's own limit on the exchange, 50,000 a minute (docs/wechat-protocol.md section
    5.3), so only what WeChat would refuse anyway is refused."""
    wechat = make_wechat()  # the default bounds
    client = open_client(kind, wechat)
    everyone = wechat.tokens.keys.exchange_budget("*")
    wechat.store.set(everyone, "3000", 60)  # this minute's campaign so far
    assert forged_callback(client, 0, "203.0.113.7") == 400  # exchanged, not refused
    wechat.store.set(everyone, "50000", 60)
    assert forged_callback(client, 1, "198.51.100.4") == 429
    assert fake_wechat.calls(EXCHANGE) == 1
