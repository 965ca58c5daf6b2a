"""The signed session cookie and the OAuth state (docs/wechat-protocol.md section 5.1: state is up
to 128
bytes of [A-Za-z0-9])."""

from __future__ import annotations

import time

import pytest

from wechat_middleware.session import (
    LOOP_LIMIT,
    STATE_TTL,
    PendingLogin,
    Session,
    SessionCodec,
    cookie_value,
    make_state,
    valid_state,
)
from wechat_middleware.user import WeChatUser

codec = SessionCodec("a-secret-key-for-the-session-tests", max_age=3600, app_id="wx-test")


def test_state_is_32_alphanumerics_and_unpredictable() -> None:
    states = {make_state() for _ in range(1000)}
    assert len(states) == 1000
    assert all(len(s) == 32 and s.isascii() and s.isalnum() for s in states)


@pytest.mark.parametrize("state", ["", "a-b", "a" * 129, "中", "abc\n"])
def test_states_wechat_would_refuse_are_invalid(state: str) -> None:
    assert not valid_state(state)


def test_session_round_trips_through_the_cookie() -> None:
    user = WeChatUser(openid="o123", nickname="小明")
    # The login time is kept to the second, and must be recent: a login ends max_age after.
    session = Session(user=user, logged_in_at=float(int(time.time()))).with_login_started(
        "abc", "/next?x=1", 1000.0
    )
    assert codec.loads(codec.dumps(session)) == session


@pytest.mark.parametrize(
    "value", [None, "", "garbage", "a.b.c", "x" * 10_000, "eyJ1Ijp7fX0.aaaa.bbbb"]
)
def test_anything_not_signed_by_us_is_an_empty_session(value: str | None) -> None:
    assert codec.loads(value) == Session()


def test_cookie_signed_with_another_key_is_an_empty_session() -> None:
    other = SessionCodec("another-secret-key-entirely-000", max_age=3600, app_id="wx-test")
    assert codec.loads(other.dumps(Session(user=WeChatUser(openid="o1")))) == Session()


def test_a_huge_profile_is_slimmed_to_the_identity_to_fit_a_cookie() -> None:
    user = WeChatUser(openid="o-big", nickname="n" * 256, headimgurl="https://x/" + "a" * 2000)
    value = codec.dumps(Session(user=user))
    assert len(value) < 4096
    loaded = codec.loads(value).user
    assert loaded is not None and loaded.openid == "o-big"


def test_pending_login_expires_after_ten_minutes() -> None:
    session = Session().with_login_started("abc", "/", 1000.0)
    assert session.pending is not None
    assert not session.pending.expired(1000.0 + STATE_TTL - 1)
    assert session.pending.expired(1000.0 + STATE_TTL)
    assert session.pending.expired(999.0)  # from the future: forged


def test_login_attempts_are_capped_within_the_window() -> None:
    session = Session()
    for i in range(LOOP_LIMIT):
        assert not session.too_many_attempts(1000.0 + i)
        session = session.with_login_started(make_state(), "/", 1000.0 + i)
    assert session.too_many_attempts(1000.0 + LOOP_LIMIT)
    assert not session.too_many_attempts(1000.0 + 601)  # the window has passed


def test_logging_in_resets_the_attempts_and_the_pending_login() -> None:
    session = Session().with_login_started("abc", "/", 1000.0)
    assert session.logged_in(WeChatUser(openid="o1"), 2000.0) == Session(
        user=WeChatUser(openid="o1"), logged_in_at=2000.0
    )


def test_a_too_large_qr_login_session_keeps_a_valid_identity() -> None:
    """A desktop QR login (``snsapi_login``, ``via="qrconnect"``) slimmed for a cookie
    that would be too large still reads back as that login, not as a malformed one."""
    import secrets

    codec = SessionCodec("k" * 32, 3600, app_id="wx0123456789abcdef")
    user = WeChatUser(
        "o" * 28,
        "snsapi_login",
        nickname=secrets.token_urlsafe(180),
        headimgurl="https://thirdwx.qlogo.cn/" + secrets.token_urlsafe(1500),
        via="qrconnect",
    )
    done = PendingLogin("a" * 32, "/" + secrets.token_urlsafe(1500), 0.0, "qrconnect")
    kept = codec.loads(codec.dumps(Session(user=user, completed=done))).user
    assert kept == WeChatUser("o" * 28, "snsapi_login", via="qrconnect")


# -- how long a login lasts (issue #20 item 3) ------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_login_ends_max_age_after_it_however_often_the_cookie_is_signed_again() -> None:
    clock = Clock(1_000_000.0)
    codec = SessionCodec("k" * 32, max_age=3600, app_id="wx-test", clock=clock)
    value = codec.dumps(Session().logged_in(WeChatUser(openid="o1"), clock.now))
    for _ in range(2):
        clock.now += 1700
        session = codec.loads(value)
        assert session.user is not None
        # What a login started, or a bad callback, writes back: the same user.
        value = codec.dumps(session.with_login_started(make_state(), "/", clock.now))
    clock.now += 201  # 3601 s after the login, 1701 s after the last signature
    ended = codec.loads(value)
    assert ended.user is None and ended.logged_in_at == 0.0
    assert ended.pending is not None  # the login under way is this browser's still


def test_a_login_lasts_max_age_to_the_second() -> None:
    clock = Clock(1_000_000.0)
    codec = SessionCodec("k" * 32, max_age=3600, app_id="wx-test", clock=clock)
    value = codec.dumps(Session().logged_in(WeChatUser(openid="o1"), clock.now))
    clock.now += 1800
    value = codec.dumps(codec.loads(value).with_login_started(make_state(), "/", clock.now))
    clock.now = 1_003_600.0
    assert codec.loads(value).user is not None  # served from the verified-cookie cache
    clock.now += 1
    assert codec.loads(value).user is None  # the cache does not outlive the login


def test_a_cookie_without_a_login_time_counts_its_login_from_its_signature() -> None:
    """Cookies written before the login time was kept carry no ``"t"``: their login
    counts from the signature, as their lifetime did, and is written on with that
    time, so signing them again does not extend them either."""
    clock = Clock(1_000_000.0)
    codec = SessionCodec("k" * 32, max_age=3600, app_id="wx-test", clock=clock)
    old = codec.dumps(Session(user=WeChatUser(openid="o1")))  # no login time
    assert "t" not in codec._serializer.loads(old)
    clock.now += 3000
    session = codec.loads(old)
    assert session.user is not None and session.logged_in_at == 1_000_000.0
    renewed = codec.dumps(session.with_login_started(make_state(), "/", clock.now))
    clock.now += 601
    assert codec.loads(renewed).user is None


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("", ""),
        ("wechat_session=", ""),
        ("wechat_session=abc", "abc"),
        ("x=1; wechat_session=abc; y=2", "abc"),
        ("x=1,wechat_session=abc", "abc"),  # repeated Cookie headers joined by a WSGI server
        ("other_wechat_session=zzz; wechat_session=ok", "ok"),
        ("other_wechat_session=zzz", ""),  # a name that merely ends with ours
        ("xwechat_session=1", ""),
        (" wechat_session=a b", "a"),
        ("wechat_session= a", ""),
        ("a=b;  \twechat_session=v;", "v"),
        ("wechat_session=a;wechat_session=b", "a"),
    ],
)
def test_our_cookie_is_found_in_any_cookie_header(header: str, value: str) -> None:
    """RFC 6265 section 5.4: ``name=value`` pairs joined by "; "; servers join repeated
    headers by "; " (HTTP/2, ASGI) or "," (WSGI)."""
    assert cookie_value(header, "wechat_session=") == value
