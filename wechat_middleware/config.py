"""Configuration: one frozen dataclass whose class body is the table of settings.

Each setting is one line below (:mod:`.settings`): its environment name, which is a
public contract (deployments and outside tests set it), its type, default, check and
whether it is a secret. Secrets are excluded from ``repr`` and never appear in an error
message: a misconfigured app must not leak its secret into a log. What one setting
cannot check alone (pairs, paths that must differ, WeCom's own rules) is checked after.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .errors import ConfigError
from .protocol import OAUTH_EXCHANGES_PER_MINUTE
from .provider import PROVIDERS
from .settings import (
    FLAG,
    PATH,
    PATH_PREFIXES,
    SECRET,
    Kind,
    check_text,
    comma_list,
    count,
    one_of,
    read,
    seconds,
    setting,
    settings_of,
    text,
    unknown_names,
)
from .urls import LOOPBACK_HOSTS, parse_origin, wildcard_refusal

TOKEN_ENDPOINTS = ("stable", "classic")
PROTECT = ("all", "marked")
DEFAULT_JSSDK_URL = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
#: WeCom's own JS-SDK (@wecom/jssdk), its browser build as WeCom's docs link it
#: (docs/wecom-and-qrconnect.md section 1.5): jweixin has no wx.agentConfig.
DEFAULT_WECOM_JSSDK_URL = "https://wwcdn.weixin.qq.com/node/open/js/wecom-jssdk-2.0.2.js"
MIN_SECRET_KEY_LENGTH = 32
MAKE_SECRET_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105
RATE = "a whole number of logins a minute (0 for no limit)"

log = logging.getLogger("wechat_middleware")
_Config = TypeVar("_Config", bound="WeChatConfig")


def _secret_key(name: str, value: Any) -> str:
    key: str = check_text(4096, secret=True)(name, value)
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"{name} must be at least {MIN_SECRET_KEY_LENGTH} characters: a short key can be "
            "guessed and a session forged. Make one with: " + MAKE_SECRET_KEY
        )
    return key


def _agent_id(name: str, value: Any) -> str:
    agent = str(value)
    if not (agent.isascii() and agent.isdigit() and len(agent) <= 20):
        raise ConfigError(
            f"{name} must be the app's AgentId, digits such as 1000002, got {agent[:40]!r}"
        )
    return agent


def _base_url(name: str, given: Any) -> str:
    """An ``http(s)://host[:port][/prefix]`` URL, without a trailing slash."""
    value = str(given)
    # The value is echoed only when it cannot hold credentials ("user:pw@host").
    shown = "(value hidden)" if "@" in value else repr(value[:200])
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced "[" of an IPv6 host
        raise ConfigError(f"{name} must be an http:// or https:// URL, got {shown}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http:// or https:// URL, got {shown}")
    if not value.isascii():
        raise ConfigError(
            f"{name} must be ASCII: write an internationalised host in punycode (xn--...)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{name} must not carry a query, fragment or credentials")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"{name} has an invalid port: {shown}") from None
    return value.rstrip("/")


def _public_url(name: str, value: Any) -> str:
    """A path in the public URL is the prefix a proxy strips: say so, once per config."""
    public_url = _base_url(name, value)
    prefix = urlsplit(public_url).path
    if prefix:
        log.warning(
            "%s has the path %r: URLs are built as %s + the path the app sees, which suits "
            "a proxy that strips %s before the app; if your server passes that prefix as "
            "SCRIPT_NAME or root_path instead, drop it from %s",
            name,
            prefix,
            public_url,
            prefix,
            name,
        )
    return public_url


_HOST_PATTERN = re.compile(r"\*|\.?[a-z0-9-]+(\.[a-z0-9-]+)*\.?|\[[0-9a-f:.]{2,45}\]")


def _allowed_hosts(name: str, hosts: Any) -> tuple[str, ...]:
    """Host names as Django's ``ALLOWED_HOSTS`` is written, lower-cased."""
    if isinstance(hosts, str):  # "a.example,b.example", given in code
        hosts = comma_list(hosts)
    checked = tuple(str(host).strip().lower() for host in hosts)
    for host in checked:
        if not _HOST_PATTERN.fullmatch(host):
            raise ConfigError(
                f"{name} lists host names as the browser's Host header has them, without "
                "scheme, port or path (shop.example.com; .example.com for it and its "
                f"subdomains; [::1]; * for any), got {host[:80]!r}"
            )
    return checked


_CLIENT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIN_HUB_KEY_LENGTH = 16


def hub_clients(name: str, given: Any) -> tuple[tuple[str, str], ...]:
    """The hub's clients as ``(name, key)`` pairs, from ``name:key,...`` (or a mapping)."""
    pairs = given.items() if isinstance(given, Mapping) else given
    if isinstance(given, str):
        pairs = [entry.partition(":")[::2] for entry in comma_list(given)]
    clients = tuple((str(client), str(key)) for client, key in pairs)
    for client, key in clients:
        if not _CLIENT_NAME.fullmatch(client):
            raise ConfigError(
                f"{name} is `name:key,name2:key2`; a name is 1-64 letters, digits, '.', "
                f"'_' or '-', got {client[:64]!r}"
            )
        if len(key) < MIN_HUB_KEY_LENGTH:
            raise ConfigError(
                f"{name}: the key of {client!r} must be at least {MIN_HUB_KEY_LENGTH} "
                "characters: a short key can be guessed. Make one with: " + MAKE_SECRET_KEY
            )
        check_text(128, secret=True)(f"{name} ({client!r}'s key)", key)
    if len({client for client, _ in clients}) < len(clients) or not clients:
        raise ConfigError(f"{name} names each client once, and at least one")
    return clients


def _address(name: str, value: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise ConfigError(
            f"{name} must be an IP address of this host, got {str(value)[:64]!r}"
        ) from None


def _origin(name: str, value: Any) -> str:
    origin = parse_origin(str(value))
    if origin is None:
        raise ConfigError(
            f"{name} must be an origin, http(s)://host[:port] without a path, "
            f"got {str(value)[:200]!r}"
        )
    return origin


def _relay_for(name: str, given: Any) -> tuple[str, ...]:
    """The origins a relay serves: exact, or ``*`` for one label at the far left."""
    entries = comma_list(given) if isinstance(given, str) else tuple(map(str, given))
    origins = []
    for entry in entries:
        origin = parse_origin(entry, wildcard=True)
        if origin is None:
            raise ConfigError(
                f"{name} lists origins, http(s)://host[:port] or http(s)://*.domain[:port] "
                f"(one '*' label at the far left, no path), got {entry[:200]!r}"
            )
        refusal = wildcard_refusal(origin)
        if refusal is not None:
            raise ConfigError(f"{name}: {refusal} ({entry[:200]!r})")
        origins.append(origin)
    if not origins:
        raise ConfigError(f"{name} lists at least one origin")
    return tuple(origins)


AGENT_ID = Kind(check=_agent_id)
SECRET_KEY = Kind(check=_secret_key, secret=True)
URL = Kind(check=_base_url)
PUBLIC_URL = Kind(check=_public_url)
HOSTS = Kind(comma_list, check=_allowed_hosts)
HUB_CLIENTS = Kind(check=hub_clients, secret=True)
SECONDS = seconds("seconds as a number, e.g. 5 or 2.5")


@dataclass(frozen=True)
class WeChatConfig:
    """Everything the library needs to know about one app: a WeChat Official Account
    (``provider="wechat"``) or a WeCom self-built app (``provider="wecom"``).

    A WeCom app keeps its corp id in ``app_id`` and the app's secret in ``app_secret``
    (``corp_id`` and ``corp_secret`` read them): WeCom puts the corp id wherever WeChat
    puts the AppID (the authorize URL's ``appid``, ``wx.config``'s ``appId``).
    """

    app_id: str = setting(
        "WECHAT_APP_ID",
        doc="the Official Account's AppID; a WeCom app's corp id (企业ID)",
        kind=text(64),
        wecom_env="WECHAT_CORP_ID",
    )
    app_secret: str = setting(
        "WECHAT_APP_SECRET",
        doc="the AppSecret; a WeCom app's own Secret",
        kind=text(128, secret=True),
        wecom_env="WECHAT_CORP_SECRET",
    )
    # Checked first, by __post_init__: the other settings' names depend on it.
    provider: str = setting(
        "WECHAT_PROVIDER",
        "wechat",
        "`wechat` (an Official Account) or `wecom` (a WeCom self-built app: see the WeCom guide)",
    )
    agent_id: str | None = setting(
        "WECHAT_AGENT_ID", None, "WeCom: the app's AgentId, required there", AGENT_ID
    )
    encoding_aes_key: str | None = setting(
        "WECHAT_ENCODING_AES_KEY",
        None,
        "with `WECHAT_TOKEN`, opens encrypted callbacks (WeCom, safe mode)",
        SECRET,
    )
    desktop_login: bool = setting(
        "WECHAT_DESKTOP_LOGIN", False, "WeCom: browsers outside WeCom go to its web login", FLAG
    )
    token: str | None = setting(
        "WECHAT_TOKEN",
        None,
        "the server check's Token; unset, the verify path answers 403",
        text(128, secret=True),
    )
    secret_key: str | None = setting(
        "WECHAT_SECRET_KEY",
        None,
        "signs the session cookie: required by the middleware (`WeChat.from_env()`), "
        "at least 32 characters",
        SECRET_KEY,
    )
    scope: str = setting(
        "WECHAT_SCOPE",
        "snsapi_base",
        "`snsapi_userinfo` asks consent (WeCom: `snsapi_privateinfo`)",
    )
    verify_path: str = setting(
        "WECHAT_VERIFY_PATH", "/wechat/verify", "WeChat's server check (and pushes)", PATH
    )
    callback_path: str = setting(
        "WECHAT_CALLBACK_PATH",
        "/wechat/oauth-callback",
        "where WeChat's OAuth sends the user back",
        PATH,
    )
    login_path: str = setting(
        "WECHAT_LOGIN_PATH", "/wechat/login", "starts a login (`?next=/path`)", PATH
    )
    jssdk_path: str = setting(
        "WECHAT_JSSDK_PATH", "/wechat/jssdk", "the helper script, its config and report", PATH
    )
    logout_path: str = setting(
        "WECHAT_LOGOUT_PATH", "/wechat/logout", "forgets the user (`POST`)", PATH
    )
    protect: str = setting(
        "WECHAT_PROTECT",
        "all",
        "`all`: every page but `exclude` logs in; `marked`: only marked routes",
        one_of(*PROTECT),
    )
    web_app_id: str | None = setting(
        "WECHAT_WEB_APP_ID",
        None,
        "an Open Platform website app's AppID: desktop QR login",
        text(64),
    )
    web_app_secret: str | None = setting(
        "WECHAT_WEB_APP_SECRET",
        None,
        "the website app's AppSecret (set both)",
        text(128, secret=True),
    )
    public_url: str | None = setting(
        "WECHAT_PUBLIC_URL",
        None,
        "the public origin URLs are built on; unset, the request's (a host of `allowed_hosts`)",
        PUBLIC_URL,
    )
    allowed_hosts: tuple[str, ...] | None = setting(
        "WECHAT_ALLOWED_HOSTS",
        None,
        "without `public_url`, the hosts whose Host header a signature or a "
        "`redirect_uri` may be built on, comma-separated as Django's `ALLOWED_HOSTS` "
        "(`.example.com`: it and its subdomains; `*`: any); unset: this machine's names "
        "(`localhost` and its subdomains, `127.0.0.1`, `[::1]`). Django uses its "
        "`ALLOWED_HOSTS` instead",
        HOSTS,
    )
    store: str | None = setting(
        "WECHAT_STORE",
        None,
        "where tokens and tickets are kept (`memory://`, `sqlite:///...`, `redis://...`); "
        "unset: `sqlite:///` file `tokens.sqlite3` in `$XDG_STATE_HOME/wechat_middleware/` "
        "(`~/.local/state/...`), a directory only this user can open",
        SECRET,  # a Redis URL may hold a password
    )
    api_base: str = setting(
        "WECHAT_API_BASE",
        "",
        "the server API; unset: `https://api.weixin.qq.com` (WeCom: `https://qyapi.weixin.qq.com`)",
        URL,
    )
    open_base: str = setting(
        "WECHAT_OPEN_BASE", "https://open.weixin.qq.com", "WeChat's OAuth pages", URL
    )
    login_base: str = setting(
        "WECHAT_LOGIN_BASE", "https://login.work.weixin.qq.com", "WeCom's web (QR) login", URL
    )
    token_endpoint: str = setting(
        "WECHAT_TOKEN_ENDPOINT",
        "stable",
        "`stable` or `classic`: the access token's endpoint",
        one_of(*TOKEN_ENDPOINTS),
    )
    timeout: float = setting("WECHAT_TIMEOUT", 5.0, "seconds per WeChat call", SECONDS)
    refresh_margin: float = setting(
        "WECHAT_REFRESH_MARGIN",
        180.0,
        "seconds before expiry a token or ticket is renewed",
        SECONDS,
    )
    page_wait: float = setting(
        "WECHAT_PAGE_WAIT",
        0.5,
        "seconds a page waits for a jsapi ticket being fetched (from when the fetch "
        "began); then it renders without a signature",
        seconds("seconds as a number, e.g. 0.5", zero=True),
    )
    url_cache_size: int = setting(
        None, 1024, "signed URLs kept per process", count(1, "a positive whole number")
    )
    exclude: tuple[str, ...] = setting(
        "WECHAT_EXCLUDE", ("/static/",), "path prefixes the middleware leaves alone", PATH_PREFIXES
    )
    include_wxwork: bool = setting(
        "WECHAT_INCLUDE_WXWORK", False, "WeCom's browser logs in as WeChat's does", FLAG
    )
    login_required_outside_wechat: bool = setting(
        "WECHAT_LOGIN_OUTSIDE_WECHAT", False, "browsers outside WeChat are sent to log in too", FLAG
    )
    session_cookie: str = setting(
        None, "wechat_session", "the cookie's name (e.g. `__Host-wechat_session` on https)"
    )
    session_max_age: int = setting(
        "WECHAT_SESSION_MAX_AGE",
        7 * 86400,
        "seconds a login lasts (7 days), counted from the login with WeChat (a cookie "
        "the middleware signs again keeps that time)",
        count(1, "a positive number of seconds", "whole seconds, e.g. 604800 for 7 days"),
    )
    jssdk_url: str = setting(
        "WECHAT_JSSDK_URL", DEFAULT_JSSDK_URL, "the JS-SDK script the helper loads"
    )
    wecom_jssdk_url: str = setting(
        "WECHAT_WECOM_JSSDK_URL",
        DEFAULT_WECOM_JSSDK_URL,
        "WeCom's own SDK, the helper's in a WeCom app",
    )
    login_rate_per_client: int = setting(
        "WECHAT_LOGIN_RATE_PER_CLIENT",
        20,
        "OAuth code exchanges a minute from one client: an IPv4 address or an IPv6 /64 "
        "(0: no limit)",
        count(0, RATE, "logins a minute per address (or IPv6 /64), e.g. 20 (0: off)", 10**7),
    )
    login_rate_total: int = setting(
        "WECHAT_LOGIN_RATE_TOTAL",
        OAUTH_EXCHANGES_PER_MINUTE,
        "OAuth code exchanges a minute in all, WeChat's own limit on "
        "`sns/oauth2/access_token` (0: no limit)",
        count(0, RATE, "logins a minute in all, e.g. 50000 (0: off)", 10**7),
    )
    token_hub: str | None = setting(
        "WECHAT_TOKEN_HUB",
        None,
        "a follower: the token hub's URL; the token and tickets come from it, never from "
        "WeChat (OAuth still does, with the app secret)",
        URL,
    )
    hub_key: str | None = setting(
        "WECHAT_HUB_KEY",
        None,
        "a follower's client key, one of the hub's `WECHAT_HUB_CLIENTS`",
        text(128, secret=True),
    )
    hub_clients: tuple[tuple[str, str], ...] | None = setting(
        "WECHAT_HUB_CLIENTS",
        None,
        "the hub's clients, `name:key,name2:key2` (keys of at least 16 characters, none "
        "the app secret): a client gives its key as the secret",
        HUB_CLIENTS,
    )
    source_address: str | None = setting(
        "WECHAT_SOURCE_ADDRESS",
        None,
        "the local address calls to WeChat (or the hub) leave from, on a host with several: "
        "the one on WeChat's IP whitelist",
        Kind(check=_address),
    )

    relay_for: tuple[str, ...] | None = setting(
        "WECHAT_RELAY_FOR",
        None,
        "an OAuth relay (on the account's OAuth domain): the origins it logs in for, "
        "comma-separated, `https://staging.example.com` or `https://*.preview.example.com` "
        "(one `*` label at the left; scheme and port exact)",
        Kind(comma_list, check=_relay_for),
    )
    oauth_relay: str | None = setting(
        "WECHAT_OAUTH_RELAY",
        None,
        "a relay's target: the relay's origin; logins go through it",
        Kind(check=_origin),
    )
    relay_key: str | None = setting(
        "WECHAT_RELAY_KEY",
        None,
        "the key a target redeems its relay tickets with, the same on both sides "
        "(at least 32 characters)",
        SECRET_KEY,
    )

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ConfigError(
                f"WECHAT_PROVIDER must be one of {', '.join(PROVIDERS)}, got {self.provider!r}"
            )
        if not self.api_base:
            object.__setattr__(self, "api_base", PROVIDERS[self.provider].api_base)
        for spec in settings_of(type(self)):
            value, check = getattr(self, spec.attr), spec.kind.check
            if check is not None and (value is not None or spec.default is not None):
                object.__setattr__(self, spec.attr, check(spec.name(self.is_wecom), value))
        if self.is_wecom:
            self._check_wecom()
        elif self.agent_id is not None or self.desktop_login:
            raise ConfigError(
                "WECHAT_AGENT_ID and WECHAT_DESKTOP_LOGIN are WeCom settings: set "
                "WECHAT_PROVIDER=wecom (an Official Account's desktop login is "
                "WECHAT_WEB_APP_ID and WECHAT_WEB_APP_SECRET)"
            )
        if self.encoding_aes_key is not None:
            self._check_encoding_aes_key()
        if self.scope not in self.scopes:
            raise ConfigError(
                f"WECHAT_SCOPE must be one of {', '.join(self.scopes)}, got {self.scope!r}"
            )
        if len({self.verify_path, self.callback_path, self.login_path, self.logout_path}) < 4:
            raise ConfigError(
                "WECHAT_VERIFY_PATH, WECHAT_CALLBACK_PATH, WECHAT_LOGIN_PATH and "
                "WECHAT_LOGOUT_PATH must differ"
            )
        if self.jssdk_path.endswith("/") or self.jssdk_path in {
            self.verify_path,
            self.callback_path,
            self.login_path,
        }:
            raise ConfigError(
                "WECHAT_JSSDK_PATH must be a path of its own without a trailing '/', "
                f"got {self.jssdk_path!r}"
            )
        self._check_hub()
        self._check_relay()
        if (self.web_app_id is None) != (self.web_app_secret is None):
            raise ConfigError(
                "WECHAT_WEB_APP_ID and WECHAT_WEB_APP_SECRET go together: the website app's "
                "AppID and AppSecret (WeChat Open Platform), for desktop QR login"
            )

    @classmethod
    def from_env(
        cls: type[_Config], environ: Mapping[str, Any] | None = None, **overrides: Any
    ) -> _Config:
        """Read the ``WECHAT_*`` variables; keyword arguments win over the environment.

        Missing required values (all of them at once) and malformed ones raise
        :class:`ConfigError` naming the variables, so a deployment fails at start-up
        rather than at the first login. A ``WECHAT_*`` name no setting reads is logged
        (a WARNING with the closest setting's name), not refused: other tools share
        the prefix.
        A value of ``environ`` that is not text (Django's settings laid over the
        environment) is taken as it is and checked as a keyword argument is.
        A WeCom app's id and secret come as ``WECHAT_CORP_ID`` and ``WECHAT_CORP_SECRET``
        (``corp_id=``/``corp_secret=``); an Official Account's names are refused for it,
        not mixed, and the other way round.
        """
        table = settings_of(cls)
        given = os.environ if environ is None else environ
        for warning in unknown_names(table, given):
            log.warning("%s", warning)
        found = read(table, given)
        wecom = overrides.get("provider", found.get("WECHAT_PROVIDER")) == "wecom"
        values: dict[str, Any] = {}
        for spec in table:
            own, other = spec.name(wecom), spec.name(not wecom)
            if spec.wecom_env and spec.wecom_keyword in overrides:
                if not wecom:
                    raise ConfigError(_wecom_only(spec.wecom_env, own))
                overrides[spec.attr] = overrides.pop(spec.wecom_keyword)
            if own in found:
                values[spec.attr] = found[own]
            if other == own or other not in found:
                continue
            if not wecom:
                raise ConfigError(_wecom_only(other, own))
            if own not in found and spec.attr not in overrides:
                raise ConfigError(
                    f"WECHAT_PROVIDER=wecom reads {own} (WeCom's corp id and the app's "
                    f"secret), not {other}"
                )
        values.update(overrides)
        missing = [s.name(wecom) for s in table if s.default is MISSING and not values.get(s.attr)]
        if missing:
            raise ConfigError(_missing(missing, needs_key=not values.get("secret_key")))
        return cls(**values)

    @classmethod
    def for_wecom(
        cls, corp_id: str, corp_secret: str, agent_id: str | int, **settings: Any
    ) -> WeChatConfig:
        """A WeCom self-built app's config: the corp id, the app's secret and AgentId."""
        return cls(corp_id, corp_secret, provider="wecom", agent_id=str(agent_id), **settings)

    @property
    def is_wecom(self) -> bool:
        return self.provider == "wecom"

    @property
    def corp_id(self) -> str:
        """WeCom's CorpID (the same value as ``app_id``)."""
        return self.app_id

    @property
    def jssdk_paths(self) -> tuple[str, str, str]:
        """The browser helper's config endpoint, script and report endpoint, in that
        order (all under ``jssdk_path``)."""
        base = self.jssdk_path
        return base + "/config", base + "/wechat.js", base + "/report"

    @property
    def served_hosts(self) -> tuple[str, ...]:
        """The hosts a request's Host header may name for a URL to be built on it (when
        ``public_url`` is not set): ``allowed_hosts``, else this machine's names."""
        return LOOPBACK_HOSTS if self.allowed_hosts is None else self.allowed_hosts

    @property
    def scopes(self) -> tuple[str, ...]:
        """The OAuth scopes this provider knows (``WECHAT_SCOPE``, ``?scope=`` to log in)."""
        return PROVIDERS[self.provider].scopes

    @property
    def app_key(self) -> str:
        """What names this app in store keys and the session cookie's salt: the AppID,
        or for WeCom the corp id and AgentId (each app of a corp has its own secret,
        token and tickets)."""
        return f"{self.app_id}.{self.agent_id}" if self.is_wecom else self.app_id

    def _check_wecom(self) -> None:
        if self.agent_id is None:
            raise ConfigError("WECHAT_AGENT_ID is required with WECHAT_PROVIDER=wecom")
        if self.web_app_id is not None:
            raise ConfigError(
                "WECHAT_WEB_APP_ID is an Official Account setting; a WeCom app's desktop "
                "login is WECHAT_DESKTOP_LOGIN=true"
            )
        if self.token_endpoint != "stable":  # noqa: S105 - a mode name
            raise ConfigError(
                "WECHAT_TOKEN_ENDPOINT is an Official Account setting; WeCom has one "
                "token endpoint (gettoken)"
            )
        if self.include_wxwork:
            raise ConfigError(
                "WECHAT_INCLUDE_WXWORK is an Official Account setting: with "
                "WECHAT_PROVIDER=wecom, WeCom's browser is the one logged in"
            )

    def _check_hub(self) -> None:
        if (self.token_hub is None) != (self.hub_key is None):
            raise ConfigError(
                "WECHAT_TOKEN_HUB and WECHAT_HUB_KEY go together: the hub's URL and this "
                "host's client key there"
            )
        if self.hub_clients is None:
            return
        if self.token_hub is not None:
            raise ConfigError(
                "WECHAT_HUB_CLIENTS (a hub) and WECHAT_TOKEN_HUB (a follower) exclude each "
                "other: a hub gets its token from WeChat"
            )
        if any(key == self.app_secret for _, key in self.hub_clients):
            raise ConfigError(
                "WECHAT_HUB_CLIENTS: a client key must not be the app secret, which the "
                "hub's clients never see"
            )

    def _check_relay(self) -> None:
        if self.relay_for is not None and self.oauth_relay is not None:
            raise ConfigError(
                "WECHAT_RELAY_FOR (a relay) and WECHAT_OAUTH_RELAY (a target) exclude each "
                "other: a relay talks to WeChat itself"
            )
        if (self.relay_for or self.oauth_relay) and not self.relay_key:
            which = "WECHAT_RELAY_FOR" if self.relay_for else "WECHAT_OAUTH_RELAY"
            raise ConfigError(
                f"{which} needs WECHAT_RELAY_KEY, the same on the relay and its targets: "
                "the proof a target gives when it redeems a ticket. Make one with: "
                + MAKE_SECRET_KEY
            )
        if self.relay_key and not (self.relay_for or self.oauth_relay):
            raise ConfigError(
                "WECHAT_RELAY_KEY goes with WECHAT_RELAY_FOR (a relay) or WECHAT_OAUTH_RELAY "
                "(a target)"
            )
        if self.relay_key and self.relay_key in (self.secret_key, self.app_secret):
            raise ConfigError(
                "WECHAT_RELAY_KEY must be a key of its own, not WECHAT_SECRET_KEY or the "
                "app secret: the relay's targets hold it"
            )
        ours = {self.verify_path, self.login_path, self.logout_path, *self.jssdk_paths}
        if self.relay_key and ours & set(self.relay_paths):
            raise ConfigError(
                f"the relay's paths ({self.relay_path}/...) must not be one of "
                "WECHAT_VERIFY_PATH, WECHAT_LOGIN_PATH, WECHAT_LOGOUT_PATH or WECHAT_JSSDK_PATH's"
            )
        if self.oauth_relay and self.public_url and urlsplit(self.public_url).path:
            raise ConfigError(
                "WECHAT_OAUTH_RELAY: the relay sends the browser back to the origin of "
                "WECHAT_PUBLIC_URL and the callback path; a public URL with a path is not "
                "supported with a relay"
            )

    @property
    def relay_path(self) -> str:
        """Where a relay answers (``/start``, ``/redeem``, ``/check``): ``relay`` beside
        the callback path (``/wechat/relay``), on the relay and its targets alike."""
        return self.callback_path.rsplit("/", 1)[0] + "/relay"

    @property
    def relay_paths(self) -> tuple[str, str, str]:
        """A relay's start, redeem and check endpoints, in that order."""
        base = self.relay_path
        return base + "/start", base + "/redeem", base + "/check"

    def _check_encoding_aes_key(self) -> None:
        """The callback cipher's key, and the ``crypto`` extra it needs, checked now."""
        if not self.token:
            raise ConfigError(
                "WECHAT_ENCODING_AES_KEY needs WECHAT_TOKEN: encrypted callbacks are "
                "signed with the Token and the EncodingAESKey of the same settings page"
            )
        from .crypto import MessageCrypto

        try:
            MessageCrypto(self.token, str(self.encoding_aes_key), self.app_id)
        except ConfigError as exc:
            raise ConfigError(f"WECHAT_ENCODING_AES_KEY: {exc}") from None
        except ImportError as exc:
            raise ConfigError(str(exc)) from None

    def require_middleware_settings(self) -> None:
        """Raise :class:`ConfigError` unless the middleware can run with this config.

        The middleware signs its session cookie (the OAuth user, the login in
        progress) with ``secret_key``; without one it cannot keep anyone logged in.
        """
        if not self.secret_key:
            raise ConfigError(
                "WECHAT_SECRET_KEY is required by the middleware: it signs the session cookie "
                "that keeps the OAuth user. Make one with: " + MAKE_SECRET_KEY
            )

    def replace(self, **changes: Any) -> WeChatConfig:
        """A copy with some settings changed (the dataclass is frozen)."""
        return dataclasses.replace(self, **changes)


def _wecom_only(name: str, own: str) -> str:
    return f"{name} is a WeCom setting: set WECHAT_PROVIDER=wecom (an Official Account has {own})"


def _missing(names: list[str], *, needs_key: bool) -> str:
    """Every required setting left unset, in one message: one run names them all (with
    the middleware's key, when that is unset too)."""
    if len(names) == 1:
        message = f"{names[0]} is required (set the environment variable)"
    else:
        listed = ", ".join(names[:-1]) + " and " + names[-1]
        message = f"{listed} are required (set the environment variables)"
    if needs_key:
        message += (
            "; the middleware also needs WECHAT_SECRET_KEY, the key that signs its session "
            "cookie. Make one with: " + MAKE_SECRET_KEY
        )
    return message
