"""What the security tests share: the checks every answer must pass, and the steps a
login takes.

The in-process client is ``tests.support.apps.AppClient``: over ``WeChatBrowser``'s
in-process transports it hands the WSGI and ASGI apps exactly the bytes a server would
(a request target with non-UTF-8 bytes, a Host header with CR/LF), which HTTP client
libraries refuse or normalise: the environ the way gunicorn builds it (``PATH_INFO``
percent-decoded and latin-1 decoded, ``RAW_URI`` as sent) and the scope the way uvicorn
does (``raw_path`` as sent, ``path`` percent-decoded).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from wechat_middleware import WeChat
from wechat_middleware.session import SessionCodec, session_salt
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA
from wechat_middleware.user import WeChatUser

from ..support.apps import Answer, AppClient, cookie_of

ORIGIN = "http://testserver"
CALLBACK = "/wechat/oauth-callback"
AUTHORIZE = "/connect/oauth2/authorize?"


# -- what every answer must satisfy -------------------------------------------------------


def check_answer(
    answer: Answer,
    *,
    open_base: str,
    origins: Sequence[str] = (ORIGIN,),
    unavailable: bool = False,
) -> None:
    """No 5xx, no CR/LF (or NUL) in any header, and a Location that stays on the site.

    ``origins`` are the origins this request may be sent to: the configured public URL,
    or the request's own scheme and host. ``unavailable`` allows the one 5xx the
    middleware means: 503 for a login while WeChat cannot be reached.
    """
    assert answer.status < 500 or (unavailable and answer.status == 503), answer
    for name, value in answer.header_list:
        assert not set("\r\n\0") & set(name + value), (name, value)
        if name.lower() == "location":
            check_location(value, open_base=open_base, origins=origins)


def check_location(location: str, *, open_base: str, origins: Sequence[str]) -> None:
    """A same-origin redirect, or WeChat's authorize page coming back to the same origin."""
    # Printable ASCII without spaces: no room for what browsers strip or reinterpret.
    assert all(0x20 < ord(c) < 0x7F for c in location), location
    assert "\\" not in location, location
    if location.startswith(open_base + AUTHORIZE):
        query = parse_qs(urlsplit(location.split("#", 1)[0]).query)
        assert [o + CALLBACK for o in origins].count(query["redirect_uri"][0]) == 1, location
        return
    if location.startswith("/"):
        assert not location.startswith("//"), location
        for origin in origins:
            resolved = urlsplit(urljoin(origin + CALLBACK, location))
            assert (resolved.scheme, resolved.netloc) == tuple(urlsplit(origin)[:2]), location
        return
    assert any(location.startswith(origin + "/") for origin in origins), location


def session_user(wechat: WeChat, cookie: str | None) -> WeChatUser | None:
    if not cookie:
        return None
    codec = SessionCodec(
        wechat.config.secret_key or "",
        wechat.config.session_max_age,
        app_id=wechat.config.app_key,
        clock=wechat.clock,  # the app's clock: a test may have moved it on
    )
    return codec.loads(cookie).user


class SignedLongAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return 1_000_000_000  # 2001: far beyond session_max_age


def signer(wechat: WeChat, key: str | None = None, salt: str | None = None, **kw: Any) -> Any:
    """What signs a session cookie, with another key, salt or signer if asked."""
    salt = salt or session_salt(wechat.config.app_id)
    return URLSafeTimedSerializer(key or wechat.config.secret_key or "", salt=salt, **kw)


def no_login(wechat: WeChat, answer: Answer, *jars: str | None) -> None:
    """Nobody is logged in by this answer, nor in any of the given cookie jars."""
    assert session_user(wechat, cookie_of(answer, wechat.config.session_cookie)) is None
    for jar in jars:
        assert session_user(wechat, jar) is None


def authorize(location: str, **headers: str) -> tuple[str, str]:
    """Play WeChat's authorize page, as WeChat's browser opens it (outside WeChat the page
    only says to open it there): the callback's origin and its path-and-query."""
    assert location.endswith("#wechat_redirect"), location
    headers = {"User-Agent": ANDROID_WECHAT_UA, **headers}
    reply = requests.get(location.split("#")[0], headers=headers, allow_redirects=False, timeout=5)
    assert reply.status_code == 302, reply.text
    back = urlsplit(reply.headers["Location"])
    assert back.path == CALLBACK
    return f"{back.scheme}://{back.netloc}", f"{back.path}?{back.query}"


def log_in(client: AppClient, start: str = "/page") -> str:
    """A real login through the fake from ``start``; the logged-in session cookie."""
    to_wechat = client.get(start)
    assert to_wechat.status == 302 and to_wechat.location
    back = client.get(authorize(to_wechat.location)[1])
    assert back.status == 302 and client.cookie
    assert session_user(client.wechat, client.cookie) is not None
    return client.cookie


def spent_code(fake: FakeWeChat, code: str | None = None) -> str:
    """``code`` (a new one if None) once someone else exchanged it: WeChat answers 40163
    to the second use."""
    code = code or fake.issue_code()
    params = {
        "appid": fake.app_id,
        "secret": fake.app_secret,
        "code": code,
        "grant_type": "authorization_code",
    }
    requests.get(f"{fake.api_base}/sns/oauth2/access_token", params=params, timeout=5)
    return code


def state_of(location: str) -> str:
    return parse_qs(urlsplit(location.split("#", 1)[0]).query)["state"][0]


def secrets_in(records: Iterable[Any], secrets: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(secret name, logger, text) for every log record that carries one of ``secrets``."""
    found = []
    for record in records:
        texts = [record.getMessage(), repr(record.args), record.exc_text or ""]
        if record.exc_info and record.exc_info[1] is not None:
            texts.append(repr(record.exc_info[1]))
        for text in texts:
            for name, secret in secrets.items():
                if secret and secret in text:
                    found.append((name, record.name, text[:300]))
    return found
