"""Flights: one background call per key, waited on for a bounded time."""

from __future__ import annotations

import threading
import time

import pytest

from wechat_middleware import WeChatAPIError
from wechat_middleware.flights import Flights, fresh


def test_callers_meanwhile_share_the_one_call_in_flight() -> None:
    release = threading.Event()
    calls: list[str] = []

    def work(key: str) -> str:
        calls.append(key)
        release.wait(5)
        return key.upper()

    flights: Flights[str, str] = Flights(work, "test")
    first = flights.join("ticket")
    assert all(flights.join("ticket") is first for _ in range(10))
    other = flights.join("token")  # another key: a call of its own
    release.set()
    assert first.wait(5) and other.wait(5)
    assert (first.result(), other.result()) == ("TICKET", "TOKEN")
    assert sorted(calls) == ["ticket", "token"]
    assert flights.current("ticket") is None  # ended: the next join calls again
    assert flights.join("ticket").wait(5) and calls.count("ticket") == 2


def test_a_caller_waits_until_patience_after_the_call_began_not_after_it_came() -> None:
    release = threading.Event()
    flights: Flights[str, str] = Flights(lambda key: str(release.wait(10)), "test")
    flight = flights.join("ticket")
    began = time.monotonic()
    assert not flight.wait(0.3)
    assert time.monotonic() - began < 2.0
    late = time.monotonic()
    assert not flights.join("ticket").wait(0.3)  # 0.3 s after the start: over already
    assert time.monotonic() - late < 0.2
    release.set()


def test_an_error_is_raised_to_each_waiter_as_a_copy_of_its_own() -> None:
    def work(key: str) -> str:
        raise WeChatAPIError(45009, "quota")

    flights: Flights[str, str] = Flights(work, "test")
    flight = flights.join("ticket")
    assert flight.wait(5)
    raised = []
    for _ in range(2):
        with pytest.raises(WeChatAPIError) as caught:
            flight.result()
        raised.append(caught.value)
    assert raised[0] is not raised[1] and raised[0] is not flight.error
    assert [(e.errcode, e.errmsg, str(e)) for e in raised] == [
        (45009, "quota", str(flight.error))
    ] * 2


def test_a_call_in_flight_in_the_parent_is_not_joined_after_a_fork() -> None:
    release = threading.Event()
    flights: Flights[str, str] = Flights(lambda key: str(release.wait(10)), "test")
    parents = flights.join("ticket")
    parents.pid = -1  # as a forked child sees it: the object came along, the thread did not
    assert flights.current("ticket") is None
    childs = flights.join("ticket")
    assert childs is not parents
    release.set()
    assert childs.wait(5) and childs.result() == "True"


def test_fresh_copies_keep_the_type_message_and_attributes() -> None:
    error = WeChatAPIError(40001, "invalid credential")
    copy = fresh(error)
    assert type(copy) is WeChatAPIError and copy is not error
    assert (copy.errcode, copy.errmsg, str(copy)) == (40001, "invalid credential", str(error))
