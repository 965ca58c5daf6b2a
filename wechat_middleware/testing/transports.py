# Over 300 lines as one job: three transports behind one interface, byte-exact.
"""How :class:`~.browser.WeChatBrowser` reaches an app: one request in, one answer out.

- :class:`Network`: real sockets, through a pooled ``requests.Session``.
- :class:`WSGIApp`: a WSGI app in-process, handed the environ gunicorn builds.
- :class:`ASGIApp`: an ASGI app in-process, handed the scope uvicorn builds, on an event
  loop of its own with the app's lifespan running from start to :meth:`ASGIApp.close`.

The in-process transports take the request target and header values as bytes and put
them into the environ or scope exactly as those servers do (``PATH_INFO`` and ``path``
percent-decoded, ``RAW_URI`` and ``raw_path`` as sent, values latin-1 decoded for WSGI),
so a test can send what HTTP client libraries refuse or normalise: non-UTF-8 targets,
a Host header with CR/LF, a missing Host. Only the standard library is used here.
Transports keep no cookies: the browser does.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import requests

__all__ = ["ASGIApp", "Answer", "Network", "Transport", "WSGIApp"]

Headers = list[tuple[str, bytes]]
# The ASGI and WSGI callables, typed loosely: the kit must not need starlette or werkzeug.
ASGICallable = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]
WSGICallable = Callable[[dict[str, Any], Any], Iterable[bytes]]
CLIENT_ADDRESS = ("127.0.0.1", 50000)


@dataclass(frozen=True)
class Outgoing:
    """One request to send: ``url`` is absolute; ``target`` is its path and query as on
    the request line; ``client`` is the peer address an in-process app is told (the
    network's is real)."""

    method: str
    url: str
    target: bytes
    headers: Headers
    body: bytes | None
    client: tuple[str, int] = CLIENT_ADDRESS


@dataclass(frozen=True)
class Answer:
    """What came back: the status, every header in order (repeats kept) and the body."""

    status: int
    headers: list[tuple[str, str]]
    content: bytes


class Transport(Protocol):
    """Sends one request and returns the answer; keeps no cookies (the browser does)."""

    def send(self, out: Outgoing) -> Answer: ...

    def close(self) -> None: ...


class Network:
    """Real sockets, through a pooled ``requests.Session`` (``url`` is what is sent)."""

    def __init__(self, timeout: float) -> None:
        self.session = requests.Session()
        self.timeout = timeout

    def send(self, out: Outgoing) -> Answer:
        reply = self.session.request(
            out.method,
            out.url,
            headers=dict(out.headers),
            data=out.body,
            allow_redirects=False,
            timeout=self.timeout,
        )
        self.session.cookies.clear()  # the browser's own jar is the only one
        return Answer(reply.status_code, list(reply.headers.items()), reply.content)

    def close(self) -> None:
        self.session.close()


class _Where(NamedTuple):
    """The scheme, the host and port the app's server listens on, and the target's parts."""

    scheme: str
    host: str
    port: int
    path: bytes
    query: bytes


def _where(url: str, target: bytes) -> _Where:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    path, _, query = target.partition(b"?")
    return _Where(scheme, parts.hostname or "testserver", port, path, query)


class WSGIApp:
    """An in-process WSGI app, handed the environ gunicorn builds from these bytes."""

    def __init__(self, app: WSGICallable) -> None:
        self.app = app

    def send(self, out: Outgoing) -> Answer:
        where = _where(out.url, out.target)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": out.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(where.path).decode("latin-1"),
            "QUERY_STRING": where.query.decode("latin-1"),
            "RAW_URI": out.target.decode("latin-1"),
            "SERVER_NAME": where.host,
            "SERVER_PORT": str(where.port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": out.client[0],
            "REMOTE_PORT": str(out.client[1]),
            "CONTENT_LENGTH": "0",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": where.scheme,
            "wsgi.input": io.BytesIO(out.body or b""),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in out.headers:
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            text = value.decode("latin-1")
            known = environ.get(key) if key.startswith("HTTP_") else None
            environ[key] = text if known is None else f"{known},{text}"  # repeats, as gunicorn
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> Any:
            started.append((status, list(response_headers)))
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, response_headers = started[-1]
        return Answer(int(status.split(" ", 1)[0]), response_headers, content)

    def close(self) -> None:
        """Nothing to release: the app is only called."""


class ASGIApp:
    """An in-process ASGI app on an event loop thread of its own, lifespan included.

    As uvicorn's ``lifespan="auto"``: an app that raises on the lifespan scope before
    answering does not do lifespan, and is served anyway; one that reports the startup
    failed is not.
    """

    def __init__(self, app: ASGICallable) -> None:
        self.app = app
        self.state: dict[str, Any] = {}  # the lifespan's state, copied into every request
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="asgi-app", daemon=True)
        self._thread.start()
        self._lifespan: asyncio.Task[None] | None = None
        self._to_app: asyncio.Queue[dict[str, Any]] | None = None
        self._from_app: asyncio.Queue[dict[str, Any] | None] | None = None
        try:
            self._run(self._startup())
        except BaseException:
            self._stop_loop()
            raise

    def _run(self, coroutine: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()  # type: ignore[arg-type]

    async def _startup(self) -> None:
        to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        from_app: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}

        async def send(message: dict[str, Any]) -> None:
            await from_app.put(message)

        async def lifespan() -> None:
            try:
                await self.app(scope, to_app.get, send)
            finally:
                await from_app.put(None)  # the app returned (or raised): no more messages

        task = asyncio.get_running_loop().create_task(lifespan())
        await to_app.put({"type": "lifespan.startup"})
        message = await from_app.get()
        if message is None:  # it does not do lifespan
            await asyncio.gather(task, return_exceptions=True)
            return
        if message["type"] == "lifespan.startup.failed":
            await asyncio.gather(task, return_exceptions=True)
            raise RuntimeError(f"the app's startup failed: {message.get('message', '')}")
        self._lifespan, self._to_app, self._from_app = task, to_app, from_app

    async def _shutdown(self) -> None:
        if self._lifespan is None or self._to_app is None or self._from_app is None:
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._from_app.get()
        await asyncio.gather(self._lifespan, return_exceptions=True)
        self._lifespan = None

    def send(self, out: Outgoing) -> Answer:
        where = _where(out.url, out.target)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": out.method,
            "scheme": where.scheme,
            "path": unquote(where.path.decode("latin-1")),
            "raw_path": where.path,
            "root_path": "",
            "query_string": where.query,
            "headers": [(name.lower().encode("latin-1"), value) for name, value in out.headers],
            "client": out.client,
            "server": (where.host, where.port),
            "state": dict(self.state),
        }
        answer: Answer = self._run(self._call(scope, out.body or b""))
        return answer

    async def _call(self, scope: dict[str, Any], body: bytes) -> Answer:
        messages: list[dict[str, Any]] = []
        finished = asyncio.Event()
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()  # the client goes away once it has the whole answer
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished.set()

        try:
            await self.app(scope, receive, send)
        finally:
            finished.set()
        start = next(m for m in messages if m["type"] == "http.response.start")
        content = b"".join(
            m.get("body", b"") for m in messages if m["type"] == "http.response.body"
        )
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])]
        return Answer(start["status"], headers, content)

    def close(self) -> None:
        """Run the app's shutdown, then end the loop and its thread."""
        if self._loop.is_closed():
            return
        try:
            self._run(self._shutdown())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
