"""The session cookie: bound to one app, never larger than the middleware reads, and
never a login for longer than ``session_max_age`` after the login.

SECURITY.md findings 6 and 7. The cookie is signed with ``WECHAT_SECRET_KEY`` and a
salt naming the app id, so a second app that shares the key (a staging copy, a
sibling app) does not accept the first app's logins; and the middleware never writes
a cookie over ``MAX_COOKIE_BYTES``, the size it refuses to read back.

Issue #20 item 3: the middleware signs the cookie again whenever it writes it (a login
started, a bad callback), each time with a fresh timestamp. The login's own time goes
with it, so a copied cookie replayed now and then still ends ``session_max_age``
after the login.
"""

from __future__ import annotations

import random
import secrets
from urllib.parse import quote

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from wechat_middleware.session import (
    MAX_COOKIE_BYTES,
    PendingLogin,
    Session,
    SessionCodec,
    session_salt,
)
from wechat_middleware.testing import FakeWeChat

from ..conftest import MakeWeChat, OpenClient
from ..support.apps import AppClient
from .helpers import CALLBACK, authorize, cookie_of, log_in, session_user

KEY = "one-secret-key-shared-by-two-apps-0123456789"


def test_a_cookie_of_another_app_with_the_same_key_is_not_a_login(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat
) -> None:
    first = open_client(kind, make_wechat(secret_key=KEY))
    start = first.get("/page")
    assert start.location
    back = first.get(authorize(start.location)[1])
    assert back.status == 302 and session_user(first.wechat, first.cookie) is not None

    second = open_client(kind, make_wechat(secret_key=KEY, app_id="wx9999999999999999"))
    page = second.get("/page", cookie=first.cookie)
    assert page.status == 302  # not logged in: sent to WeChat
    assert session_user(second.wechat, first.cookie) is None


def test_the_codec_refuses_a_cookie_signed_for_another_app_id() -> None:
    mine = SessionCodec(KEY, 3600, app_id="wx-one")
    theirs = SessionCodec(KEY, 3600, app_id="wx-two")
    value = theirs.dumps(Session(pending=PendingLogin("a" * 32, "/", 0.0)))
    assert mine.loads(value) == Session()


def test_a_login_link_whose_next_grows_when_encoded_still_logs_in(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat
) -> None:
    """2,000 random CJK characters, each encoding to nine: within the raw limit, far over
    it encoded (and random, so compression cannot save it). The cookie written must be
    readable, and the login completes (back to "/")."""
    client = open_client(kind, make_wechat())
    rng = random.Random(7)
    next_path = "/" + "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(2000))
    start = client.get("/wechat/login?next=" + quote(next_path))
    assert start.status == 302 and start.location
    written = cookie_of(start, client.cookie_name)
    assert written is not None and len(written) <= MAX_COOKIE_BYTES
    back = client.get(authorize(start.location)[1])
    assert back.status == 302 and back.location == "/"
    assert session_user(client.wechat, client.cookie) is not None


def test_the_codec_never_writes_a_cookie_it_would_not_read() -> None:
    codec = SessionCodec(KEY, 3600, app_id="wx-one")
    # Random text: itsdangerous compresses, so a repetitive path would stay small.
    huge = Session(pending=PendingLogin("b" * 32, "/" + secrets.token_urlsafe(6000), 100.0))
    value = codec.dumps(huge)
    assert len(value) <= MAX_COOKIE_BYTES
    pending = codec.loads(value).pending
    assert pending is not None and (pending.state, pending.next) == ("b" * 32, "/")


# -- the lifetime of a login (issue #20 item 3) ----------------------------------------------

HOUR = 3600


def renew(client: AppClient, cookie: str, how: str) -> str:
    """Have the middleware sign ``cookie`` again, as a holder of a copy can."""
    start = client.get("/wechat/login?next=/", cookie=cookie)  # keeps the user
    assert start.status == 302 and client.cookie and client.cookie != cookie
    if how == "bad-callback":  # a login started, then a callback with a forged state
        failed = client.get(f"{CALLBACK}?code=c0de&state={'f' * 32}")
        assert failed.status == 400
    return client.cookie


@pytest.mark.parametrize("how", ["login-path", "bad-callback"])
def test_a_copied_cookie_renewed_by_the_middleware_ends_max_age_after_the_login(
    open_client: OpenClient,
    kind: str,
    how: str,
    make_wechat: MakeWeChat,
    fake_wechat: FakeWeChat,
) -> None:
    client = open_client(kind, make_wechat(session_max_age=HOUR))
    first = log_in(client)
    copy = first
    for _ in range(2):  # every 29 minutes the copy is sent to be signed again
        fake_wechat.advance(HOUR / 2 - 60)
        assert session_user(client.wechat, copy) is not None
        copy = renew(client, copy, how)
    fake_wechat.advance(HOUR / 2 - 60)
    # 87 minutes after the login: the copy was signed 29 minutes ago, the original 87.
    assert session_user(client.wechat, first) is None
    assert client.get("/page", cookie=first).status == 302  # sent to WeChat: no user
    assert session_user(client.wechat, copy) is None
    assert client.get("/page", cookie=copy).status == 302


def test_a_login_kept_within_max_age_stays_logged_in(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    client = open_client(kind, make_wechat(session_max_age=HOUR))
    cookie = log_in(client)
    fake_wechat.advance(HOUR - 120)
    cookie = renew(client, cookie, "login-path")
    page = client.get("/page", cookie=cookie)
    assert page.status == 200 and page.json()["openid"]


def test_a_cookie_without_a_login_time_counts_from_its_signature_and_renewing_keeps_it(
    open_client: OpenClient, kind: str, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    """A cookie written before the login time was kept (no ``"t"``): its login counts
    from its signature, as its lifetime did; signing it again carries that time on."""
    wechat = make_wechat(session_max_age=HOUR)
    client = open_client(kind, wechat)

    class OnTheFakesClock(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(fake_wechat.now())

    old = URLSafeTimedSerializer(
        wechat.config.secret_key or "",
        salt=session_salt(wechat.config.app_key),
        signer=OnTheFakesClock,
    ).dumps({"u": {"openid": "oOldCookieOldCookieOldCooki", "scope": "snsapi_base"}})
    page = client.get("/page", cookie=old)
    assert page.status == 200 and page.json()["openid"]  # no one is logged out by the upgrade
    fake_wechat.advance(HOUR - 120)
    renewed = renew(client, old, "login-path")
    fake_wechat.advance(240)
    assert session_user(wechat, renewed) is None
    assert client.get("/page", cookie=renewed).status == 302
