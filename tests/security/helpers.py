"""What the security tests share: raw requests over both adapters, and the checks every
answer must pass.

``RawClient`` hands the WSGI and ASGI apps of ``tests/apps.py`` exactly the bytes a
server would (a request target with non-UTF-8 bytes, a Host header with CR/LF), which
HTTP client libraries refuse or normalise. It builds the environ the way gunicorn does
(``PATH_INFO`` percent-decoded and latin-1 decoded, ``RAW_URI`` as sent) and the scope
the way uvicorn does (``raw_path`` as sent, ``path`` percent-decoded).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_to_bytes, urljoin, urlsplit

import anyio
import requests

from wechat_middleware import WeChat
from wechat_middleware.session import SessionCodec
from wechat_middleware.user import WeChatUser

from ..apps import HTML, IOS_WECHAT, Answer, flask_app, starlette_app

ORIGIN = "http://testserver"
CALLBACK = "/wechat/oauth-callback"
AUTHORIZE = "/connect/oauth2/authorize?"
KINDS = ("wsgi", "asgi")


@dataclass
class RawAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def location(self) -> str | None:
        return self.header("Location")

    @property
    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]


class RawClient:
    """Byte-exact requests to either adapter, with a jar of the session cookie only."""

    def __init__(self, kind: str, wechat: WeChat) -> None:
        self.kind = kind
        self.wechat = wechat
        self.cookie_name = wechat.config.session_cookie
        self.cookie: str | None = None
        self._wsgi = flask_app(wechat) if kind == "wsgi" else None
        self._asgi = starlette_app(wechat) if kind == "asgi" else None

    def get(
        self,
        target: bytes | str,
        *,
        ua: bytes | str = IOS_WECHAT,
        accept: bytes | str = HTML,
        host: bytes | str | None = b"testserver",
        cookie: bytes | str | None = None,
        method: str = "GET",
        scheme: str = "http",
        client: str = "127.0.0.1",
        extra: Sequence[tuple[bytes, bytes]] = (),
    ) -> RawAnswer:
        """Send ``target`` (path and query, as on the request line) as given, from the
        peer address ``client``, with ``extra`` headers appended as they are."""
        headers: list[tuple[bytes, bytes]] = []
        if host is not None:
            headers.append((b"host", _bytes(host)))
        headers += [(b"user-agent", _bytes(ua)), (b"accept", _bytes(accept))]
        jar = cookie if cookie is not None else self.cookie
        if jar:
            value = _bytes(jar)
            headers.append(
                (b"cookie", value if b"=" in value else _bytes(self.cookie_name) + b"=" + value)
            )
        headers += list(extra)
        raw = _bytes(target)
        if self.kind == "wsgi":
            answer = self._call_wsgi(method, scheme, raw, headers, client)
        else:
            answer = anyio.run(self._call_asgi, method, scheme, raw, headers, client)
        for header in answer.set_cookies:
            name, _, rest = header.partition("=")
            if name == self.cookie_name:
                self.cookie = rest.split(";", 1)[0] or None
        return answer

    def _call_wsgi(
        self,
        method: str,
        scheme: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        client: str,
    ) -> RawAnswer:
        assert self._wsgi is not None
        path, _, query = target.partition(b"?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "RAW_URI": target.decode("latin-1"),
            "REMOTE_ADDR": client,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "443" if scheme == "https" else "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": "0",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scheme,
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in headers:
            key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
            text = value.decode("latin-1")
            # A WSGI server joins a repeated header with ", " (PEP 3333 leaves it open).
            environ[key] = f"{environ[key]}, {text}" if key in environ else text
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> Any:
            started.append((status, list(response_headers)))
            return lambda data: None

        result = self._wsgi(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, response_headers = started[-1]
        return RawAnswer(int(status.split(" ", 1)[0]), response_headers, body)

    async def _call_asgi(
        self,
        method: str,
        scheme: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        client: str,
    ) -> RawAnswer:
        assert self._asgi is not None
        raw_path, _, query = target.partition(b"?")
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": scheme,
            "path": unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "root_path": "",
            "query_string": query,
            "headers": headers,
            "client": (client, 50000),
            "server": ("testserver", 443 if scheme == "https" else 80),
        }
        messages: list[Mapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Mapping[str, Any]) -> None:
            messages.append(message)

        await self._asgi(scope, receive, send)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        return RawAnswer(
            start["status"],
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]],
            body,
        )


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


# -- what every answer must satisfy -------------------------------------------------------


def header_pairs(answer: Answer | RawAnswer) -> list[tuple[str, str]]:
    if isinstance(answer, RawAnswer):
        return list(answer.headers)
    return list(answer.headers.items()) + [("Set-Cookie", c) for c in answer.set_cookies]


def check_answer(
    answer: Answer | RawAnswer,
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
    for name, value in header_pairs(answer):
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
        wechat.config.secret_key or "", wechat.config.session_max_age, app_id=wechat.config.app_id
    )
    return codec.loads(cookie).user


def cookie_of(answer: Answer | RawAnswer, name: str) -> str | None:
    for value in answer.set_cookies:
        key, _, rest = value.partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    return None


def no_login(wechat: WeChat, answer: Answer | RawAnswer, *jars: str | None) -> None:
    """Nobody is logged in by this answer, nor in any of the given cookie jars."""
    assert session_user(wechat, cookie_of(answer, wechat.config.session_cookie)) is None
    for jar in jars:
        assert session_user(wechat, jar) is None


def authorize(location: str, **headers: str) -> tuple[str, str]:
    """Play WeChat's authorize page: the callback's origin and its path-and-query."""
    assert location.endswith("#wechat_redirect"), location
    reply = requests.get(location.split("#")[0], headers=headers, allow_redirects=False, timeout=5)
    assert reply.status_code == 302, reply.text
    back = urlsplit(reply.headers["Location"])
    assert back.path == CALLBACK
    return f"{back.scheme}://{back.netloc}", f"{back.path}?{back.query}"


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
