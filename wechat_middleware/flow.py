"""What to do with one request: the middleware's whole protocol, shared by both adapters.

``Flow.decide`` is pure: it reads a small immutable view of the request and returns an
action (respond now, complete a login, or pass through to the app). The WSGI and ASGI
adapters only build the view and carry out the action, so a test of any decision needs
no server. The one step that needs I/O, exchanging an OAuth ``code`` with WeChat, is
``Flow.complete_login``: the WSGI adapter calls it inline, the ASGI adapter in a thread.
"""

from __future__ import annotations

import hmac
import html
import logging
import re
import uuid
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote

from .context import WeChatContext
from .errors import (
    ConfigError,
    InvalidCodeError,
    StoreError,
    SystemBusyError,
    WeChatError,
    WeChatUnavailableError,
)
from .limits import ExchangeLimits
from .session import EMPTY, Session, SessionCodec, make_state, valid_state

if TYPE_CHECKING:
    from .wechat import WeChat

log = logging.getLogger("wechat_middleware")

Headers = list[tuple[str, str]]

MAX_QUERY_FIELDS = 32
MAX_CODE_LENGTH = 512
MAX_NEXT_LENGTH = 2048
MAX_CLOCK_SKEW = 300  # seconds a server-check timestamp may differ from our clock
_PORT = r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5]?[0-9]{1,4}))?"
_HOST_RE = re.compile(rf"[A-Za-z0-9.\-]{{1,253}}{_PORT}|\[[0-9A-Fa-f:.]{{2,45}}\]{_PORT}")
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_COOKIE_SEPARATORS = re.compile("[;,]")
_NO_STORE = ("Cache-Control", "no-store")


@dataclass(slots=True)
class RequestView:
    """The few facts about a request the decision needs, as the server received them.

    Treat it as read-only (not frozen only because frozen dataclasses are slower to
    build, and one is built per request)."""

    method: str
    scheme: str
    host: str
    path: str  # decoded, for routing
    raw_path: str  # as sent (percent-encoded), for rebuilding the browser's URL
    query: str  # raw query string as sent, without "?"
    user_agent: str = ""
    accept: str = ""
    cookie: str = ""
    requested_with: str = ""
    client: str = ""  # the peer's address (behind a proxy: as ProxyFix/--proxy-headers set it)


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the request ourselves; the app is not called."""

    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class CompleteLogin:
    """A valid OAuth callback: exchange ``code`` (I/O) with ``Flow.complete_login``."""

    code: str
    state: str
    next_url: str
    session: Session
    secure: bool
    client: str = ""


@dataclass(frozen=True, slots=True)
class ClaimServerCheck:
    """A correctly signed server check: claim its ``timestamp``+``nonce`` once in the
    store (I/O, ``Flow.perform``), then carry out ``then``; a replay gets 403."""

    key: str
    then: Respond | PassThrough


@dataclass(frozen=True, slots=True)
class PassThrough:
    """Call the app with ``context`` as ``request.wechat``.

    ``wants_html`` tells the ASGI adapter the page will likely read the signature, so
    it may fetch a stale ticket in a worker thread before the app runs.
    """

    context: WeChatContext
    wants_html: bool


IOStep = CompleteLogin | ClaimServerCheck
Action = Respond | CompleteLogin | ClaimServerCheck | PassThrough


class Flow:
    """The decision for every request, configured once per middleware."""

    def __init__(self, wechat: WeChat) -> None:
        config = wechat.config
        if not config.secret_key:
            raise ConfigError(
                "WECHAT_SECRET_KEY is required by the middleware: it signs the session "
                "cookie that keeps the OAuth user (use a long random value)"
            )
        self.wechat = wechat
        self.config = config
        self.clock = wechat.clock
        self.codec = SessionCodec(config.secret_key, config.session_max_age, app_id=config.app_id)
        self.limits = ExchangeLimits(
            wechat.store,
            wechat.keys,
            per_client=config.login_rate_per_client,
            total=config.login_rate_total,
        )
        self._cookie_prefix = config.session_cookie + "="
        self._exact = {config.verify_path, config.callback_path, config.login_path}

    # -- the decision (pure) ---------------------------------------------------

    def decide(self, view: RequestView) -> Action:
        config = self.config
        path = view.path
        if path in self._exact:
            if path == config.verify_path:
                return self._verify(view)
            if path == config.callback_path:
                return self._callback(view, self._session(view))
            return self._login(view, self._session(view))
        session = self._session(view)
        ua = view.user_agent
        is_wechat = "MicroMessenger" in ua and (config.include_wxwork or "wxwork" not in ua)
        wants_html = view.method in ("GET", "HEAD") and _accepts_html(view)
        if (
            session.user is None
            and wants_html
            and (is_wechat or config.login_required_outside_wechat)
            and not path.startswith(config.exclude)
            and session.anonymous_until <= self.clock()
        ):
            if not session.too_many_attempts(self.clock()):
                return self._start_login(view, session, _local_url(view))
            log.warning("not sending this browser to WeChat OAuth again: too many attempts")
        context = WeChatContext(
            self.wechat,
            page_url=partial(self._page_url, view),
            user=session.user,
            is_wechat_browser=is_wechat,
        )
        return PassThrough(context, wants_html)

    def _session(self, view: RequestView) -> Session:
        raw = _cookie_value(view.cookie, self._cookie_prefix)
        return self.codec.loads(raw) if raw else EMPTY

    def _verify(self, view: RequestView) -> Action:
        """WeChat's server check (GET) and authenticated message pushes (POST)."""
        if view.method not in ("GET", "HEAD", "POST"):
            return _text(405, "method not allowed", [("Allow", "GET, POST")])
        query = _parse_query(view.query)
        fields = {}
        for name in ("signature", "timestamp", "nonce"):
            values = query.get(name) if query is not None else None
            if not values or len(values) != 1:
                return _text(403, "invalid signature")
            fields[name] = values[0]
        if not self.wechat.jssdk.verify_signature(fields):
            log.warning("rejected a server-check request with an invalid signature")
            return _text(403, "invalid signature")
        if not self._fresh_timestamp(fields["timestamp"]):
            log.warning(
                "rejected a correctly signed server-check request: its timestamp is more than "
                "%d s from this server's clock (clock skew, or a replayed request)",
                MAX_CLOCK_SKEW,
            )
            return _text(403, "timestamp too old (clock skew?)")
        then: Respond | PassThrough
        if view.method == "POST":
            then = PassThrough(
                WeChatContext(self.wechat, page_url="", user=None, is_wechat_browser=False),
                wants_html=False,
            )
        else:
            assert query is not None
            echostr = query.get("echostr", [""])
            if len(echostr) != 1 or len(echostr[0]) > 1024:
                return _text(400, "bad echostr")
            then = _text(200, echostr[0])
        key = self.wechat.keys.used_server_check(fields["timestamp"], fields["nonce"])
        return ClaimServerCheck(key, then)

    def _fresh_timestamp(self, timestamp: str) -> bool:
        return fresh_timestamp(timestamp, self.clock())

    def _callback(self, view: RequestView, session: Session) -> Action:
        """Back from WeChat's authorize page with ``code`` and ``state``."""
        if view.method != "GET":
            return _text(405, "method not allowed", [("Allow", "GET")])
        secure = self._secure(view)
        query = _parse_query(view.query) or {}
        state = _single(query, "state")
        code = _single(query, "code")
        pending = session.pending
        if (
            pending is None
            or state is None
            or not valid_state(state)
            or not hmac.compare_digest(state.encode(), pending.state.encode())
            or pending.expired(self.clock())
        ):
            log.warning("OAuth callback with a missing, forged, replayed or expired state")
            cleared = session.without_pending() if pending is not None else None
            return self._page(
                400,
                "This login link is invalid or has expired.",
                pending.next if pending else "/",
                cleared,
                secure,
            )
        if code is None:
            log.info("the user declined the OAuth consent")
            declined = session.without_pending()
            declined = Session(
                user=declined.user,
                attempts=declined.attempts,
                anonymous_until=self.clock() + 600,
            )
            return self._page(403, "Login was cancelled.", pending.next, declined, secure)
        if len(code) > MAX_CODE_LENGTH or not code.isascii() or not code.isprintable():
            log.warning("OAuth callback with a malformed code")
            return self._page(
                400, "This login link is invalid.", pending.next, session.without_pending(), secure
            )
        return CompleteLogin(
            code, state, pending.next, session.without_pending(), secure, view.client
        )

    def _login(self, view: RequestView, session: Session) -> Action:
        """``GET {login_path}?next=/page``: start a login explicitly (``login_url()``)."""
        if view.method not in ("GET", "HEAD"):
            return _text(405, "method not allowed", [("Allow", "GET")])
        query = _parse_query(view.query) or {}
        return self._start_login(view, session, safe_next(_single(query, "next") or "/"))

    def _start_login(self, view: RequestView, session: Session, next_url: str) -> Action:
        base = self._base_url(view)
        if base is None:
            return _text(400, "bad Host header")
        state = make_state()
        started = session.with_login_started(state, next_url, self.clock())
        location = self.wechat.client.authorize_url(
            base + self.config.callback_path, self.config.scope, state
        )
        headers = [("Location", location), _NO_STORE]
        headers.append(self._set_cookie(started, self._secure(view)))
        return Respond(302, headers, b"")

    # -- the I/O steps (the store and WeChat) ----------------------------------------

    def perform(self, step: IOStep) -> Respond | PassThrough:
        """Carry out an action that needs the store or WeChat (ASGI: in a worker thread)."""
        if isinstance(step, CompleteLogin):
            return self.complete_login(step)
        return self.claim_server_check(step)

    def claim_server_check(self, step: ClaimServerCheck) -> Respond | PassThrough:
        """Accept each signed ``timestamp``+``nonce`` once: a captured URL cannot be
        replayed within the clock-skew window (with another body, or another echostr)."""
        try:
            fresh = self.wechat.store.acquire_lock(
                step.key, uuid.uuid4().hex, 2 * MAX_CLOCK_SKEW + 60
            )
        except StoreError as exc:
            log.warning("cannot check a server-check request for replay: %s", exc)
            return _text(503, "store unavailable")
        if not fresh:
            log.warning("rejected a replayed server-check request (timestamp and nonce reused)")
            return _text(403, "replayed request")
        return step.then

    def complete_login(self, action: CompleteLogin) -> Respond:
        """Claim the state once, exchange the code, and send the browser back."""
        session = action.session
        try:
            if not self.limits.allow(action.client):
                log.warning(
                    "OAuth code exchanges over the limit (%d a minute per client, %d in all); "
                    "answering 429 without calling WeChat",
                    self.limits.per_client,
                    self.limits.total,
                )
                return self._page(
                    429,
                    "Too many logins right now. Please try again in a minute.",
                    action.next_url,
                    None,
                    action.secure,
                    extra=[("Retry-After", "60")],
                )
            if not self.wechat.store.acquire_lock(
                self.wechat.tokens.keys.used_state(action.state), uuid.uuid4().hex, 600
            ):
                log.warning("OAuth callback replayed: its state was already used")
                return self._page(
                    400,
                    "This login link was already used.",
                    action.next_url,
                    session,
                    action.secure,
                )
            result = self.wechat.oauth.login(action.code)
        except InvalidCodeError as exc:
            log.warning("OAuth code rejected by WeChat (%s)", exc.errcode)
            return self._page(
                400,
                "This login link was already used or has expired.",
                action.next_url,
                session,
                action.secure,
            )
        except (WeChatUnavailableError, SystemBusyError, StoreError) as exc:
            log.warning("login failed, WeChat or the store is unavailable: %s", exc)
            return self._page(
                503,
                "WeChat login is unavailable right now.",
                action.next_url,
                session,
                action.secure,
            )
        except WeChatError as exc:
            log.warning("login failed: %s", exc)
            return self._page(
                502, "WeChat refused the login.", action.next_url, session, action.secure
            )
        if result.user is None:
            # A snapshot-page visitor has a virtual openid and no profile until they tap
            # through: do not log them in, and do not send them to OAuth again.
            session = Session(attempts=session.attempts, anonymous_until=self.clock() + 600)
        else:
            session = session.logged_in(result.user)
        return Respond(
            302,
            [
                ("Location", self._location(action.next_url)),
                _NO_STORE,
                self._set_cookie(session, action.secure),
            ],
            b"",
        )

    # -- helpers ---------------------------------------------------------------------

    def _base_url(self, view: RequestView) -> str | None:
        """The scheme and host the browser sees (``public_url`` when configured)."""
        if self.config.public_url:
            return self.config.public_url
        if not _HOST_RE.fullmatch(view.host):
            return None
        return f"{view.scheme}://{view.host}"

    def _page_url(self, view: RequestView) -> str:
        base = self._base_url(view) or "http://invalid-host"
        query = view.query
        if query and not query.isascii():
            query = quote(query.encode("latin-1", "replace"), safe=_URL_SAFE)
        return f"{base}{view.raw_path}?{query}" if query else f"{base}{view.raw_path}"

    def _secure(self, view: RequestView) -> bool:
        base = self.config.public_url
        return base.startswith("https:") if base else view.scheme == "https"

    def _location(self, next_url: str) -> str:
        # ``next_url`` was made safe when the login started; it is checked again here,
        # where it becomes a header, so no Location ever rests on what a cookie held.
        return (self.config.public_url or "") + safe_next(next_url)

    def _set_cookie(self, session: Session, secure: bool) -> tuple[str, str]:
        value = self.codec.dumps(session)
        attrs = f"Path=/; Max-Age={self.config.session_max_age}; HttpOnly; SameSite=Lax"
        if secure:
            attrs += "; Secure"
        return ("Set-Cookie", f"{self.config.session_cookie}={value}; {attrs}")

    def _page(
        self,
        status: int,
        message: str,
        next_url: str,
        session: Session | None,
        secure: bool,
        extra: Headers | None = None,
    ) -> Respond:
        """A small HTML page that explains and links back, never redirecting by itself."""
        link = html.escape(self._location(next_url), quote=True)
        body = (
            "<!doctype html><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(message)}</title><p>{html.escape(message)}</p>"
            f'<p><a href="{link}">Continue</a></p>'
        ).encode()
        headers: Headers = [("Content-Type", "text/html; charset=utf-8"), _NO_STORE]
        if session is not None:
            headers.append(self._set_cookie(session, secure))
        return Respond(status, headers + (extra or []), body)


def safe_next(raw: str) -> str:
    """A same-origin path to return to; ``/`` for anything that could leave the site.

    Collapsing leading slashes defeats ``//evil.example`` (a scheme-relative URL), and
    backslashes, control characters, lone surrogates (which cannot be encoded, so
    ``quote`` would raise) and over-long values are refused outright.
    """
    if (
        not raw.startswith("/")
        or len(raw) > MAX_NEXT_LENGTH
        or "\\" in raw
        or any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in raw)
    ):
        return "/"
    quoted = "/" + quote(raw.lstrip("/"), safe=_URL_SAFE)
    # Percent-encoding can triple the length: the limit holds for what is stored.
    return quoted if len(quoted) <= MAX_NEXT_LENGTH else "/"


def _local_url(view: RequestView) -> str:
    raw = f"{view.raw_path}?{view.query}" if view.query else view.raw_path
    return safe_next(raw if len(raw) <= MAX_NEXT_LENGTH else view.raw_path)


def fresh_timestamp(timestamp: str, now: float) -> bool:
    """Whether a server-check ``timestamp`` is within ``MAX_CLOCK_SKEW`` of ``now``."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    return abs(int(timestamp) - now) <= MAX_CLOCK_SKEW


def _accepts_html(view: RequestView) -> bool:
    if view.requested_with:  # XMLHttpRequest from the page's own scripts
        return False
    accept = view.accept
    return "text/html" in accept or "application/xhtml+xml" in accept


def _cookie_value(header: str, prefix: str) -> str | None:
    if prefix not in header:
        return None
    # Several Cookie headers arrive joined: by "; " (HTTP/2, ASGI) or by ", " (a WSGI
    # server joining repeated headers); our value never holds either character.
    for part in _COOKIE_SEPARATORS.split(header):
        part = part.strip()
        if part.startswith(prefix):
            return part[len(prefix) :]
    return None


def _parse_query(query: str) -> dict[str, list[str]] | None:
    try:
        return parse_qs(
            query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS, errors="replace"
        )
    except ValueError:  # more fields than any WeChat request has
        return None


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values and len(values) == 1 and values[0] else None


def _text(status: int, text: str, extra: Headers | None = None) -> Respond:
    headers: Headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("X-Content-Type-Options", "nosniff"),
        _NO_STORE,
    ]
    # "replace": an echoed value may hold a lone surrogate, which UTF-8 cannot encode.
    return Respond(status, headers + (extra or []), text.encode("utf-8", "replace"))
