"""The session cookie: bound to one app, and never larger than the middleware reads.

SECURITY.md findings 6 and 7. The cookie is signed with ``WECHAT_SECRET_KEY`` and a
salt naming the app id, so a second app that shares the key (a staging copy, a
sibling app) does not accept the first app's logins; and the middleware never writes
a cookie over ``MAX_COOKIE_BYTES``, the size it refuses to read back.
"""

from __future__ import annotations

import random
import secrets
from urllib.parse import quote

import pytest

from wechat_middleware.session import (
    MAX_COOKIE_BYTES,
    PendingLogin,
    Session,
    SessionCodec,
)

from ..conftest import MakeWeChat, OpenClient
from ..support.apps import ALL_KINDS
from .helpers import authorize, cookie_of, session_user

KEY = "one-secret-key-shared-by-two-apps-0123456789"


@pytest.mark.parametrize("kind", ALL_KINDS)
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


@pytest.mark.parametrize("kind", ALL_KINDS)
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
