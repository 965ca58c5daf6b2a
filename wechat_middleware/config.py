"""Configuration: one frozen dataclass, read from the environment by fixed names.

The environment names are a public contract (deployments and outside tests set them),
so they live in one table here. Secrets are excluded from ``repr`` and never appear
in an error message: a misconfigured app must not leak its secret into a log.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

SCOPES = ("snsapi_base", "snsapi_userinfo")
TOKEN_ENDPOINTS = ("stable", "classic")
DEFAULT_JSSDK_URL = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"


@dataclass(frozen=True)
class WeChatConfig:
    """Everything the library needs to know about one WeChat Official Account app."""

    app_id: str
    app_secret: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    scope: str = "snsapi_base"
    verify_path: str = "/wechat/verify"
    callback_path: str = "/wechat/oauth-callback"
    login_path: str = "/wechat/login"
    public_url: str | None = None
    store: str | None = field(default=None, repr=False)  # a Redis URL may hold a password
    api_base: str = "https://api.weixin.qq.com"
    open_base: str = "https://open.weixin.qq.com"
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

    def __post_init__(self) -> None:
        _require_text("WECHAT_APP_ID", self.app_id, max_len=64)
        _require_text("WECHAT_APP_SECRET", self.app_secret, secret=True, max_len=128)
        if self.token is not None:
            _require_text("WECHAT_TOKEN", self.token, secret=True, max_len=128)
        if self.secret_key is not None:
            _require_text("WECHAT_SECRET_KEY", self.secret_key, secret=True, max_len=4096)
        if self.scope not in SCOPES:
            raise ConfigError(
                f"WECHAT_SCOPE must be one of {', '.join(SCOPES)}, got {self.scope!r}"
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
        ):
            if not path.startswith("/") or path.startswith("//") or "?" in path or "#" in path:
                raise ConfigError(f"{name} must be a path starting with '/', got {path!r}")
        if len({self.verify_path, self.callback_path, self.login_path}) < 3:
            raise ConfigError(
                "WECHAT_VERIFY_PATH, WECHAT_CALLBACK_PATH and WECHAT_LOGIN_PATH must differ"
            )
        object.__setattr__(self, "api_base", _base_url("WECHAT_API_BASE", self.api_base))
        object.__setattr__(self, "open_base", _base_url("WECHAT_OPEN_BASE", self.open_base))
        if self.public_url is not None:
            object.__setattr__(self, "public_url", _base_url("WECHAT_PUBLIC_URL", self.public_url))
        for name, number in (
            ("WECHAT_TIMEOUT", self.timeout),
            ("WECHAT_REFRESH_MARGIN", self.refresh_margin),
        ):
            if not (0 < number <= 3600):
                raise ConfigError(f"{name} must be between 0 and 3600 seconds, got {number!r}")
        if self.url_cache_size < 1:
            raise ConfigError("url_cache_size must be positive")
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
                raise ConfigError(f"{name} is malformed: {_describe(name, raw)}") from None
        values.update(overrides)
        for attr, name in (("app_id", "WECHAT_APP_ID"), ("app_secret", "WECHAT_APP_SECRET")):
            if not values.get(attr):
                raise ConfigError(f"{name} is required (set the environment variable)")
        return cls(**values)

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


_ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "WECHAT_APP_ID": ("app_id", str),
    "WECHAT_APP_SECRET": ("app_secret", str),
    "WECHAT_TOKEN": ("token", str),
    "WECHAT_SECRET_KEY": ("secret_key", str),
    "WECHAT_SCOPE": ("scope", str),
    "WECHAT_VERIFY_PATH": ("verify_path", str),
    "WECHAT_CALLBACK_PATH": ("callback_path", str),
    "WECHAT_LOGIN_PATH": ("login_path", str),
    "WECHAT_PUBLIC_URL": ("public_url", str),
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
}
_SECRET_ENV = {"WECHAT_APP_SECRET", "WECHAT_TOKEN", "WECHAT_SECRET_KEY"}


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
