"""Logs never carry secrets.

A full login (``snsapi_userinfo``, so the user's OAuth token is used), a signed page,
an OAuth token refresh, then refreshes and a login that fail (WeChat rejecting the
token; WeChat unreachable, so the client's errors quote request URLs) run with every
logger at DEBUG. Nothing logged may contain the app secret, the server-check token,
the cookie-signing key, an access token, the jsapi ticket, an OAuth code, a user's
OAuth access or refresh token, or the session cookie.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

from wechat_middleware import WeChatError
from wechat_middleware.testing import FakeWeChat, Fault
from wechat_middleware.testing.user_agents import DESKTOP_UA

from ..conftest import MakeWeChat
from ..support.apps import app_client
from .helpers import authorize, secrets_in, session_user

TOKEN = "server-check-token"
TICKET = "cgi-bin/ticket/getticket"


@dataclass
class Run:
    records: list[logging.LogRecord]
    secrets: dict[str, str]
    errors: list[str] = field(default_factory=list)  # messages of exceptions raised to callers


def run_everything(
    kind: str, make_wechat: MakeWeChat, fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> Run:
    caplog.set_level(logging.DEBUG)  # the root logger: ours and every library's records
    # The classic token endpoint puts the app secret in the URL: the harder case.
    wechat = make_wechat(scope="snsapi_userinfo", token_endpoint="classic", timeout=0.5)
    wechat.oauth.keep_tokens = True  # the user's token is kept, then refreshed (step 2)
    secrets: dict[str, str] = {
        "app secret": fake.app_secret,
        "server-check token": TOKEN,
        "cookie-signing key": wechat.config.secret_key or "",
    }
    errors: list[str] = []
    with app_client(kind, wechat) as client, app_client(kind, wechat) as second:
        # 1. a full login, and a page signed for the logged-in user
        start = client.get("/page")
        assert start.location
        _, callback = authorize(start.location)
        secrets["OAuth code"] = parse_qs(urlsplit(callback).query)["code"][0]
        assert client.get(callback).status == 302
        user = session_user(wechat, client.cookie)
        assert user is not None and client.cookie
        secrets["session cookie"] = client.cookie
        page = client.get("/page?x=1")
        assert page.status == 200 and page.json()["signature"] is not None
        stored = wechat.store.get(wechat.keys.oauth_token(user.openid))
        assert stored is not None
        oauth = json.loads(stored)
        secrets["OAuth access token"] = oauth["access_token"]
        secrets["OAuth refresh token"] = oauth["refresh_token"]
        held = wechat.tokens.cached("access_token")
        assert held is not None
        secrets["access token"] = held.value
        secrets["jsapi ticket"] = fake.current_jsapi_ticket() or ""

        # 2. the user's OAuth token refreshed
        refreshed = wechat.oauth.refresh_access_token(user.openid)
        secrets["refreshed OAuth access token"] = refreshed["access_token"]

        # 3. a refresh WeChat refuses: the ticket call rejects the token, even a new one
        fake.advance(7100)
        fake.inject(TICKET, Fault("errcode", 40001, times=None))
        assert client.get("/page?x=2", ua=DESKTOP_UA).status == 200
        for n, value in enumerate(sorted(fake.valid_access_tokens())):
            secrets[f"newer access token {n}"] = value
        fake.clear_faults()

        # 4. WeChat unreachable: a login, a page and an OAuth refresh all fail
        start = second.get("/page")
        assert start.location
        _, callback = authorize(start.location)
        secrets["second OAuth code"] = parse_qs(urlsplit(callback).query)["code"][0]
        fake.stop()
        assert second.get(callback).status == 503
        fake.advance(7200)  # everything held is now due for renewal
        assert client.get("/page?x=3", ua=DESKTOP_UA).status == 200
        with pytest.raises(WeChatError) as info:
            wechat.oauth.refresh_access_token(user.openid)
        errors.append(str(info.value))
    assert all(secrets.values())
    return Run(list(caplog.records), secrets, errors)


def is_http_wire_log(record: logging.LogRecord) -> bool:
    """urllib3's DEBUG request lines (redacted by wechat_middleware.client)."""
    return record.name.startswith("urllib3")


def is_test_browser_log(record: logging.LogRecord) -> bool:
    """Starlette's TestClient (httpx) logging the URLs it requests: the browser's side."""
    return record.name.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2")


def test_no_log_record_carries_a_secret(
    kind: str,
    make_wechat: MakeWeChat,
    fake_wechat: FakeWeChat,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = run_everything(kind, make_wechat, fake_wechat, caplog)
    ours = [r for r in run.records if not (is_http_wire_log(r) or is_test_browser_log(r))]
    assert any(r.name == "wechat_middleware" and r.levelno >= logging.WARNING for r in ours)
    # The failures quoted request URLs, with the secret, codes and tokens redacted:
    assert any("secret=***" in r.getMessage() for r in ours)
    assert any("code=***" in r.getMessage() for r in ours)
    assert secrets_in(ours, run.secrets) == []
    for message in run.errors:  # what callers may log in turn
        assert [name for name, s in run.secrets.items() if s in message] == []


def test_http_client_debug_log_carries_no_secret(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    run = run_everything("wsgi", make_wechat, fake_wechat, caplog)
    wire = [r for r in run.records if is_http_wire_log(r)]
    assert wire  # the records exist at DEBUG...
    assert secrets_in(wire, run.secrets) == []  # ...and must not quote a secret
