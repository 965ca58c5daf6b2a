"""The token hub: WeChat's token and ticket endpoints for every system on one AppID.

WeChat lets only whitelisted addresses fetch a token, and a new classic token retires
the one every other system holds. One hub holds THE token and tickets (in the usual
store: Redis for several replicas, which share one token through its lock, as workers
do) and answers WeChat's own endpoints in WeChat's JSON, so any WeChat SDK in any
language pointed at it as its API base shares them, and follower hosts
(``WECHAT_TOKEN_HUB``) need no whitelist::

    WECHAT_HUB_CLIENTS=shop:KEY1,crm:KEY2 gunicorn -w 1 --threads 16 wechat_middleware.hub:app

``app`` is WSGI, built from the ``WECHAT_*`` environment at its first request (after
gunicorn forks). A client gives its key where the app secret goes, and never sees the
secret. Errors are WeChat's (HTTP 200, ``errcode``): a wrong key 40125, a wrong app id
40013, a stale ``access_token`` on a ticket call 40001. A caller that saw a value
rejected names it (``rejected=``): the hub fetches anew only when it holds that value,
once for any number of callers; ``force_refresh`` without it fetches at most once a
minute, and only a token older than that. Calls are counted per client, refused ones
per address (a key guessed by brute force meets 45011), and logged per client; the
counts of the process that answers are at ``/metrics`` (Prometheus text), so run one
worker per replica, with threads. ``/healthz`` answers 200 while the store does.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from . import hub_rules as rules
from .config import WeChatConfig, hub_clients
from .errors import ConfigError, StoreError, WeChatError
from .hub_rules import Ask, Refusal
from .tokens import Credential, CredentialSource, Kind
from .wechat import WeChat

log = logging.getLogger("wechat_middleware.hub")

CALLS_PER_MINUTE = 600  # per client: a burst of 50 concurrent calls fits many times
REFUSALS_PER_MINUTE = 20  # per address, before every call from it meets 45011
FORCE_AGE = 60.0  # force_refresh renews only a token older than this, once in this time
REJECTED_INTERVAL = 10.0  # a value named rejected is fetched anew at most this often
WINDOW = 60.0
JSON_TYPE = ("Content-Type", "application/json; encoding=utf-8")
TEXT_TYPE = ("Content-Type", "text/plain; charset=utf-8")
Answer = tuple[str, list[tuple[str, str]], bytes]


class Metrics:
    """Counters of this process, as Prometheus text."""

    HELP: ClassVar[dict[str, str]] = {
        "fetches": "Fetches from WeChat, by kind and errcode (0: a success)",
        "refusals": "Calls the hub refused, by errcode",
        "calls": "Calls answered with a token or ticket, by client and endpoint",
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[tuple[tuple[str, str], ...]]] = {
            name: Counter() for name in self.HELP
        }

    def count(self, name: str, **labels: str) -> None:
        with self._lock:
            self._counts[name][tuple(sorted(labels.items()))] += 1

    def text(self) -> str:
        lines = []
        with self._lock:
            for name, counts in self._counts.items():
                metric = f"wechat_hub_{name}_total"
                lines += [f"# HELP {metric} {self.HELP[name]}", f"# TYPE {metric} counter"]
                for labels, value in sorted(counts.items()):
                    shown = ",".join(f'{k}="{_label(v)}"' for k, v in labels)
                    lines.append(f"{metric}{{{shown}}} {value}")
        return "\n".join(lines) + "\n"


class _Metered:
    """The hub's source of credentials (WeChat), its fetches counted."""

    names_rejected = False

    def __init__(self, source: CredentialSource, metrics: Metrics) -> None:
        self.source = source
        self.app_id = source.app_id
        self.api_base = source.api_base
        self.meanings = source.meanings
        self.metrics = metrics
        self.longest_call: float = getattr(source, "longest_call", 15.6)

    def fetch_access_token(
        self, endpoint: str, force_refresh: bool, rejected: str | None = None
    ) -> dict[str, Any]:
        return self._counted(
            "access_token", lambda: self.source.fetch_access_token(endpoint, force_refresh)
        )

    def fetch_ticket(
        self, kind: str, access_token: str, rejected: str | None = None
    ) -> dict[str, Any]:
        return self._counted(kind, lambda: self.source.fetch_ticket(kind, access_token))

    def _counted(self, kind: str, fetch: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            found = fetch()
        except WeChatError as exc:
            self.metrics.count("fetches", kind=kind, errcode=str(exc.errcode))
            raise
        self.metrics.count("fetches", kind=kind, errcode="0")
        return found


class Hub:
    """The hub over one app's :class:`~wechat_middleware.wechat.WeChat` (its store and
    token manager): a WSGI app. ``clients``: ``(name, key)`` pairs."""

    def __init__(
        self,
        wechat: WeChat,
        clients: Iterable[tuple[str, str]],
        *,
        calls_per_minute: int = CALLS_PER_MINUTE,
        refusals_per_minute: int = REFUSALS_PER_MINUTE,
    ) -> None:
        self.wechat = wechat
        self.clients = tuple(clients)
        self.tokens = wechat.tokens
        self.store = wechat.store
        self.clock = wechat.clock
        self.dialect = rules.DIALECTS[wechat.config.provider]
        self.calls_per_minute = calls_per_minute
        self.refusals_per_minute = refusals_per_minute
        self.metrics = Metrics()
        self.tokens.client = _Metered(self.tokens.client, self.metrics)

    # -- WSGI -----------------------------------------------------------------------

    def __call__(
        self, environ: Mapping[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        try:
            status, headers, body = self.answer(
                environ.get("REQUEST_METHOD", "GET"),
                environ.get("PATH_INFO", ""),
                environ.get("QUERY_STRING", ""),
                _body(environ),
                environ.get("REMOTE_ADDR", ""),
            )
        except Exception:  # a bug here must not become a 5xx an SDK would retry hard
            log.exception("the hub failed to answer")
            status, headers, body = self._json(Refusal(rules.SYSTEM_ERROR).body(self.dialect))
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

    # -- the answer -------------------------------------------------------------------

    def answer(
        self, method: str, path: str, query: str, body: bytes | None, address: str
    ) -> Answer:
        """The status, headers and body for a request (``body`` ``None``: too large)."""
        if path == "/healthz":
            return self._health()
        if path == "/metrics":
            return "200 OK", [TEXT_TYPE], self.metrics.text().encode()
        endpoint = self.dialect.endpoints.get(path)
        if endpoint is None:
            return self._json(Refusal(40066).body(self.dialect), "404 Not Found")
        client = f"@{address}"
        try:
            if self._over(
                self.tokens.keys.hub_refusals(address), self.refusals_per_minute, count=False
            ):
                found: Ask | Refusal | dict[str, Any] = Refusal(
                    rules.TOO_OFTEN, "too many refused calls"
                )
            elif body is None:
                found = Refusal(47001)
            else:
                found = rules.read(endpoint, method, query, body)
            if isinstance(found, Ask) and found.kind == "access_token":
                name = self._client(found)
                if isinstance(name, Refusal):
                    found = name
                else:
                    client = name
            if isinstance(found, Ask):
                found = self._handed(found, client)
        except (WeChatError, StoreError) as exc:
            log.warning("hub: %s %s: cannot answer: %s", client, path, exc)
            found = Refusal(rules.SYSTEM_ERROR, "the hub cannot get it now, try again")
        if isinstance(found, Refusal):
            self.metrics.count("refusals", errcode=str(found.errcode))
            log.info("hub: %s %s %s refused %d", client, address, path, found.errcode)
            if found.errcode not in (rules.SYSTEM_ERROR, rules.TOO_OFTEN):
                self._over(self.tokens.keys.hub_refusals(address), self.refusals_per_minute)
            return self._json(found.body(self.dialect))
        self.metrics.count("calls", client=client, endpoint=path)
        log.info("hub: %s %s %s answered", client, address, path)
        return self._json(found)

    def _client(self, ask: Ask) -> str | Refusal:
        """The client whose key ``ask`` gives, if it is within its budget."""
        name = rules.client_of(self.clients, self.wechat.config.app_id, ask, self.dialect)
        if isinstance(name, str) and self._over(
            self.tokens.keys.hub_calls(name), self.calls_per_minute
        ):
            return Refusal(rules.TOO_OFTEN, f"over {self.calls_per_minute} calls a minute")
        return name

    def _handed(self, ask: Ask, client: str) -> dict[str, Any] | Refusal:
        """The token or ticket asked for, fetched first when the one held is stale."""
        kind: Kind = ask.kind
        if kind != "access_token":
            held = self.tokens.cached("access_token")
            if held is None or not rules.same(held.value, ask.access_token):
                return Refusal(self.dialect.stale_token)
        if ask.rejected:
            self._drop_if_held(kind, ask.rejected, client)
        elif ask.force:
            self._force(client)
        credential = self.tokens.get(kind)
        seconds = rules.expires_in(credential.expires_at, self.clock())
        return rules.answer(self.dialect, kind, credential.value, seconds)

    def _drop_if_held(self, kind: Kind, rejected: str, client: str) -> None:
        """Fetch ``kind`` anew if ``rejected`` is the value held: once for any number of
        callers (the store's lock, then the value compared in the store)."""
        held = self.tokens.cached(kind)
        if (
            held is not None
            and rules.same(held.value, rejected)
            and self.tokens.invalidate_rejected(kind, held.value, at_most_every=REJECTED_INTERVAL)
        ):
            log.warning("hub: %s reported the %s rejected; fetching a new one", client, kind)

    def _force(self, client: str) -> None:
        """stable_token's ``force_refresh``: the token is fetched anew (without forcing
        WeChat, which would retire the token every other system holds) if it is older
        than a minute, at most once a minute."""
        held: Credential | None = self.tokens.cached("access_token")
        if held is None or self.clock() - held.fetched_at < FORCE_AGE:
            return
        if self.store.acquire_lock(self.tokens.keys.hub_forced, uuid.uuid4().hex, FORCE_AGE):
            log.warning("hub: %s asked for a new token; fetching one", client)
            self.tokens.invalidate("access_token", held.value)

    def _over(self, key: str, limit: int, *, count: bool = True) -> bool:
        """Whether the counter ``key`` is over ``limit`` this minute (counting this call)."""
        if not limit:
            return False
        if count:
            return self.store.incr(key, WINDOW) > limit
        return int(self.store.get(key) or 0) >= limit

    def _health(self) -> Answer:
        try:
            self.store.get(self.tokens.keys.hub_health)
        except StoreError as exc:
            log.warning("hub: /healthz: %s", exc)
            return "503 Service Unavailable", [TEXT_TYPE], b"store unavailable"
        return "200 OK", [TEXT_TYPE], b"ok"

    @staticmethod
    def _json(payload: dict[str, Any], status: str = "200 OK") -> Answer:
        return status, [JSON_TYPE], json.dumps(payload).encode()


def make_hub(wechat: WeChat, clients: Mapping[str, str] | Iterable[tuple[str, str]] | str) -> Hub:
    """The hub over ``wechat`` for ``clients``: ``{name: key}``, pairs or ``name:key,...``
    (checked as ``WECHAT_HUB_CLIENTS`` is: no key may be the app secret)."""
    pairs = hub_clients("clients", clients)
    if any(key == wechat.config.app_secret for _, key in pairs):
        raise ConfigError("a client key must not be the app secret, which clients never see")
    return Hub(wechat, pairs)


def from_env(environ: Mapping[str, str] | None = None) -> Hub:
    """The hub the ``WECHAT_*`` environment configures (``WECHAT_HUB_CLIENTS`` required)."""
    config = WeChatConfig.from_env(environ)
    if not config.hub_clients:
        raise ConfigError(
            "WECHAT_HUB_CLIENTS is required by the hub: its clients, name:key,name2:key2"
        )
    return make_hub(WeChat(config), config.hub_clients)


_hub: Hub | None = None
_building = threading.Lock()


def app(environ: Mapping[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """``gunicorn wechat_middleware.hub:app``: the hub of the environment, built at the
    first request (in the worker, after gunicorn forked)."""
    global _hub
    if _hub is None:
        with _building:
            if _hub is None:
                _hub = from_env()
    return _hub(environ, start_response)


def _body(environ: Mapping[str, Any]) -> bytes | None:
    """The request body, or ``None`` when it is larger than any the hub takes."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > rules.MAX_BODY:
        return None
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
