"""Configuration: one frozen dataclass, read from the environment by fixed names.

The environment names are a public contract (deployments and outside tests set them),
so they live in one table here. Secrets are excluded from ``repr`` and never appear
in an error message: a misconfigured app must not leak its secret into a log.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .protocol import SCOPES

TOKEN_ENDPOINTS = ("stable", "classic")
PROTECT = ("all", "marked")
DEFAULT_JSSDK_URL = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
MIN_SECRET_KEY_LENGTH = 32
MAKE_SECRET_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105

log = logging.getLogger("wechat_middleware")


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
    jssdk_path: str = "/wechat/jssdk"  # the helper script, its config and report endpoints
    logout_path: str = "/wechat/logout"
    protect: str = "all"  # "all" pages (minus exclude) or only "marked" routes need a login
    web_app_id: str | None = None  # an Open Platform website app: desktop QR login
    web_app_secret: str | None = field(default=None, repr=False)
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
    login_rate_per_client: int = 20  # OAuth code exchanges a minute from one address
    login_rate_total: int = 3000  # ... and from everyone; 0 turns a limit off

    def __post_init__(self) -> None:
        _require_text("WECHAT_APP_ID", self.app_id, max_len=64)
        _require_text("WECHAT_APP_SECRET", self.app_secret, secret=True, max_len=128)
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
        if self.public_url is not None:
            object.__setattr__(self, "public_url", _base_url("WECHAT_PUBLIC_URL", self.public_url))
            _explain_public_path(self.public_url)
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
        for name, (attr, parse, expected) in _ENV.items():
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[attr] = parse(raw.strip())
            except ValueError:
                raise ConfigError(
                    f"{name} is malformed: {_describe(name, raw)}; expected {expected}"
                ) from None
        values.update(overrides)
        for attr, name in (("app_id", "WECHAT_APP_ID"), ("app_secret", "WECHAT_APP_SECRET")):
            if not values.get(attr):
                raise ConfigError(f"{name} is required (set the environment variable)")
        return cls(**values)

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


# name -> (attribute, parser, what a valid value looks like for the error message)
_ENV: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "WECHAT_APP_ID": ("app_id", str, "the AppID, e.g. wx0123456789abcdef"),
    "WECHAT_APP_SECRET": ("app_secret", str, "the AppSecret"),
    "WECHAT_TOKEN": ("token", str, "the server-check Token"),
    "WECHAT_SECRET_KEY": ("secret_key", str, "a random key of at least 32 characters"),
    "WECHAT_SCOPE": ("scope", str, "snsapi_base or snsapi_userinfo"),
    "WECHAT_VERIFY_PATH": ("verify_path", str, "a path such as /wechat/verify"),
    "WECHAT_CALLBACK_PATH": ("callback_path", str, "a path such as /wechat/oauth-callback"),
    "WECHAT_LOGIN_PATH": ("login_path", str, "a path such as /wechat/login"),
    "WECHAT_JSSDK_PATH": ("jssdk_path", str, "a path such as /wechat/jssdk"),
    "WECHAT_LOGOUT_PATH": ("logout_path", str, "a path such as /wechat/logout"),
    "WECHAT_PROTECT": ("protect", str, "all or marked"),
    "WECHAT_WEB_APP_ID": ("web_app_id", str, "the website app's AppID (Open Platform)"),
    "WECHAT_WEB_APP_SECRET": ("web_app_secret", str, "the website app's AppSecret"),
    "WECHAT_PUBLIC_URL": ("public_url", str, "the public origin, e.g. https://shop.example.com"),
    "WECHAT_STORE": ("store", str, "a store URL"),
    "WECHAT_API_BASE": ("api_base", str, "an http(s) URL"),
    "WECHAT_OPEN_BASE": ("open_base", str, "an http(s) URL"),
    "WECHAT_TOKEN_ENDPOINT": ("token_endpoint", str, "stable or classic"),
    "WECHAT_TIMEOUT": ("timeout", float, "seconds as a number, e.g. 5 or 2.5"),
    "WECHAT_REFRESH_MARGIN": ("refresh_margin", float, "seconds as a number, e.g. 180"),
    "WECHAT_EXCLUDE": ("exclude", _parse_prefixes, "comma-separated paths, e.g. /static/,/api/"),
    "WECHAT_INCLUDE_WXWORK": ("include_wxwork", _parse_bool, "true or false (also 1/0, yes/no)"),
    "WECHAT_LOGIN_OUTSIDE_WECHAT": (
        "login_required_outside_wechat",
        _parse_bool,
        "true or false (also 1/0, yes/no)",
    ),
    "WECHAT_SESSION_MAX_AGE": ("session_max_age", int, "whole seconds, e.g. 604800 for 7 days"),
    "WECHAT_JSSDK_URL": ("jssdk_url", str, "the JS-SDK script URL"),
    "WECHAT_LOGIN_RATE_PER_CLIENT": (
        "login_rate_per_client",
        int,
        "logins a minute from one address, e.g. 20 (0: no limit)",
    ),
    "WECHAT_LOGIN_RATE_TOTAL": (
        "login_rate_total",
        int,
        "logins a minute in all, e.g. 3000 (0: no limit)",
    ),
}
_SECRET_ENV = {"WECHAT_APP_SECRET", "WECHAT_TOKEN", "WECHAT_SECRET_KEY", "WECHAT_WEB_APP_SECRET"}


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
