# Over ~300 lines: reading, refreshing and waiting for the one shared token are one job.
"""The global access token and the jsapi ticket: fetched once, shared everywhere.

WeChat limits both (about 2,000 classic token calls a day; the ticket is strictly
rate-limited) and a classic token call invalidates the previous token after about five
minutes. So a token is fetched by one process at a time, stored for every other
worker and host, refreshed a margin ahead of expiry, and served from a short
per-process copy so the hot path does no store I/O.

The single flight works on two levels: a thread lock per process (only one thread
goes to the store) and the store's lock across processes and hosts (only one process
goes to WeChat). Waiters read the winner's value from the store; a crashed holder's
lock expires after ``lock_ttl``.

Pages never wait on that. :meth:`TokenManager.get_for_page` hands the work to one
background thread per process (:mod:`.flights`) and waits for it ``page_wait`` seconds
at most (0.5 s), counted from when that work began: a slow WeChat or a hung store
costs the pages of those first moments half a second, and every later page nothing (it
renders without a signature, or with the valid copy held) until the value is in memory.
After a failure, of WeChat or of the store, nothing asks again for a back-off (5 s, or
as long as the failed attempt took when that was longer): pages get the failure at once,
without I/O. Explicit calls (:meth:`TokenManager.get`) still wait, within
``wait_timeout``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from .errors import MEANINGS as WECHAT_MEANINGS
from .errors import (
    CredentialPendingError,
    InvalidCredentialError,
    QuotaExceededError,
    RefreshLimitError,
    StoreError,
    WeChatError,
    WeChatUnavailableError,
    error_for,
)
from .flights import Flights, fresh
from .keys import StoreKeys
from .logs import logged_elsewhere
from .stores.base import Broadcast, Store

log = logging.getLogger("wechat_middleware")
_T = TypeVar("_T")

#: ``agent_ticket`` is a WeCom app's own ticket (``wx.agentConfig``); an Official
#: Account has only the token and the jsapi ticket.
Kind = Literal["access_token", "jsapi_ticket", "agent_ticket"]
KINDS: tuple[Kind, ...] = ("access_token", "jsapi_ticket", "agent_ticket")
TICKET_WINDOW = 3600.0  # the window of a provider's hourly ticket limit


class CredentialSource(Protocol):
    """Where the token and tickets come from: a WeChat or a WeCom client, or a token hub
    (:class:`~wechat_middleware.client.HubClient`).

    ``rejected`` names the value WeChat rejected: a hub fetches anew only when that is
    the value it holds (``names_rejected``), WeChat itself ignores it.
    """

    app_id: str
    api_base: str
    meanings: Any  # the provider's errcode table, to rebuild a stored failure
    names_rejected: bool  # asked again at once, naming a rejected value (a hub)

    def fetch_access_token(
        self, endpoint: str, force_refresh: bool, rejected: str | None = None
    ) -> dict[str, Any]: ...

    def fetch_ticket(
        self, kind: str, access_token: str, rejected: str | None = None
    ) -> dict[str, Any]: ...


#: The seed's rule for unforced manual refreshes: at most 5 within 2 hours.
MANUAL_REFRESH_LIMIT = 5
MANUAL_REFRESH_WINDOW = 2 * 3600.0
#: What a call to WeChat may take when the client does not say (WeChatClient.longest_call).
LONGEST_CALL = 15.6


@dataclass(frozen=True)
class Credential:
    """A token or ticket with the times (by the manager's clock) it ages and dies, and
    when it was fetched (0: unknown, as in what earlier versions stored)."""

    value: str
    expires_at: float
    refresh_at: float
    fetched_at: float = 0.0

    @classmethod
    def issued(cls, value: str, expires_in: float, now: float, margin: float) -> Credential:
        # Refresh a margin ahead of expiry, but never sooner than halfway: the stable
        # endpoint answers with the *remaining* life of the current token, and
        # refreshing that at once again would loop.
        refresh_at = now + max(expires_in - margin, expires_in / 2)
        return cls(value, now + expires_in, refresh_at, now)

    def fresh(self, now: float) -> bool:
        return now < self.refresh_at

    def valid(self, now: float) -> bool:
        return now < self.expires_at

    def dumps(self) -> str:
        return json.dumps([self.value, self.expires_at, self.refresh_at, self.fetched_at])

    @classmethod
    def loads(cls, raw: str) -> Credential | None:
        try:
            value, expires_at, refresh_at, *fetched = json.loads(raw)
            fetched_at = float(fetched[0]) if fetched else 0.0
            return cls(str(value), float(expires_at), float(refresh_at), fetched_at)
        except (ValueError, TypeError):
            return None


@dataclass(slots=True)
class _Local:
    """The per-process copy, held while ``read_at <= now < until`` (``until`` is worked
    out once: every signed page asks). Times of the manager's clock, which ages the
    credentials; a clock stepped back before ``read_at`` sends us to the store."""

    credential: Credential
    read_at: float  # when last read from or written to the store
    until: float  # the sooner of read_at + local_ttl (read the store again) and refresh_at

    @classmethod
    def read(cls, credential: Credential, now: float, local_ttl: float) -> _Local:
        return cls(credential, now, min(now + local_ttl, credential.refresh_at))


@dataclass(frozen=True)
class _Failure:
    """A failure to repeat, without I/O, until ``until`` (by the manager's clock)."""

    until: float
    error: WeChatError | StoreError


class TokenManager:
    """Serves the access token and jsapi ticket; refreshes them once for everyone."""

    def __init__(
        self,
        client: CredentialSource,
        store: Store,
        *,
        endpoint: str = "stable",
        margin: float = 180.0,
        local_ttl: float = 1.0,
        lock_ttl: float | None = None,
        wait_timeout: float | None = None,
        failure_backoff: float = 5.0,
        quota_backoff: float = 60.0,
        page_wait: float = 0.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        keys: StoreKeys | None = None,
        tickets_per_hour: int | None = None,
    ) -> None:
        self.client = client
        self.store = store
        # WeCom limits ticket fetches an hour (a forced refresh loop must not hit it).
        self.tickets_per_hour = tickets_per_hour
        # Change notices, when the store can send them (Redis); else copies age out.
        self._broadcast = store if isinstance(store, Broadcast) else None
        self.endpoint = endpoint
        self.margin = margin
        self.local_ttl = local_ttl
        # A ticket is fetched under its lock with two calls (the token, then the ticket):
        # the lock outlives both, so no second process calls while the first still waits.
        longest = getattr(client, "longest_call", LONGEST_CALL)
        self.lock_ttl = lock_ttl if lock_ttl is not None else max(30.0, 2 * longest + 5)
        self.wait_timeout = wait_timeout if wait_timeout is not None else self.lock_ttl + 5
        self.failure_backoff = failure_backoff
        self.quota_backoff = quota_backoff
        self.page_wait = page_wait
        self.clock = clock
        self._sleep = sleep
        self.keys = keys or StoreKeys.for_app(client.app_id, client.api_base)
        self.prefix = self.keys.prefix
        self._local: dict[Kind, _Local] = {}
        self._thread_locks: dict[Kind, threading.Lock] = {k: threading.Lock() for k in KINDS}
        self.notice_wait = 0.5
        self._listening_pid: int | None = None
        self._store_failing_since: float | None = None
        self._last_store_log = 0.0
        # The back-off after a failure, per kind, and "store" for the store's own.
        self._failures: dict[str, _Failure] = {}
        self._flights: Flights[Kind, Credential] = Flights(self.get, "wechat_middleware fetch")

    # -- reading -------------------------------------------------------------

    def access_token(self) -> str:
        held = self._held("access_token")
        return held.value if held is not None else self.get("access_token").value

    def jsapi_ticket(self) -> str:
        """The ticket; every signed page asks, so the in-process copy is read first."""
        held = self._held("jsapi_ticket")
        return held.value if held is not None else self.get("jsapi_ticket").value

    def agent_ticket(self) -> str:
        """A WeCom app's own ticket, for ``wx.agentConfig``."""
        held = self._held("agent_ticket")
        return held.value if held is not None else self.get("agent_ticket").value

    def get(self, kind: Kind) -> Credential:
        """The current credential, fetching it (once, for everyone) when needed.

        What an explicit call uses (``jssdk.get_signature_by_url`` and the like): it
        waits for a fetch another thread or process has in flight, at most
        ``wait_timeout`` seconds for each, then raises. While the store is backing off
        after an error it serves the valid copy held, or raises at once.
        """
        held = self._held(kind)
        if held is not None:
            return held
        valid = self._valid_copy(kind)
        store_down = self._active_failure("store")
        if store_down is not None:
            if valid is not None:
                return valid
            raise fresh(store_down.error)
        self._listen()
        lock = self._thread_locks[kind]
        # While another thread refreshes, a still-valid copy is served without waiting.
        if valid is not None:
            if not lock.acquire(blocking=False):
                return valid
        elif not lock.acquire(timeout=self.wait_timeout):
            raise WeChatUnavailableError(
                f"timed out after {self.wait_timeout:.0f}s waiting for another thread to "
                f"fetch the {kind}"
            )
        try:
            held = self._held(kind)  # another thread may have refreshed while we waited
            if held is not None:
                return held
            local = self._local.get(kind)
            began = time.monotonic()
            try:
                credential = self._get_shared(kind, local.credential if local else None)
            except StoreError as exc:
                # Back off as after a WeChat error: a hung store (a 1 s timeout each
                # time) must not be asked again by every request.
                self._back_off("store", exc, max(self.failure_backoff, time.monotonic() - began))
                valid = self._valid_copy(kind)
                if valid is None:
                    raise
                # The store is down but our copy is still valid: serve it.
                self._store_trouble(exc)
                return valid
            if self._store_failing_since is not None:
                log.warning("the token store is reachable again")
                self._store_failing_since = None
            self._failures.pop("store", None)
            return credential
        finally:
            lock.release()

    def get_for_page(self, kind: Kind) -> Credential:
        """The credential for a page, which must render whatever WeChat and the store do.

        Held in memory: at once. Failing lately (WeChat, or the store: within the
        back-off): the valid copy held, or the failure raised at once, without I/O.
        Otherwise :meth:`get` runs in one background thread per process, and the page
        waits for it until ``page_wait`` seconds after it began; then it gets the valid
        copy held, or :class:`CredentialPendingError`, while the fetch goes on.
        """
        held = self._held(kind)
        if held is not None:
            return held
        valid = self._valid_copy(kind)
        failure = self._failure(kind)
        if failure is not None:
            if valid is not None:
                return valid
            raise fresh(failure.error)
        flight = self._flights.join(kind)
        if flight.wait(self.page_wait):
            try:
                return flight.result()
            except (WeChatError, StoreError):
                if valid is None:
                    raise
                return valid
        if valid is not None:
            return valid
        # Not a failure of its own: if the fetch fails, the fetch says why (one line).
        raise logged_elsewhere(
            CredentialPendingError(
                f"the {kind} is being fetched; a page waits {self.page_wait:g}s at most for it"
            )
        )

    def would_wait(self, kind: Kind) -> bool:
        """Whether :meth:`get_for_page` would wait now (what an event loop should run in
        a worker thread): ``kind`` is not held, not failing lately, and no fetch of it
        has been in flight for ``page_wait`` already."""
        if self._held(kind) is not None or self._failure(kind) is not None:
            return False
        flight = self._flights.current(kind)
        return flight is None or flight.patience_left(self.page_wait) > 0

    def in_flight(self, kind: Kind) -> bool:
        """Whether a background fetch of ``kind`` (:meth:`get_for_page`) is running here."""
        return self._flights.current(kind) is not None

    def retry_after(self, kind: Kind) -> int:
        """Whole seconds (at least 1) after which asking for ``kind`` again may succeed:
        the rest of its back-off, else a second (a fetch is in flight)."""
        failure = self._failure(kind)
        return 1 if failure is None else max(1, math.ceil(failure.until - self.clock()))

    def _valid_copy(self, kind: Kind) -> Credential | None:
        """The in-process copy while it is unexpired, however old the read."""
        local = self._local.get(kind)
        if local is None or not local.credential.valid(self.clock()):
            return None
        return local.credential

    # -- back-off after failures ------------------------------------------------

    def _back_off(self, key: str, error: WeChatError | StoreError, seconds: float) -> None:
        """Repeat ``error`` without I/O for ``seconds`` (``key``: a kind, or "store")."""
        self._failures[key] = _Failure(self.clock() + seconds, error)

    def _active_failure(self, key: str) -> _Failure | None:
        failure = self._failures.get(key)
        return failure if failure is not None and self.clock() < failure.until else None

    def _failure(self, kind: Kind) -> _Failure | None:
        """What getting ``kind`` now would fail with: the store's back-off, or the kind's."""
        return self._active_failure("store") or self._active_failure(kind)

    def _get_shared(self, kind: Kind, local: Credential | None) -> Credential:
        """From the store if fresh there, else refreshed once for every process."""
        stored = self._read(kind)
        if stored is not None and stored.fresh(self.clock()):
            return stored
        usable = stored or local
        if usable is not None and not usable.valid(self.clock()):
            usable = None
        return self._refresh_shared(kind, usable)

    def _store_trouble(self, exc: StoreError) -> None:
        now = time.monotonic()
        if self._store_failing_since is None or now - self._last_store_log >= 30:
            log.warning("%s; serving the in-process copy while it is valid", exc)
            self._last_store_log = now
        if self._store_failing_since is None:
            self._store_failing_since = now

    # -- change notices between processes (a store that is a Broadcast, e.g. Redis) -------

    def _listen(self) -> None:
        """Subscribe once per process, so a refresh elsewhere drops our copy at once."""
        pid = os.getpid()
        if self._listening_pid == pid:
            return
        self._listening_pid = pid
        if self._broadcast is not None:
            try:
                self._broadcast.subscribe(self.keys.changed, self._on_changed)
            except StoreError as exc:
                log.warning("cannot listen for token changes: %s", exc)
                self._listening_pid = None

    def _on_changed(self, kind: str | None) -> None:
        """Make the next read go to the store; keep the copy as the fallback if it is down.

        ``None`` comes after the listener reconnected: anything may have changed.
        """
        for name, local in list(self._local.items()):
            if kind is None or kind == name:
                local.until = float("-inf")
        for key in list(self._failures):  # "store" too after a reconnect: it is back
            if kind is None or kind == key:
                self._failures.pop(key, None)

    def _announce(self, kind: Kind) -> None:
        if self._broadcast is not None:
            try:
                # Wait (briefly) until every listening process has marked its copy
                # stale, so a refresh that returned is used by every host at once.
                self._broadcast.publish(self.keys.changed, kind, wait=self.notice_wait)
            except StoreError as exc:
                log.warning("cannot announce the new %s: %s", kind, exc)

    def held_fresh(self, kind: Kind) -> bool:
        """Whether this process can serve ``kind`` without store or network I/O."""
        return self._held(kind) is not None

    def backing_off(self, kind: Kind) -> bool:
        """Whether this process saw getting ``kind`` fail (WeChat, or the store) within
        the back-off window: work done now to get it would fail the same way."""
        return self._failure(kind) is not None

    def cached(self, kind: Kind) -> Credential | None:
        """The credential if one is held and unexpired; never calls WeChat (nor the
        store while it is backing off after an error)."""
        held = self._held(kind)
        if held is not None:
            return held
        if self._active_failure("store") is not None:
            return self._valid_copy(kind)
        stored = self._read(kind)
        if stored is not None and stored.valid(self.clock()):
            return stored
        return None

    def _held(self, kind: Kind) -> Credential | None:
        """The per-process copy, if it is recent enough to skip the store and fresh."""
        local = self._local.get(kind)
        if local is not None and local.read_at <= self.clock() < local.until:
            return local.credential
        return None

    def _read(self, kind: Kind) -> Credential | None:
        raw = self.store.get(self.keys.credential(kind))
        credential = Credential.loads(raw) if raw is not None else None
        if credential is not None:
            self._local[kind] = _Local.read(credential, self.clock(), self.local_ttl)
        return credential

    def _save(self, kind: Kind, credential: Credential) -> None:
        ttl = max(credential.expires_at - self.clock(), 1.0)
        self.store.set(self.keys.credential(kind), credential.dumps(), ttl)
        self._local[kind] = _Local.read(credential, self.clock(), self.local_ttl)
        self._failures.pop(kind, None)
        self._announce(kind)

    # -- refreshing ------------------------------------------------------------

    def _refresh_shared(self, kind: Kind, usable: Credential | None) -> Credential:
        """Refresh under the store's lock, or wait for whoever holds it."""
        owner = uuid.uuid4().hex
        lock_name = self.keys.lock(kind)
        if usable is not None:
            # Someone else is refreshing: serve the valid one rather than wait.
            if not self.store.acquire_lock(lock_name, owner, self.lock_ttl):
                return usable
        else:
            # The holder's result, read while waiting, makes the lock unneeded.
            stored = self._wait_for_lock(
                lock_name,
                owner,
                pause=0.01,
                max_pause=0.1,
                timed_out=f"timed out after {self.wait_timeout:.0f}s waiting for another "
                f"worker to refresh the {kind}",
                meanwhile=lambda: self._read_fresh(kind),
            )
            if stored is not None:
                return stored
        try:
            stored = self._read_fresh(kind)  # another process may have just finished
            if stored is not None:
                return stored
            try:
                return self._fetch_and_save(kind)
            except WeChatError:
                if usable is not None:
                    log.warning("refreshing %s failed; serving the current one", kind)
                    return usable
                raise
        finally:
            self.store.release_lock(lock_name, owner)

    def _read_fresh(self, kind: Kind) -> Credential | None:
        stored = self._read(kind)
        return stored if stored is not None and stored.fresh(self.clock()) else None

    def _wait_for_lock(
        self,
        lock_name: str,
        owner: str,
        *,
        pause: float,
        max_pause: float,
        timed_out: str,
        meanwhile: Callable[[], _T | None] = lambda: None,
    ) -> _T | None:
        """Take the store lock ``lock_name`` for ``owner``, waiting while another holds it.

        Returns ``None`` once the lock is held (the caller releases it). Between tries
        it sleeps ``pause`` seconds, doubling up to ``max_pause``, then asks
        ``meanwhile`` for a value that makes the lock unneeded (the holder's result):
        a value ends the wait and is returned, the lock not taken. Still refused after
        ``wait_timeout``, it raises :class:`WeChatUnavailableError` saying ``timed_out``.
        """
        deadline = time.monotonic() + self.wait_timeout
        while not self.store.acquire_lock(lock_name, owner, self.lock_ttl):
            if time.monotonic() > deadline:
                raise WeChatUnavailableError(timed_out)
            self._sleep(pause)
            pause = min(pause * 2, max_pause)
            served = meanwhile()
            if served is not None:
                return served
        return None

    def _fetch_and_save(
        self, kind: Kind, *, force_refresh: bool = False, rejected: str | None = None
    ) -> Credential:
        """Call WeChat (the caller holds the store lock) unless a recent failure says wait."""
        failure_key = self.keys.failure(kind)
        recent = self.store.get(failure_key)
        if recent is not None and not force_refresh:
            error, until = _failure_from(recent, self.client.meanings)
            # Until the end the failing process set (every worker asks again together,
            # and one fetch serves them), at least half a second (its clock may differ).
            remaining = self.failure_backoff if until is None else until - self.clock()
            self._back_off(kind, error, max(remaining, 0.5))
            raise error
        now = self.clock()
        began = time.monotonic()
        try:
            if kind == "access_token":
                data = self.client.fetch_access_token(self.endpoint, force_refresh, rejected)
                value, expires_in = str(data["access_token"]), float(data["expires_in"])
            else:
                self._spend_ticket_budget(kind)
                data = self.with_access_token(
                    lambda token: self.client.fetch_ticket(kind, token, rejected)
                )
                value, expires_in = str(data["ticket"]), float(data["expires_in"])
        except WeChatError as exc:
            backoff = (
                self.quota_backoff if isinstance(exc, QuotaExceededError) else self.failure_backoff
            )
            # Outlast the failed attempt (15.6 s when every try timed out): while WeChat
            # fails it is asked at most half of the time.
            backoff = max(backoff, time.monotonic() - began)
            until = self.clock() + backoff
            self.store.set(failure_key, json.dumps([exc.errcode, exc.errmsg, until]), backoff)
            self._back_off(kind, exc, backoff)
            _log_where_it_arose(exc, kind, backoff)
            raise
        credential = Credential.issued(value, expires_in, now, self.margin)
        self._save(kind, credential)
        log.info("fetched a new %s (expires in %.0fs)", kind, expires_in)
        return credential

    def _spend_ticket_budget(self, kind: Kind) -> None:
        """Count a ticket fetch against the provider's hourly limit, shared by every
        worker; over it, fail as the provider would without calling it."""
        if self.tickets_per_hour is None:
            return
        used = self.store.incr(self.keys.ticket_budget(kind), TICKET_WINDOW)
        if used > self.tickets_per_hour:
            raise QuotaExceededError(
                45009,
                f"not fetching the {kind}: {self.tickets_per_hour} fetches within the hour "
                "already (WeCom's limit); the ticket already held keeps being served",
            )

    def with_access_token(self, call: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """Call with the access token; when it is rejected (WeChat's 40001/40014/42001,
        WeCom's 40014/42001) drop it, refresh, retry once."""
        token = self.access_token()
        try:
            return call(token)
        except InvalidCredentialError:
            log.warning("WeChat rejected the access token; refreshing it and retrying once")
            self.drop_rejected("access_token", token)
            return call(self.access_token())

    def invalidate_rejected(self, kind: Kind, value: str, *, at_most_every: float) -> bool:
        """Forget ``value`` because a browser reported WeChat rejected it, at most once
        per ``at_most_every`` seconds for every worker and host: the reports' own budget
        (they may be forged, by anyone who read the ticket's id). Not the seed's
        manual-refresh allowance, which forged reports would spend, leaving the app's
        own refreshes refused and genuine reports ignored for two hours. ``True`` when
        it was invalidated."""
        if not self.store.acquire_lock(self.keys.rejected(kind), uuid.uuid4().hex, at_most_every):
            return False
        self.drop_rejected(kind, value)
        return True

    def drop_rejected(self, kind: Kind, value: str) -> None:
        """Forget ``value``, which WeChat rejected. A hub (``names_rejected``) is asked
        again at once, naming it, under the refresh's lock: the hub fetches anew only
        when that is the value it holds, and asked without the name it would hand the
        same value back. Another worker that fetched meanwhile got the hub's value too,
        and is overwritten with the newer one."""
        if not self.client.names_rejected:
            self.invalidate(kind, value)
            return

        def refetch() -> None:
            stored = self._read(kind)
            if stored is None or stored.value == value or not stored.valid(self.clock()):
                self._fetch_and_save(kind, rejected=value)

        self._locked(kind, refetch)

    def invalidate(self, kind: Kind, value: str) -> None:
        """Forget ``value`` here and in the store, unless a newer one replaced it."""
        local = self._local.get(kind)
        if local is not None and local.credential.value == value:
            del self._local[kind]
        key = self.keys.credential(kind)
        raw = self.store.get(key)
        stored = Credential.loads(raw) if raw is not None else None
        if raw is not None and (stored is None or stored.value == value):
            self.store.delete(key, only_if=raw)
            self._announce(kind)

    # -- manual control (the seed's getNewTokenAndTicket / updateAccessTokenOrTicketGlobally)

    def refresh(self, force: bool = False) -> tuple[Credential, Credential]:
        """Fetch a new token and ticket now, for every worker.

        Unforced calls are limited like the seed's: at most 5 within 2 hours, the sixth
        raises :class:`RefreshLimitError` without calling WeChat. ``force`` bypasses
        the count and, on the stable endpoint, asks WeChat for a brand-new token
        (``force_refresh``, which WeChat itself limits).
        """
        if not force:
            self._count_manual_refresh()
        token = self._locked(
            "access_token", lambda: self._fetch_and_save("access_token", force_refresh=force)
        )
        ticket = self._locked(
            "jsapi_ticket", lambda: self._fetch_and_save("jsapi_ticket", force_refresh=force)
        )
        return token, ticket

    def set_globally(
        self, access_token: str | None = None, ticket: str | None = None, expires_in: float = 7200
    ) -> None:
        """Store a token and/or ticket obtained elsewhere, for every worker."""
        now = self.clock()
        for kind, value in (("access_token", access_token), ("jsapi_ticket", ticket)):
            if value:
                self._save(kind, Credential.issued(value, expires_in, now, self.margin))  # type: ignore[arg-type]

    def _count_manual_refresh(self) -> None:
        key = self.keys.manual_refresh

        def count() -> None:
            now = self.clock()
            raw = self.store.get(key)
            start, used = json.loads(raw) if raw else (now, 0)
            if now - start >= MANUAL_REFRESH_WINDOW:
                start, used = now, 0
            if used >= MANUAL_REFRESH_LIMIT:
                wait = MANUAL_REFRESH_WINDOW - (now - start)
                raise RefreshLimitError(
                    f"at most {MANUAL_REFRESH_LIMIT} manual refreshes within 2 hours; "
                    f"try again in {wait / 60:.0f} minutes or pass force=True"
                )
            self.store.set(key, json.dumps([start, used + 1]), MANUAL_REFRESH_WINDOW)

        self._locked("manual_refresh", count)

    def _locked(self, name: str, work: Callable[[], _T]) -> _T:
        """Run ``work`` holding the store lock ``name``, waiting for it if need be."""
        owner = uuid.uuid4().hex
        lock_name = self.keys.lock(name)
        self._wait_for_lock(
            lock_name,
            owner,
            pause=0.02,
            max_pause=0.02,
            timed_out=f"timed out waiting for the {name} lock",
        )
        try:
            return work()
        finally:
            self.store.release_lock(lock_name, owner)


def _log_where_it_arose(error: WeChatError, kind: Kind, backoff: float) -> None:
    """One WARNING per failed fetch: a ticket whose access token failed carries the
    token's error, logged when the token's fetch failed (copies keep the mark)."""
    if getattr(error, "failed_fetch", None) is not None:
        log.debug("fetching the %s failed: %s", kind, error)
        return
    error.failed_fetch = kind  # type: ignore[attr-defined]
    log.warning("fetching the %s failed: %s (backing off %.0fs)", kind, error, backoff)


def _failure_from(raw: str, meanings: Any = WECHAT_MEANINGS) -> tuple[WeChatError, float | None]:
    """The stored failure ``[errcode, errmsg, until]`` (``until``: when its back-off ends;
    absent from what earlier versions stored) as an error to raise, and ``until``."""
    until: float | None = None
    try:
        errcode, errmsg, *rest = json.loads(raw)
        errcode = int(errcode)
        errmsg = str(errmsg)
        if rest:
            until = float(rest[0])
    except (ValueError, TypeError):
        errcode, errmsg = -1, "unknown"
    if errcode == -1:
        return WeChatUnavailableError(f"recent failure, backing off: {errmsg}"), until
    return error_for(errcode, f"recent failure, backing off: {errmsg}", meanings), until
