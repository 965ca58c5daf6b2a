"""A bounded load generator: threads, one keep-alive connection each, a fixed mix.

Every request has a timeout, every thread stops at the deadline, and only 127.0.0.1 is
ever contacted (the server under test and the FakeWeChat's authorize page).
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI "
    "Language/zh_CN"
)
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
ACCEPT_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
COOKIE_NAME = "wechat_session"
TIMEOUT = 10.0
ALLOWED_HOST = "127.0.0.1"

#: (kind, weight): 60% logged-in WeChat pages, 10% first visits, 30% non-WeChat traffic.
MIX = (
    ("wechat-logged-in", 60),
    ("wechat-first-visit", 10),
    ("non-wechat-page", 20),
    ("non-wechat-api", 10),
)


class Unexpected(Exception):
    """A response that is not what the example app must answer."""


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    server_errors: int = 0  # 5xx
    by_kind: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(message[:300])

    def merge(self, other: Stats) -> None:
        self.latencies += other.latencies
        self.requests += other.requests
        self.errors += other.errors
        self.server_errors += other.server_errors
        self.by_kind.update(other.by_kind)
        for message in other.first_errors:
            if len(self.first_errors) < 5:
                self.first_errors.append(message)


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def cookie(self) -> str | None:
        for header in self.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == COOKIE_NAME:
                return rest.split(";", 1)[0]
        return None


class Browser:
    """One client thread's connections: to the server under test and to the fake."""

    def __init__(self, server_host: str, stats: Stats) -> None:
        self.server_host = server_host
        self.stats = stats
        self._conns: dict[str, http.client.HTTPConnection] = {}

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def get(self, host: str, target: str, headers: dict[str, str], *, timed: bool = True) -> Reply:
        hostname = host.rsplit(":", 1)[0]
        if hostname != ALLOWED_HOST:
            raise Unexpected(f"refusing to contact {host}: only {ALLOWED_HOST} is allowed")
        conn = self._conns.get(host)
        if conn is None:
            conn = self._conns[host] = http.client.HTTPConnection(host, timeout=TIMEOUT)
        started = time.perf_counter()
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except Exception:
            conn.close()
            del self._conns[host]
            raise
        elapsed = time.perf_counter() - started
        if response.will_close:  # gunicorn's sync workers close after every response
            conn.close()
            del self._conns[host]
        if timed:
            self.stats.requests += 1
            self.stats.latencies.append(elapsed)
            if response.status >= 500:
                self.stats.server_errors += 1
        return Reply(response.status, response.headers, body)

    def page(self, target: str, ua: str, cookie: str | None = None) -> Reply:
        headers = {"User-Agent": ua, "Accept": ACCEPT_HTML}
        if cookie:
            headers["Cookie"] = f"{COOKIE_NAME}={cookie}"
        return self.get(self.server_host, target, headers)

    def login(self, openid: str | None = None) -> str:
        """A first visit in WeChat: page -> authorize -> callback -> page. The session cookie."""
        first = self.page("/", WECHAT_UA)
        if first.status != 302:
            raise Unexpected(f"first visit: {first.status}, expected a 302 to OAuth")
        pending = first.cookie()
        location = urlsplit(first.headers.get("Location", "").split("#", 1)[0])
        if not pending or location.path != "/connect/oauth2/authorize":
            raise Unexpected(f"first visit: bad redirect {first.headers.get('Location')!r}")
        fake_headers = {"User-Agent": WECHAT_UA, "Accept": ACCEPT_HTML}
        if openid:
            fake_headers["X-Fake-WeChat-OpenID"] = openid
        authorize = self.get(
            location.netloc, f"{location.path}?{location.query}", fake_headers, timed=False
        )
        back = urlsplit(authorize.headers.get("Location", ""))
        if authorize.status != 302 or back.netloc != self.server_host:
            raise Unexpected(f"authorize page: {authorize.status} to {back.geturl()!r}")
        callback = self.page(f"{back.path}?{back.query}", WECHAT_UA, pending)
        session = callback.cookie()
        if callback.status != 302 or not session:
            raise Unexpected(f"OAuth callback: {callback.status}, {callback.body[:120]!r}")
        landing = self.page(callback.headers.get("Location", "/"), WECHAT_UA, session)
        expect_page(landing, logged_in=True)
        return session


def expect_page(reply: Reply, *, logged_in: bool) -> None:
    """An example's page with a JS-SDK signature (and the user's openid when logged in)."""
    if reply.status != 200:
        raise Unexpected(f"page: {reply.status}, expected 200")
    if b'"signature":"' not in reply.body:
        raise Unexpected("page without a JS-SDK signature (wx-config is null)")
    if logged_in and b'<span id="openid"></span>' in reply.body:
        raise Unexpected("logged-in page shows no openid")


def one_visit(browser: Browser, kind: str, cookies: list[str], rng: random.Random) -> None:
    if kind == "wechat-logged-in":
        target = rng.choice(("/", "/second?from=home"))
        expect_page(browser.page(target, WECHAT_UA, rng.choice(cookies)), logged_in=True)
    elif kind == "wechat-first-visit":
        browser.login()
    elif kind == "non-wechat-page":
        expect_page(browser.page("/", CHROME_UA), logged_in=False)
    else:
        reply = browser.get(
            browser.server_host, "/api/me", {"User-Agent": CHROME_UA, "Accept": "application/json"}
        )
        if reply.status != 200 or b'"openid"' not in reply.body:
            raise Unexpected(f"/api/me: {reply.status} {reply.body[:80]!r}")


def run_load(server_host: str, cookies: list[str], *, seconds: float, clients: int) -> Stats:
    """Drive ``server_host`` with ``clients`` threads for ``seconds``; never longer than
    ``seconds`` plus one request timeout."""
    deadline = time.monotonic() + seconds
    stop = threading.Event()
    results: list[Stats] = []
    lock = threading.Lock()
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]

    def client(index: int) -> None:
        stats = Stats()
        rng = random.Random(index)
        browser = Browser(server_host, stats)
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                kind = rng.choices(kinds, weights)[0]
                try:
                    one_visit(browser, kind, cookies, rng)
                    stats.by_kind[kind] += 1
                except Unexpected as exc:
                    stats.error(f"{kind}: {exc}")
                except (OSError, http.client.HTTPException) as exc:
                    stats.error(f"{kind}: {type(exc).__name__}: {exc}")
        finally:
            browser.close()
            with lock:
                results.append(stats)

    threads = [
        threading.Thread(target=client, args=(i,), name=f"load-{i}", daemon=True)
        for i in range(clients)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()) + TIMEOUT + 5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=TIMEOUT + 5)
    total = Stats()
    for stats in results:
        total.merge(stats)
    total.elapsed = time.monotonic() - started
    return total


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
