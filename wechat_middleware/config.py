"""Configuration: one frozen dataclass, read from the environment by fixed names.

The environment names are a public contract (deployments and outside tests set them),
so they live in one table here. Secrets are excluded from ``repr`` and never appear
in an error message: a misconfigured app must not leak its secret into a log.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .protocol import OAUTH_EXCHANGES_PER_MINUTE, SCOPES, WECOM_SCOPES
from .urls import LOOPBACK_HOSTS

TOKEN_ENDPOINTS = ("stable", "classic")
PROTECT = ("all", "marked")
PROVIDERS = ("wechat", "wecom")
#: Where each provider's server API lives (docs/wechat-protocol.md section 2,
#: docs/wecom-and-qrconnect.md section 1.1).
API_BASES = {"wechat": "https://api.weixin.qq.com", "wecom": "https://qyapi.weixin.qq.com"}
DEFAULT_JSSDK_URL = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
#: WeCom's own JS-SDK (@wecom/jssdk), its browser build as WeCom's docs link it
#: (docs/wecom-and-qrconnect.md section 1.5): jweixin has no wx.agentConfig.
DEFAULT_WECOM_JSSDK_URL = "https://wwcdn.weixin.qq.com/node/open/js/wecom-jssdk-2.0.2.js"
MIN_SECRET_KEY_LENGTH = 32
MAKE_SECRET_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105

log = logging.getLogger("wechat_middleware")


@dataclass(frozen=True)
class WeChatConfig:
    """Everything the library needs to know about one app: a WeChat Official Account
    (``provider="wechat"``) or a WeCom self-built app (``provider="wecom"``).

    A WeCom app keeps its corp id in ``app_id`` and the app's secret in ``app_secret``
    (``corp_id`` and ``corp_secret`` read them): WeCom puts the corp id wherever WeChat
    puts the AppID (the authorize URL's ``appid``, ``wx.config``'s ``appId``).
    """

    app_id: str
    app_secret: str = field(repr=False)
    provider: str = "wechat"
    agent_id: str | None = None  # WeCom: the app's AgentId
    encoding_aes_key: str | None = field(default=None, repr=False)  # encrypted callbacks
    desktop_login: bool = False  # WeCom: browsers outside WeCom go to WeCom's web login
    token: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    scope: str = "snsapi_base"
    verify_path: str = "/wechat/verify"
    callback_path: str = "/wechat/oauth-callback"
    login_path: str = "/wechat/login"
    jssdk_path: str = "/wechat/jssdk"  # the helper script, its config and report endpoints
    logout_path: str = "/wechat/logout"
    protect: str = "all"  # "all" pages (minus exclude) or only "marked" routes need a login
    web_app_id: str | None = None  # an Open Platform website app: desktop QR login
    web_app_secret: str | None = field(default=None, repr=False)
    public_url: str | None = None
    # Hosts whose Host header URLs may be built on, without public_url (Django's
    # ALLOWED_HOSTS rules); None: this machine's names only (LOOPBACK_HOSTS).
    allowed_hosts: tuple[str, ...] | None = None
    store: str | None = field(default=None, repr=False)  # a Redis URL may hold a password
    api_base: str = ""  # the provider's (API_BASES) unless set
    open_base: str = "https://open.weixin.qq.com"
    login_base: str = "https://login.work.weixin.qq.com"  # WeCom's web (QR) login
    token_endpoint: str = "stable"  # noqa: S105 - a mode name, not a secret
    timeout: float = 5.0
    refresh_margin: float = 180.0
    url_cache_size: int = 1024
    exclude: tuple[str, ...] = ("/static/",)
    include_wxwork: bool = False
    login_required_outside_wechat: bool = False
    session_cookie: str = "wechat_session"
    session_max_age: int = 7 * 86400
    jssdk_url: str = DEFAULT_JSSDK_URL
    wecom_jssdk_url: str = DEFAULT_WECOM_JSSDK_URL  # WeCom: the helper's SDK (window.ww)
    login_rate_per_client: int = 20  # OAuth code exchanges a minute from one address (/64)
    login_rate_total: int = OAUTH_EXCHANGES_PER_MINUTE  # ... in all (WeChat's); 0: off

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ConfigError(
                f"WECHAT_PROVIDER must be one of {', '.join(PROVIDERS)}, got {self.provider!r}"
            )
        wecom = self.provider == "wecom"
        _require_text("WECHAT_CORP_ID" if wecom else "WECHAT_APP_ID", self.app_id, max_len=64)
        _require_text(
            "WECHAT_CORP_SECRET" if wecom else "WECHAT_APP_SECRET",
            self.app_secret,
            secret=True,
            max_len=128,
        )
        if wecom:
            self._check_wecom()
        elif self.agent_id is not None or self.desktop_login:
            raise ConfigError(
                "WECHAT_AGENT_ID and WECHAT_DESKTOP_LOGIN are WeCom settings: set "
                "WECHAT_PROVIDER=wecom (an Official Account's desktop login is "
                "WECHAT_WEB_APP_ID and WECHAT_WEB_APP_SECRET)"
            )
        if self.encoding_aes_key is not None:
            self._check_encoding_aes_key()
        if not self.api_base:
            object.__setattr__(self, "api_base", API_BASES[self.provider])
        if self.token is not None:
            _require_text("WECHAT_TOKEN", self.token, secret=True, max_len=128)
        if self.secret_key is not None:
            _require_text("WECHAT_SECRET_KEY", self.secret_key, secret=True, max_len=4096)
            if len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
                raise ConfigError(
                    f"WECHAT_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters: "
                    "a short key can be guessed and a session forged. Make one with: "
                    + MAKE_SECRET_KEY
                )
        if self.scope not in self.scopes:
            raise ConfigError(
                f"WECHAT_SCOPE must be one of {', '.join(self.scopes)}, got {self.scope!r}"
            )
        if self.token_endpoint not in TOKEN_ENDPOINTS:
            raise ConfigError(
                f"WECHAT_TOKEN_ENDPOINT must be one of {', '.join(TOKEN_ENDPOINTS)}, "
                f"got {self.token_endpoint!r}"
            )
        for name, path in (
            ("WECHAT_VERIFY_PATH", self.verify_path),
            ("WECHAT_CALLBACK_PATH", self.callback_path),
            ("WECHAT_LOGIN_PATH", self.login_path),
            ("WECHAT_JSSDK_PATH", self.jssdk_path),
            ("WECHAT_LOGOUT_PATH", self.logout_path),
        ):
            if not path.startswith("/") or path.startswith("//") or "?" in path or "#" in path:
                raise ConfigError(f"{name} must be a path starting with '/', got {path!r}")
        if len({self.verify_path, self.callback_path, self.login_path, self.logout_path}) < 4:
            raise ConfigError(
                "WECHAT_VERIFY_PATH, WECHAT_CALLBACK_PATH, WECHAT_LOGIN_PATH and "
                "WECHAT_LOGOUT_PATH must differ"
            )
        if self.protect not in PROTECT:
            raise ConfigError(
                f"WECHAT_PROTECT must be one of {', '.join(PROTECT)}, got {self.protect!r}"
            )
        if (self.web_app_id is None) != (self.web_app_secret is None):
            raise ConfigError(
                "WECHAT_WEB_APP_ID and WECHAT_WEB_APP_SECRET go together: the website app's "
                "AppID and AppSecret (WeChat Open Platform), for desktop QR login"
            )
        if self.web_app_id is not None:
            _require_text("WECHAT_WEB_APP_ID", self.web_app_id, max_len=64)
            _require_text("WECHAT_WEB_APP_SECRET", self.web_app_secret, secret=True, max_len=128)
        if self.jssdk_path.endswith("/") or self.jssdk_path in {
            self.verify_path,
            self.callback_path,
            self.login_path,
        }:
            raise ConfigError(
                "WECHAT_JSSDK_PATH must be a path of its own without a trailing '/', "
                f"got {self.jssdk_path!r}"
            )
        object.__setattr__(self, "api_base", _base_url("WECHAT_API_BASE", self.api_base))
        object.__setattr__(self, "open_base", _base_url("WECHAT_OPEN_BASE", self.open_base))
        object.__setattr__(self, "login_base", _base_url("WECHAT_LOGIN_BASE", self.login_base))
        if self.public_url is not None:
            object.__setattr__(self, "public_url", _base_url("WECHAT_PUBLIC_URL", self.public_url))
            _explain_public_path(self.public_url)
        if self.allowed_hosts is not None:
            object.__setattr__(self, "allowed_hosts", _allowed_hosts(self.allowed_hosts))
        for name, number in (
            ("WECHAT_TIMEOUT", self.timeout),
            ("WECHAT_REFRESH_MARGIN", self.refresh_margin),
        ):
            if not (0 < number <= 3600):
                raise ConfigError(
                    f"{name} must be a number of seconds above 0 and at most 3600, got {number!r}"
                )
        for prefix in self.exclude:
            if not prefix.startswith("/"):
                raise ConfigError(
                    f"WECHAT_EXCLUDE entries are path prefixes starting with '/', got {prefix!r} "
                    f"(write /{prefix.lstrip('/')})"
                )
        if self.url_cache_size < 1:
            raise ConfigError("url_cache_size must be positive")
        for name, rate in (
            ("WECHAT_LOGIN_RATE_PER_CLIENT", self.login_rate_per_client),
            ("WECHAT_LOGIN_RATE_TOTAL", self.login_rate_total),
        ):
            if not (isinstance(rate, int) and 0 <= rate <= 10**7):
                raise ConfigError(
                    f"{name} must be a whole number of logins a minute (0 for no limit), "
                    f"got {rate!r}"
                )
        if self.session_max_age < 1:
            raise ConfigError(
                f"WECHAT_SESSION_MAX_AGE must be a positive number of seconds, "
                f"got {self.session_max_age!r}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> WeChatConfig:
        """Read the ``WECHAT_*`` variables; keyword arguments win over the environment.

        Missing required values and malformed ones raise :class:`ConfigError` naming
        the variable, so a deployment fails at start-up rather than at the first login.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (attr, parse) in _ENV.items():
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[attr] = parse(raw.strip())
            except ValueError:
                raise ConfigError(
                    f"{name} is malformed: {_describe(name, raw)}; expected {_EXPECTED[name]}"
                ) from None
        values.update(overrides)
        required: tuple[tuple[str, str], ...]
        corp: dict[str, Any] = {
            name: values.pop(name) for name in ("corp_id", "corp_secret") if name in values
        }
        if values.get("provider") == "wecom":
            _use_wecom_names(env, values, corp, overrides)
            required = (("app_id", "WECHAT_CORP_ID"), ("app_secret", "WECHAT_CORP_SECRET"))
            required += (("agent_id", "WECHAT_AGENT_ID"),)
        elif corp:
            raise ConfigError(
                "WECHAT_CORP_ID and WECHAT_CORP_SECRET are WeCom settings: set "
                "WECHAT_PROVIDER=wecom (an Official Account has WECHAT_APP_ID and "
                "WECHAT_APP_SECRET)"
            )
        else:
            required = (("app_id", "WECHAT_APP_ID"), ("app_secret", "WECHAT_APP_SECRET"))
        for attr, name in required:
            if not values.get(attr):
                raise ConfigError(f"{name} is required (set the environment variable)")
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
        return WECOM_SCOPES if self.is_wecom else SCOPES

    @property
    def app_key(self) -> str:
        """What names this app in store keys and the session cookie's salt: the AppID,
        or for WeCom the corp id and AgentId (each app of a corp has its own secret,
        token and tickets)."""
        return f"{self.app_id}.{self.agent_id}" if self.is_wecom else self.app_id

    def _check_wecom(self) -> None:
        if self.agent_id is None:
            raise ConfigError("WECHAT_AGENT_ID is required with WECHAT_PROVIDER=wecom")
        agent = str(self.agent_id)
        object.__setattr__(self, "agent_id", agent)
        if not (agent.isascii() and agent.isdigit() and len(agent) <= 20):
            raise ConfigError(
                f"WECHAT_AGENT_ID must be the app's AgentId, digits such as 1000002, got "
                f"{agent[:40]!r}"
            )
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


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _parse_prefixes(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


# name -> (attribute, parser); text is taken as it is, numbers and booleans are parsed
_ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "WECHAT_APP_ID": ("app_id", str),
    "WECHAT_APP_SECRET": ("app_secret", str),
    "WECHAT_PROVIDER": ("provider", str),
    "WECHAT_CORP_ID": ("corp_id", str),
    "WECHAT_CORP_SECRET": ("corp_secret", str),
    "WECHAT_AGENT_ID": ("agent_id", str),
    "WECHAT_ENCODING_AES_KEY": ("encoding_aes_key", str),
    "WECHAT_DESKTOP_LOGIN": ("desktop_login", _parse_bool),
    "WECHAT_LOGIN_BASE": ("login_base", str),
    "WECHAT_TOKEN": ("token", str),
    "WECHAT_SECRET_KEY": ("secret_key", str),
    "WECHAT_SCOPE": ("scope", str),
    "WECHAT_VERIFY_PATH": ("verify_path", str),
    "WECHAT_CALLBACK_PATH": ("callback_path", str),
    "WECHAT_LOGIN_PATH": ("login_path", str),
    "WECHAT_JSSDK_PATH": ("jssdk_path", str),
    "WECHAT_LOGOUT_PATH": ("logout_path", str),
    "WECHAT_PROTECT": ("protect", str),
    "WECHAT_WEB_APP_ID": ("web_app_id", str),
    "WECHAT_WEB_APP_SECRET": ("web_app_secret", str),
    "WECHAT_PUBLIC_URL": ("public_url", str),
    "WECHAT_ALLOWED_HOSTS": ("allowed_hosts", _parse_prefixes),
    "WECHAT_STORE": ("store", str),
    "WECHAT_API_BASE": ("api_base", str),
    "WECHAT_OPEN_BASE": ("open_base", str),
    "WECHAT_TOKEN_ENDPOINT": ("token_endpoint", str),
    "WECHAT_TIMEOUT": ("timeout", float),
    "WECHAT_REFRESH_MARGIN": ("refresh_margin", float),
    "WECHAT_EXCLUDE": ("exclude", _parse_prefixes),
    "WECHAT_INCLUDE_WXWORK": ("include_wxwork", _parse_bool),
    "WECHAT_LOGIN_OUTSIDE_WECHAT": ("login_required_outside_wechat", _parse_bool),
    "WECHAT_SESSION_MAX_AGE": ("session_max_age", int),
    "WECHAT_JSSDK_URL": ("jssdk_url", str),
    "WECHAT_WECOM_JSSDK_URL": ("wecom_jssdk_url", str),
    "WECHAT_LOGIN_RATE_PER_CLIENT": ("login_rate_per_client", int),
    "WECHAT_LOGIN_RATE_TOTAL": ("login_rate_total", int),
}
# What a valid value looks like, for the variables whose parser can refuse one.
_BOOLEAN = "true or false (also 1/0, yes/no)"
_EXPECTED = {
    "WECHAT_DESKTOP_LOGIN": _BOOLEAN,
    "WECHAT_TIMEOUT": "seconds as a number, e.g. 5 or 2.5",
    "WECHAT_REFRESH_MARGIN": "seconds as a number, e.g. 180",
    "WECHAT_INCLUDE_WXWORK": _BOOLEAN,
    "WECHAT_LOGIN_OUTSIDE_WECHAT": _BOOLEAN,
    "WECHAT_SESSION_MAX_AGE": "whole seconds, e.g. 604800 for 7 days",
    "WECHAT_LOGIN_RATE_PER_CLIENT": "logins a minute per address (or IPv6 /64), e.g. 20 (0: off)",
    "WECHAT_LOGIN_RATE_TOTAL": "logins a minute in all, e.g. 50000 (0: off)",
}
_SECRET_ENV = {
    "WECHAT_APP_SECRET",
    "WECHAT_CORP_SECRET",
    "WECHAT_TOKEN",
    "WECHAT_SECRET_KEY",
    "WECHAT_WEB_APP_SECRET",
    "WECHAT_ENCODING_AES_KEY",
}


def _use_wecom_names(
    env: Mapping[str, str],
    values: dict[str, Any],
    corp: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> None:
    """A WeCom app's id and secret come as ``WECHAT_CORP_ID`` and ``WECHAT_CORP_SECRET``
    (``corp_id=``/``corp_secret=``); an Official Account's names are refused, not mixed."""
    for attr, key, wechat_name in (
        ("app_id", "corp_id", "WECHAT_APP_ID"),
        ("app_secret", "corp_secret", "WECHAT_APP_SECRET"),
    ):
        if key in corp:
            values[attr] = corp[key]
        elif attr not in overrides and (env.get(wechat_name) or "").strip():
            raise ConfigError(
                f"WECHAT_PROVIDER=wecom reads WECHAT_{key.upper()} (WeCom's corp id and the "
                f"app's secret), not {wechat_name}"
            )


def _describe(name: str, raw: str) -> str:
    return "(value hidden)" if name in _SECRET_ENV else repr(raw[:80])


def _require_text(name: str, value: object, *, secret: bool = False, max_len: int) -> None:
    shown = "(value hidden)" if secret else repr(value)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty string")
    if len(value) > max_len or not value.isprintable() or any(c.isspace() for c in value):
        raise ConfigError(
            f"{name} must be at most {max_len} printable characters without spaces: {shown}"
        )


def _explain_public_path(public_url: str) -> None:
    """A path in the public URL is the prefix a proxy strips: say so, once per config."""
    path = urlsplit(public_url).path
    if path:
        log.warning(
            "WECHAT_PUBLIC_URL has the path %r: URLs are built as %s + the path the app "
            "sees, which suits a proxy that strips %s before the app; if your server passes "
            "that prefix as SCRIPT_NAME or root_path instead, drop it from WECHAT_PUBLIC_URL",
            path,
            public_url,
            path,
        )


_HOST_PATTERN = re.compile(r"\*|\.?[a-z0-9-]+(\.[a-z0-9-]+)*\.?|\[[0-9a-f:.]{2,45}\]")


def _allowed_hosts(hosts: tuple[str, ...] | list[str] | str) -> tuple[str, ...]:
    """``WECHAT_ALLOWED_HOSTS`` as Django's ``ALLOWED_HOSTS`` is written, lower-cased."""
    if isinstance(hosts, str):  # "a.example,b.example", given in code
        hosts = _parse_prefixes(hosts)
    checked = tuple(str(host).strip().lower() for host in hosts)
    for host in checked:
        if not _HOST_PATTERN.fullmatch(host):
            raise ConfigError(
                "WECHAT_ALLOWED_HOSTS lists host names as the browser's Host header has "
                "them, without scheme, port or path (shop.example.com; .example.com for it "
                f"and its subdomains; [::1]; * for any), got {host[:80]!r}"
            )
    return checked


def _base_url(name: str, value: str) -> str:
    """Validate an ``http(s)://host[:port][/prefix]`` URL and drop a trailing slash."""
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
