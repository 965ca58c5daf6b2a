"""The signed session cookie: who is logged in, and the OAuth login in progress.

Everything the middleware remembers about a browser lives in one cookie signed with
``secret_key`` (itsdangerous, HMAC-SHA1 over a timestamped payload), so any worker on
any host can read it and nothing is stored per browser on the server. A tampered,
truncated, re-signed or expired cookie reads as an empty session: never an error.

A login lasts ``session_max_age`` from the login itself. The middleware signs the
cookie again whenever it writes it (a login started, a failed callback: both keep the
user), so the signature's age alone would let a copied cookie, replayed now and then,
live forever; the cookie carries the login's time (``"t"``) and every writer keeps it.

The OAuth ``state`` is random, bound to this browser (it is only in this browser's
cookie), expires after 10 minutes, and is claimed once in the store at the callback,
so a replayed callback cannot log anyone in.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from .protocol import SCOPES, STATE_PATTERN, WECOM_SCOPES
from .user import VIAS, User, user_from_dict

_PENDING_SCOPES = frozenset(SCOPES + WECOM_SCOPES)

STATE_TTL = 600.0
STATE_LENGTH = 32
#: OAuth redirects allowed per browser within LOOP_WINDOW before we stop redirecting.
LOOP_LIMIT = 3
LOOP_WINDOW = 600.0
MAX_COOKIE_BYTES = 3800  # browsers drop cookies over ~4 KB; stay well below


def make_state() -> str:
    """32 random hex characters (128 bits) from one CSPRNG read; WeChat allows 128 of
    ``[A-Za-z0-9]``. One read instead of 32 keeps the redirect cheap."""
    return secrets.token_hex(STATE_LENGTH // 2)


def valid_state(value: str) -> bool:
    return bool(value) and STATE_PATTERN.fullmatch(value) is not None


#: A relay ticket: 256 random bits, URL-safe base64 (docs/several-domains.md).
TICKET_LENGTH = 43


def make_ticket() -> str:
    return secrets.token_urlsafe(32)


def valid_ticket(value: str) -> bool:
    return (
        len(value) == TICKET_LENGTH
        and value.isascii()
        and value.replace("-", "").replace("_", "").isalnum()
    )


def cookie_value(header: str, prefix: str) -> str:
    """The value of the cookie ``prefix`` (``name=``) in a Cookie header, ``""`` when
    absent. Several Cookie headers arrive joined, by "; " (HTTP/2, ASGI) or by "," (a
    WSGI server joining repeats): our value never holds either character. A cookie whose
    name merely ends with ours (``other_wechat_session=``) is not ours."""
    at = header.find(prefix)
    while at >= 0:
        before = header[:at].rstrip()
        if not before or before[-1] in ";,":
            start = end = at + len(prefix)
            end = len(header)
            for stop in (header.find(";", start), header.find(",", start)):
                if 0 <= stop < end:
                    end = stop
            value = header[start:end]
            # str methods, not a regular expression: a character class scanned over a
            # 100-character value costs more than the rest of a logged-in request.
            return "" if not value or value[0].isspace() else value.split(None, 1)[0]
        at = header.find(prefix, at + 1)
    return ""


@dataclass(frozen=True)
class PendingLogin:
    """A login that left for WeChat's authorize page and has not come back yet."""

    state: str
    next: str
    started: float
    via: str = "oauth"  # or "qrconnect": which app's credentials exchange the code
    scope: str = ""  # the scope asked for, when the answer will not say (WeCom)
    # On a relay: the target origin this login is for, and the target's own state.
    target: str = ""
    target_state: str = ""

    def expired(self, now: float) -> bool:
        return not (0 <= now - self.started < STATE_TTL)


@dataclass(frozen=True)
class Session:
    """What the cookie holds. Immutable: changes make a new Session to write back."""

    user: User | None = None
    pending: PendingLogin | None = None
    attempts: tuple[int, float] = (0, 0.0)  # OAuth redirects and when the first was
    anonymous_until: float = 0.0  # snapshot-page visitors are not sent to OAuth again
    completed: PendingLogin | None = None  # the last login this browser completed
    # When the user logged in with WeChat: a login ends session_max_age after it, however
    # often the cookie is signed again (a login started, a bad callback keep the user).
    logged_in_at: float = 0.0

    def with_login_started(
        self,
        state: str,
        next_url: str,
        now: float,
        via: str = "oauth",
        scope: str = "",
        relay: tuple[str, str] = ("", ""),  # on a relay: the target origin and its state
    ) -> Session:
        count, since = self.attempts
        if now - since >= LOOP_WINDOW:
            count, since = 0, now
        return replace(
            self,
            pending=PendingLogin(state, next_url, now, via, scope, *relay),
            attempts=(count + 1, since),
        )

    def too_many_attempts(self, now: float) -> bool:
        count, since = self.attempts
        return count >= LOOP_LIMIT and now - since < LOOP_WINDOW

    def logged_in(self, user: User, now: float, completed: PendingLogin | None = None) -> Session:
        """Logged in as ``user`` at ``now``; ``completed`` is the login that did it, so
        that its callback loaded again (the back button) goes to the page instead of
        failing."""
        return Session(user=user, completed=completed, logged_in_at=now)

    def without_user(self) -> Session:
        """The same browser with its login over (what else it holds stays)."""
        return replace(self, user=None, completed=None, logged_in_at=0.0)

    def completed_by(self, state: str, now: float) -> PendingLogin | None:
        """The login this browser completed with ``state``, within the state's life."""
        done = self.completed
        if done is None or self.user is None or done.expired(now):
            return None
        return done if hmac.compare_digest(done.state.encode(), state.encode()) else None

    def without_pending(self) -> Session:
        return replace(self, pending=None)

    def pause_logins_until(self, when: float) -> Session:
        """Not sent to OAuth before ``when`` (declined consent, a snapshot visitor)."""
        return replace(self, anonymous_until=when)


EMPTY = Session()
VERIFIED_CACHE_SIZE = 4096


def session_salt(app_id: str) -> str:
    """The signing salt: binds a cookie to one app, so two apps that share a secret key
    (or one key reused across environments) never accept each other's sessions."""
    return f"wechat_middleware.session:{app_id}"


class SessionCodec:
    """Turns a Session into a cookie value and back, signed with the secret key."""

    def __init__(
        self,
        secret_key: str,
        max_age: int,
        *,
        app_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._serializer = URLSafeTimedSerializer(
            secret_key,
            salt=session_salt(app_id),
            serializer=_CompactJSON,
            signer=_signer_on(clock),
        )
        self.max_age = max_age
        self._clock = clock
        self._verified: dict[str, tuple[Session, float]] = {}
        self._lock = threading.Lock()

    def dumps(self, session: Session) -> str:
        data: dict[str, Any] = {}
        if session.user is not None:
            data["u"] = session.user.to_dict()
        if session.pending is not None:
            data["p"] = _pending_data(session.pending)
        if session.completed is not None:
            data["c"] = _pending_data(session.completed)
        if session.attempts[0]:
            data["a"] = list(session.attempts)
        if session.anonymous_until:
            data["x"] = session.anonymous_until
        if session.user is not None and session.logged_in_at:
            data["t"] = int(session.logged_in_at)
        value = self._serializer.dumps(data)
        if len(value) > MAX_COOKIE_BYTES and session.user is not None:
            # A huge profile must not cost the login: keep the identity only.
            data["u"] = session.user.slim().to_dict()
            value = self._serializer.dumps(data)
        if len(value) > MAX_COOKIE_BYTES and "c" in data:
            del data["c"]  # only the back button's convenience
            value = self._serializer.dumps(data)
        if len(value) > MAX_COOKIE_BYTES and "p" in data:
            # Never write what loads() would refuse: the login then comes back to "/".
            data["p"] = [data["p"][0], "/", *data["p"][2:]]
            value = self._serializer.dumps(data)
        if len(value) > MAX_COOKIE_BYTES:
            value = self._serializer.dumps({})
        return value

    def loads(self, value: str | None) -> Session:
        """The session in ``value``; an empty one for anything not signed by us."""
        if not value or len(value) > MAX_COOKIE_BYTES:
            return EMPTY
        # Verifying the signature is most of a logged-in request's cost; a browser sends
        # the same cookie again and again, so verified ones are remembered (bounded).
        # Only values that passed verification are cached, and the age is still checked.
        now = self._clock()
        cached = self._verified.get(value)
        if cached is not None:
            session, expires_at = cached
            if now <= expires_at:
                return session
        try:
            data, signed = self._serializer.loads(
                value, max_age=self.max_age, return_timestamp=True
            )
        except (BadData, ValueError, TypeError):
            return EMPTY
        signed_at = signed.timestamp()
        # A cookie from before the login time was kept: its login counts from its
        # signature (its lifetime did), and is written on with that time.
        session = self._decode(data, signed_at)
        expires_at = signed_at + self.max_age
        if session.user is not None:
            if now - session.logged_in_at > self.max_age:
                session = session.without_user()
            else:
                expires_at = min(expires_at, session.logged_in_at + self.max_age)
        with self._lock:
            self._verified[value] = (session, expires_at)
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))
        return session

    @staticmethod
    def _decode(data: object, signed_at: float) -> Session:
        if not isinstance(data, dict):
            return EMPTY
        user = user_from_dict(data["u"]) if isinstance(data.get("u"), dict) else None
        return Session(
            user=user,
            pending=_pending(data.get("p")),
            completed=_pending(data.get("c")),
            attempts=_attempts(data.get("a")),
            anonymous_until=_number(data.get("x")),
            logged_in_at=(_number(data.get("t")) or signed_at) if user is not None else 0.0,
        )


def _pending_data(login: PendingLogin) -> list[Any]:
    data: list[Any] = [login.state, login.next, login.started]
    if login.target:
        return [*data, login.via, login.scope, login.target, login.target_state]
    if login.scope:
        return [*data, login.via, login.scope]
    return data if login.via == "oauth" else [*data, login.via]


def _pending(raw: object) -> PendingLogin | None:
    if not (isinstance(raw, list) and len(raw) in (3, 4, 5, 7)):
        return None
    state, next_url, started = raw[:3]
    via = raw[3] if len(raw) >= 4 else "oauth"
    scope = raw[4] if len(raw) >= 5 else ""
    target, target_state = raw[5:7] if len(raw) == 7 else ("", "")
    if not (isinstance(state, str) and valid_state(state) and isinstance(next_url, str)):
        return None
    if via not in VIAS or scope not in ("", *_PENDING_SCOPES):
        return None
    if target and not (isinstance(target, str) and valid_state(str(target_state))):
        return None
    return PendingLogin(state, next_url, _number(started), via, scope, target, target_state)


def _attempts(raw: object) -> tuple[int, float]:
    if isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], int):
        return raw[0], _number(raw[1])
    return (0, 0.0)


def _number(raw: object) -> float:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else 0.0


def _signer_on(clock: Callable[[], float]) -> type[TimestampSigner]:
    """itsdangerous's signer, timestamping and ageing cookies by ``clock``: the
    middleware's one clock (``WeChat(clock=...)``), which the decision reads too."""

    class Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return Signer


class _CompactJSON:
    """itsdangerous serializer: JSON without spaces, keeping cookies small."""

    @staticmethod
    def dumps(obj: Any) -> str:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (a nickname whose emoji lost half its pair: WeChat's JSON
            # "\ud83d" loads as one) cannot be UTF-8 encoded for signing: escape it.
            return json.dumps(obj, separators=(",", ":"))
        return text

    @staticmethod
    def loads(raw: str | bytes) -> Any:
        return json.loads(raw)
