"""Specification of ``wechat_middleware.config`` (DESIGN.md, "Configuration").

The environment names are a public contract: deployments and tests outside this
repository set them, so each one is pinned here by name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from wechat_middleware.config import WeChatConfig
from wechat_middleware.errors import ConfigError
from wechat_middleware.settings import comma_list, settings_of

SETTINGS = settings_of(WeChatConfig)
ENV_NAMES = {name for spec in SETTINGS for name in spec.names}

APP_ID = "wx1234567890abcdef"
APP_SECRET = "AppS3cret-7b1e-do-not-log"
TOKEN = "T0ken-4c2a-do-not-log"
SECRET_KEY = "Cook1eKey-93fd-0123456789abcdef-do-not-log"
SECRETS = (APP_SECRET, TOKEN, SECRET_KEY)
# A fragment every secret above shares, so a partial leak is caught too.
SECRET_MARK = "do-not-log"

REQUIRED = {"WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET}
WITH_SECRETS = {**REQUIRED, "WECHAT_TOKEN": TOKEN, "WECHAT_SECRET_KEY": SECRET_KEY}


def env(**extra: str) -> dict[str, str]:
    return {**REQUIRED, **extra}


# -- environment names ---------------------------------------------------------------

# (environment name, raw value, attribute, parsed value)
RELAY_KEY = "relay-key-0123456789abcdef0123456789"
ENV_CASES: list[tuple[str, str, str, Any]] = [
    ("WECHAT_APP_ID", "wxfedcba0987654321", "app_id", "wxfedcba0987654321"),
    ("WECHAT_APP_SECRET", "another-secret", "app_secret", "another-secret"),
    ("WECHAT_TOKEN", TOKEN, "token", TOKEN),
    ("WECHAT_SECRET_KEY", SECRET_KEY, "secret_key", SECRET_KEY),
    ("WECHAT_SCOPE", "snsapi_userinfo", "scope", "snsapi_userinfo"),
    ("WECHAT_VERIFY_PATH", "/wx/verify", "verify_path", "/wx/verify"),
    ("WECHAT_CALLBACK_PATH", "/wx/callback", "callback_path", "/wx/callback"),
    ("WECHAT_LOGIN_PATH", "/wx/login", "login_path", "/wx/login"),
    ("WECHAT_JSSDK_PATH", "/wx/jssdk", "jssdk_path", "/wx/jssdk"),
    ("WECHAT_LOGOUT_PATH", "/wx/logout", "logout_path", "/wx/logout"),
    ("WECHAT_PROTECT", "marked", "protect", "marked"),
    ("WECHAT_WEB_APP_ID", "wxweb0123456789ab", "web_app_id", "wxweb0123456789ab"),
    ("WECHAT_WEB_APP_SECRET", "web-secret", "web_app_secret", "web-secret"),
    (
        "WECHAT_PUBLIC_URL",
        "https://app.example.com/shop",
        "public_url",
        "https://app.example.com/shop",
    ),
    (
        "WECHAT_ALLOWED_HOSTS",
        "shop.example.com, .Example.org,,[::1]",
        "allowed_hosts",
        ("shop.example.com", ".example.org", "[::1]"),
    ),
    ("WECHAT_STORE", "memory://", "store", "memory://"),
    ("WECHAT_API_BASE", "http://127.0.0.1:8080", "api_base", "http://127.0.0.1:8080"),
    ("WECHAT_OPEN_BASE", "http://127.0.0.1:8081/open", "open_base", "http://127.0.0.1:8081/open"),
    ("WECHAT_TOKEN_ENDPOINT", "classic", "token_endpoint", "classic"),
    ("WECHAT_TIMEOUT", "2.5", "timeout", 2.5),
    ("WECHAT_REFRESH_MARGIN", "60", "refresh_margin", 60.0),
    ("WECHAT_PAGE_WAIT", "2", "page_wait", 2.0),
    ("WECHAT_EXCLUDE", "/static/, /assets/,,", "exclude", ("/static/", "/assets/")),
    ("WECHAT_INCLUDE_WXWORK", "true", "include_wxwork", True),
    ("WECHAT_LOGIN_OUTSIDE_WECHAT", "1", "login_required_outside_wechat", True),
    ("WECHAT_SESSION_MAX_AGE", "3600", "session_max_age", 3600),
    (
        "WECHAT_JSSDK_URL",
        "https://res2.wx.qq.com/open/js/jweixin-1.6.0.js",
        "jssdk_url",
        "https://res2.wx.qq.com/open/js/jweixin-1.6.0.js",
    ),
    (
        "WECHAT_WECOM_JSSDK_URL",
        "https://cdn.example.com/wecom-jssdk-2.4.4.js",
        "wecom_jssdk_url",
        "https://cdn.example.com/wecom-jssdk-2.4.4.js",
    ),
    ("WECHAT_LOGIN_RATE_PER_CLIENT", "5", "login_rate_per_client", 5),
    ("WECHAT_LOGIN_RATE_TOTAL", "0", "login_rate_total", 0),
    ("WECHAT_PROVIDER", "wecom", "provider", "wecom"),
    ("WECHAT_CORP_ID", "ww0123456789abcdef", "app_id", "ww0123456789abcdef"),
    ("WECHAT_CORP_SECRET", "corp-app-secret", "app_secret", "corp-app-secret"),
    ("WECHAT_AGENT_ID", "1000002", "agent_id", "1000002"),
    ("WECHAT_DESKTOP_LOGIN", "yes", "desktop_login", True),
    (
        "WECHAT_ENCODING_AES_KEY",
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        "encoding_aes_key",
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    ),
    ("WECHAT_LOGIN_BASE", "http://127.0.0.1:8082/", "login_base", "http://127.0.0.1:8082"),
    ("WECHAT_TOKEN_HUB", "http://10.0.0.5:8080/", "token_hub", "http://10.0.0.5:8080"),
    ("WECHAT_HUB_KEY", "follower-key-0123456789", "hub_key", "follower-key-0123456789"),
    (
        "WECHAT_HUB_CLIENTS",
        "shop:shop-key-0123456789,crm:crm-key-0123456789",
        "hub_clients",
        (("shop", "shop-key-0123456789"), ("crm", "crm-key-0123456789")),
    ),
    ("WECHAT_SOURCE_ADDRESS", "127.0.0.2", "source_address", "127.0.0.2"),
    (
        "WECHAT_RELAY_FOR",
        "https://staging.example.com, https://*.preview.example.com:8443",
        "relay_for",
        ("https://staging.example.com", "https://*.preview.example.com:8443"),
    ),
    (
        "WECHAT_OAUTH_RELAY",
        "https://Auth.example.com:443",
        "oauth_relay",
        "https://auth.example.com",
    ),
    ("WECHAT_RELAY_KEY", RELAY_KEY, "relay_key", RELAY_KEY),
]

# A WeCom app (WECHAT_PROVIDER=wecom), in the names WeCom's admin shows.
WECOM = {
    "WECHAT_PROVIDER": "wecom",
    "WECHAT_CORP_ID": "ww0123456789abcdef",
    "WECHAT_CORP_SECRET": "corp-app-secret",
    "WECHAT_AGENT_ID": "1000002",
}


# Settings that only come in pairs: the other half, for the table's one-name cases.
COMPANIONS = {
    "WECHAT_WEB_APP_ID": {"WECHAT_WEB_APP_SECRET": "web-secret"},
    "WECHAT_WEB_APP_SECRET": {"WECHAT_WEB_APP_ID": "wxweb0123456789ab"},
    "WECHAT_PROVIDER": WECOM,
    "WECHAT_CORP_ID": WECOM,
    "WECHAT_CORP_SECRET": WECOM,
    "WECHAT_AGENT_ID": WECOM,
    "WECHAT_DESKTOP_LOGIN": WECOM,
    "WECHAT_ENCODING_AES_KEY": {"WECHAT_TOKEN": "QDG6eK"},
    "WECHAT_TOKEN_HUB": {"WECHAT_HUB_KEY": "follower-key-0123456789"},
    "WECHAT_HUB_KEY": {"WECHAT_TOKEN_HUB": "http://10.0.0.5:8080"},
    "WECHAT_RELAY_FOR": {"WECHAT_RELAY_KEY": RELAY_KEY},
    "WECHAT_OAUTH_RELAY": {"WECHAT_RELAY_KEY": RELAY_KEY},
    "WECHAT_RELAY_KEY": {"WECHAT_OAUTH_RELAY": "https://auth.example.com"},
}


@pytest.mark.parametrize(
    ("name", "raw", "attr", "expected"), ENV_CASES, ids=[c[0] for c in ENV_CASES]
)
def test_environment_name_maps_to_its_attribute(
    name: str, raw: str, attr: str, expected: Any
) -> None:
    companions = COMPANIONS.get(name, {})
    required = {} if "WECHAT_PROVIDER" in companions else REQUIRED
    config = WeChatConfig.from_env(environ={**required, **companions, name: raw})
    assert getattr(config, attr) == expected


def test_every_environment_name_in_the_table_is_specified_here() -> None:
    """A new WECHAT_* name must be added to ENV_CASES (it becomes public contract)."""
    assert {case[0] for case in ENV_CASES} == ENV_NAMES


def test_every_variable_whose_value_can_be_refused_says_what_it_expects() -> None:
    """Text is taken as it is; a number or a boolean can be malformed, and its error
    message then says what a valid value looks like."""
    read = [spec for spec in SETTINGS if spec.env]
    parsed = {spec.env for spec in read if spec.kind.parse not in (str, comma_list)}
    assert parsed == {spec.env for spec in read if spec.kind.expected}


def test_environment_values_are_stripped() -> None:
    config = WeChatConfig.from_env(environ=env(WECHAT_SCOPE="  snsapi_userinfo\n"))
    assert config.scope == "snsapi_userinfo"


def test_blank_environment_value_means_default() -> None:
    config = WeChatConfig.from_env(environ=env(WECHAT_SCOPE="   ", WECHAT_TIMEOUT=""))
    assert config.scope == "snsapi_base"
    assert config.timeout == 5.0


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("WECHAT_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("WECHAT_SCOPE", "snsapi_userinfo")
    config = WeChatConfig.from_env()
    assert (config.app_id, config.scope) == (APP_ID, "snsapi_userinfo")


@pytest.mark.parametrize("raw", ["1", "true", "True", "YES", "on"])
def test_boolean_environment_values_accept_true_spellings(raw: str) -> None:
    assert WeChatConfig.from_env(environ=env(WECHAT_INCLUDE_WXWORK=raw)).include_wxwork is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "NO", "off"])
def test_boolean_environment_values_accept_false_spellings(raw: str) -> None:
    assert WeChatConfig.from_env(environ=env(WECHAT_INCLUDE_WXWORK=raw)).include_wxwork is False


# -- defaults (DESIGN.md table) --------------------------------------------------------


@pytest.fixture
def minimal() -> WeChatConfig:
    return WeChatConfig.from_env(environ=dict(REQUIRED))


def test_default_scope_is_snsapi_base(minimal: WeChatConfig) -> None:
    """snsapi_base: silent OAuth, openid only (no consent screen)."""
    assert minimal.scope == "snsapi_base"


def test_default_paths(minimal: WeChatConfig) -> None:
    assert minimal.verify_path == "/wechat/verify"
    assert minimal.callback_path == "/wechat/oauth-callback"


def test_default_api_hosts_are_wechats(minimal: WeChatConfig) -> None:
    """API host api.weixin.qq.com, OAuth pages on open.weixin.qq.com."""
    assert minimal.api_base == "https://api.weixin.qq.com"
    assert minimal.open_base == "https://open.weixin.qq.com"


def test_default_public_url_is_unset_so_it_comes_from_the_request(minimal: WeChatConfig) -> None:
    assert minimal.public_url is None


def test_default_hosts_served_are_this_machines_names(minimal: WeChatConfig) -> None:
    """Without WECHAT_PUBLIC_URL or WECHAT_ALLOWED_HOSTS, only a Host naming this machine
    gets a URL built on it (Django's default under DEBUG): the demo and local tests work,
    a spoofed Host gets neither a signature nor a redirect_uri."""
    assert minimal.allowed_hosts is None
    assert minimal.served_hosts == (".localhost", "127.0.0.1", "[::1]")


def test_default_store_is_unset_so_the_sqlite_file_is_used(minimal: WeChatConfig) -> None:
    """None lets WeChat() fall back to default_store_url(), the embedded SQLite file."""
    assert minimal.store is None


def test_token_and_secret_key_are_optional(minimal: WeChatConfig) -> None:
    assert minimal.token is None
    assert minimal.secret_key is None


def test_default_jssdk_script_is_jweixin_1_6_0(minimal: WeChatConfig) -> None:
    assert minimal.jssdk_url == "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"


def test_default_page_wait_is_half_a_second(minimal: WeChatConfig) -> None:
    """A page waits at most half a second for a jsapi ticket being fetched."""
    assert minimal.page_wait == 0.5


def test_default_login_bounds_are_per_client_and_wechats_own_total(minimal: WeChatConfig) -> None:
    """The per-client bound is the protection; the total is WeChat's own limit on the
    code exchange, 50,000 a minute (docs/wechat-protocol.md section 5.3), not a lower
    figure that would refuse a campaign's first visitors."""
    assert minimal.login_rate_per_client == 20
    assert minimal.login_rate_total == 50_000


# -- required values -------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["WECHAT_APP_ID", "WECHAT_APP_SECRET"])
def test_missing_required_value_raises_config_error_naming_it(missing: str) -> None:
    environ = dict(REQUIRED)
    del environ[missing]
    with pytest.raises(ConfigError, match=missing):
        WeChatConfig.from_env(environ=environ)


@pytest.mark.parametrize("blank", ["WECHAT_APP_ID", "WECHAT_APP_SECRET"])
def test_blank_required_value_raises_config_error_naming_it(blank: str) -> None:
    with pytest.raises(ConfigError, match=blank):
        WeChatConfig.from_env(environ={**REQUIRED, blank: "  "})


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# -- malformed values ----------------------------------------------------------------

MALFORMED: list[tuple[str, str]] = [
    ("WECHAT_SCOPE", "snsapi_login"),
    ("WECHAT_SCOPE", "SNSAPI_BASE"),
    ("WECHAT_TOKEN_ENDPOINT", "fast"),
    ("WECHAT_TIMEOUT", "five"),
    ("WECHAT_TIMEOUT", "0"),
    ("WECHAT_TIMEOUT", "-1"),
    ("WECHAT_TIMEOUT", "nan"),
    ("WECHAT_TIMEOUT", "inf"),
    ("WECHAT_REFRESH_MARGIN", "soon"),
    ("WECHAT_REFRESH_MARGIN", "0"),
    ("WECHAT_REFRESH_MARGIN", "inf"),
    ("WECHAT_PAGE_WAIT", "soon"),
    ("WECHAT_PAGE_WAIT", "-0.5"),
    ("WECHAT_VERIFY_PATH", "wechat/verify"),
    ("WECHAT_VERIFY_PATH", "//evil.example.com/verify"),
    ("WECHAT_VERIFY_PATH", "/wechat/verify?x=1"),
    ("WECHAT_CALLBACK_PATH", "callback"),
    ("WECHAT_CALLBACK_PATH", "/callback#top"),
    ("WECHAT_API_BASE", "ftp://api.example.com"),
    ("WECHAT_API_BASE", "api.example.com"),
    ("WECHAT_API_BASE", "https://"),
    ("WECHAT_API_BASE", "https://api.example.com?debug=1"),
    ("WECHAT_API_BASE", "https://api.example.com/#frag"),
    ("WECHAT_API_BASE", "https://user:pw@api.example.com"),
    ("WECHAT_API_BASE", "https://api.example.com:port"),
    ("WECHAT_API_BASE", "http://[::1"),
    ("WECHAT_OPEN_BASE", "javascript:alert(1)"),
    ("WECHAT_OPEN_BASE", "https://open.example.com/?x=1"),
    ("WECHAT_OPEN_BASE", "https://user@open.example.com"),
    ("WECHAT_PUBLIC_URL", "/relative/path"),
    ("WECHAT_PUBLIC_URL", "https://app.example.com?x=1"),
    ("WECHAT_ALLOWED_HOSTS", "https://shop.example.com"),
    ("WECHAT_ALLOWED_HOSTS", "shop.example.com:443"),
    ("WECHAT_ALLOWED_HOSTS", "shop.example.com/app"),
    ("WECHAT_INCLUDE_WXWORK", "maybe"),
    ("WECHAT_LOGIN_OUTSIDE_WECHAT", "2"),
    ("WECHAT_SESSION_MAX_AGE", "a week"),
    ("WECHAT_SESSION_MAX_AGE", "0"),
    ("WECHAT_SESSION_MAX_AGE", "-60"),
    ("WECHAT_APP_ID", "wx with spaces"),
]
MALFORMED_IDS = [f"{name}={raw}" for name, raw in MALFORMED]


@pytest.mark.parametrize(("name", "raw"), MALFORMED, ids=MALFORMED_IDS)
def test_malformed_value_raises_config_error_naming_the_variable(name: str, raw: str) -> None:
    """A bad deployment fails at start-up with the variable to fix, not at the first login."""
    with pytest.raises(ConfigError) as caught:
        WeChatConfig.from_env(environ=env(**{name: raw}))
    assert name in str(caught.value)


def test_same_verify_and_callback_path_is_rejected_naming_both() -> None:
    with pytest.raises(ConfigError) as caught:
        WeChatConfig.from_env(environ=env(WECHAT_VERIFY_PATH="/wx", WECHAT_CALLBACK_PATH="/wx"))
    assert "WECHAT_VERIFY_PATH" in str(caught.value)
    assert "WECHAT_CALLBACK_PATH" in str(caught.value)


# -- secrets never leak ----------------------------------------------------------------


def assert_no_secret(text: str) -> None:
    assert SECRET_MARK not in text
    for secret in SECRETS:
        assert secret not in text


def test_repr_does_not_show_secrets() -> None:
    """app_secret, token and secret_key must not reach a log through repr(config)."""
    config = WeChatConfig.from_env(environ=WITH_SECRETS)
    assert_no_secret(repr(config))
    assert APP_ID in repr(config)


def test_str_does_not_show_secrets() -> None:
    assert_no_secret(str(WeChatConfig.from_env(environ=WITH_SECRETS)))


def test_repr_of_a_replaced_config_does_not_show_secrets() -> None:
    config = WeChatConfig.from_env(environ=WITH_SECRETS).replace(scope="snsapi_userinfo")
    assert_no_secret(repr(config))


@pytest.mark.parametrize(("name", "raw"), MALFORMED, ids=MALFORMED_IDS)
def test_config_error_for_a_malformed_value_does_not_show_secrets(name: str, raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WeChatConfig.from_env(environ={**WITH_SECRETS, name: raw})
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value))


@pytest.mark.parametrize(
    ("name", "bad_secret"),
    [
        ("WECHAT_APP_SECRET", f"{APP_SECRET} with spaces"),
        ("WECHAT_APP_SECRET", APP_SECRET * 10),
        ("WECHAT_TOKEN", f"{TOKEN}\x00"),
        ("WECHAT_TOKEN", TOKEN * 10),
        ("WECHAT_SECRET_KEY", f"{SECRET_KEY}\twith-tab"),
        ("WECHAT_SECRET_KEY", SECRET_KEY * 200),
    ],
    ids=["app-secret-spaces", "app-secret-long", "token-nul", "token-long", "key-tab", "key-long"],
)
def test_config_error_for_a_malformed_secret_names_it_but_hides_the_value(
    name: str, bad_secret: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        WeChatConfig.from_env(environ={**WITH_SECRETS, name: bad_secret})
    assert name in str(caught.value)
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value))


@pytest.mark.parametrize("field_name", ["app_secret", "token", "secret_key"])
def test_config_error_for_a_non_string_secret_hides_the_value(field_name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WeChatConfig.from_env(environ=WITH_SECRETS, **{field_name: [APP_SECRET]})
    assert_no_secret(str(caught.value))


def test_config_error_for_missing_app_id_does_not_show_the_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        WeChatConfig.from_env(environ={"WECHAT_APP_SECRET": APP_SECRET, "WECHAT_TOKEN": TOKEN})
    assert_no_secret(str(caught.value))


# -- overrides -------------------------------------------------------------------------


def test_overrides_win_over_environment() -> None:
    config = WeChatConfig.from_env(
        environ=env(WECHAT_SCOPE="snsapi_base", WECHAT_TIMEOUT="9"),
        scope="snsapi_userinfo",
        timeout=1.5,
    )
    assert (config.scope, config.timeout) == ("snsapi_userinfo", 1.5)


def test_overrides_can_supply_required_values() -> None:
    config = WeChatConfig.from_env(environ={}, app_id=APP_ID, app_secret=APP_SECRET)
    assert (config.app_id, config.app_secret) == (APP_ID, APP_SECRET)


def test_overrides_are_validated() -> None:
    with pytest.raises(ConfigError, match="WECHAT_SCOPE"):
        WeChatConfig.from_env(environ=env(), scope="snsapi_login")


# -- URL normalisation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "attr"),
    [
        ("WECHAT_API_BASE", "api_base"),
        ("WECHAT_OPEN_BASE", "open_base"),
        ("WECHAT_PUBLIC_URL", "public_url"),
    ],
)
def test_trailing_slash_of_base_urls_is_dropped(name: str, attr: str) -> None:
    config = WeChatConfig.from_env(environ=env(**{name: "https://host.example.com/prefix/"}))
    assert getattr(config, attr) == "https://host.example.com/prefix"


def test_trailing_slash_of_bare_host_is_dropped() -> None:
    config = WeChatConfig.from_env(environ=env(WECHAT_API_BASE="http://127.0.0.1:9000/"))
    assert config.api_base == "http://127.0.0.1:9000"


def test_trailing_slash_is_dropped_when_constructed_directly() -> None:
    config = WeChatConfig(app_id=APP_ID, app_secret=APP_SECRET, api_base="https://api.example/")
    assert config.api_base == "https://api.example"


# -- immutability ----------------------------------------------------------------------


def test_config_is_frozen() -> None:
    config = WeChatConfig.from_env(environ=env())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.scope = "snsapi_userinfo"  # type: ignore[misc]


def test_replace_returns_a_changed_copy() -> None:
    config = WeChatConfig.from_env(environ=WITH_SECRETS)
    changed = config.replace(scope="snsapi_userinfo")
    assert changed.scope == "snsapi_userinfo"
    assert config.scope == "snsapi_base"
    assert (changed.app_secret, changed.token, changed.secret_key) == SECRETS


def test_replace_validates_the_change() -> None:
    config = WeChatConfig.from_env(environ=env())
    with pytest.raises(ConfigError, match="WECHAT_VERIFY_PATH"):
        config.replace(verify_path="no-leading-slash")


def test_replace_normalises_base_urls() -> None:
    config = WeChatConfig.from_env(environ=env()).replace(open_base="http://localhost:1234/")
    assert config.open_base == "http://localhost:1234"


def test_non_ascii_public_url_is_refused() -> None:
    """A Location header cannot carry a non-ASCII host: ask for punycode at start-up."""
    with pytest.raises(ConfigError, match=r"WECHAT_PUBLIC_URL.*punycode"):
        WeChatConfig.from_env(environ=env(WECHAT_PUBLIC_URL="https://例子.cn"))


# -- what a newcomer mistypes (issue: newcomer friction) --------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("WECHAT_TIMEOUT", "five", "seconds as a number"),
        ("WECHAT_SESSION_MAX_AGE", "a week", "whole seconds"),
        ("WECHAT_INCLUDE_WXWORK", "maybe", "true or false"),
        ("WECHAT_LOGIN_RATE_TOTAL", "lots", "logins a minute"),
    ],
)
def test_a_malformed_value_says_what_is_expected(name: str, raw: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} is malformed.*expected {expected}"):
        WeChatConfig.from_env(environ=env(**{name: raw}))


def test_an_exclude_entry_without_a_leading_slash_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"WECHAT_EXCLUDE.*'static'.*write /static"):
        WeChatConfig.from_env(environ=env(WECHAT_EXCLUDE="static"))


def test_a_public_url_with_a_path_is_explained_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="wechat_middleware"):
        config = WeChatConfig.from_env(environ=env(WECHAT_PUBLIC_URL="https://x.example/sub/"))
    assert config.public_url == "https://x.example/sub"
    assert any(
        "WECHAT_PUBLIC_URL has the path '/sub'" in r.getMessage()
        and "SCRIPT_NAME" in r.getMessage()
        for r in caplog.records
    )


def test_a_public_url_without_a_path_is_not_remarked_upon(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="wechat_middleware"):
        WeChatConfig.from_env(environ=env(WECHAT_PUBLIC_URL="https://x.example/"))
    assert not caplog.records


# -- the secret key (SECURITY.md finding 9) ---------------------------------------------


@pytest.mark.parametrize("key", ["abc", "x" * 31])
def test_a_secret_key_under_32_characters_is_refused_with_how_to_make_one(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WeChatConfig.from_env(environ=env(WECHAT_SECRET_KEY=key))
    message = str(caught.value)
    assert "WECHAT_SECRET_KEY" in message and "32" in message
    assert "secrets.token_urlsafe(32)" in message and key not in message


def test_a_secret_key_of_32_characters_is_accepted() -> None:
    assert WeChatConfig.from_env(environ=env(WECHAT_SECRET_KEY="k" * 32)).secret_key == "k" * 32


def test_the_middleware_settings_require_a_secret_key() -> None:
    config = WeChatConfig.from_env(environ=env())
    with pytest.raises(ConfigError, match="WECHAT_SECRET_KEY is required"):
        config.require_middleware_settings()
    config.replace(secret_key="k" * 32).require_middleware_settings()


def test_wechat_from_env_fails_at_once_without_a_secret_key() -> None:
    """An ASGI app builds its middleware at the first request: checking here, when the
    module is imported, is what keeps uvicorn from answering every request with 500."""
    from wechat_middleware import WeChat

    with pytest.raises(ConfigError, match="WECHAT_SECRET_KEY is required"):
        WeChat.from_env(env())


# -- WeCom (WECHAT_PROVIDER=wecom; docs/wecom-and-qrconnect.md section 1) -------------------


def test_a_wecom_app_reads_the_corp_id_the_apps_secret_and_agent_id() -> None:
    config = WeChatConfig.from_env(environ=WECOM)
    assert config.is_wecom and config.corp_id == "ww0123456789abcdef"
    assert config.app_secret == "corp-app-secret" and config.agent_id == "1000002"


def test_a_wecom_app_talks_to_wecoms_api_host_by_default() -> None:
    assert WeChatConfig.from_env(environ=WECOM).api_base == "https://qyapi.weixin.qq.com"
    assert WeChatConfig.from_env(environ=REQUIRED).api_base == "https://api.weixin.qq.com"


@pytest.mark.parametrize("missing", ["WECHAT_CORP_ID", "WECHAT_CORP_SECRET", "WECHAT_AGENT_ID"])
def test_a_wecom_app_needs_its_three_ids(missing: str) -> None:
    environ = {name: value for name, value in WECOM.items() if name != missing}
    with pytest.raises(ConfigError, match=missing):
        WeChatConfig.from_env(environ=environ)


def test_a_wecom_app_refuses_an_official_accounts_app_id() -> None:
    environ = {**REQUIRED, "WECHAT_PROVIDER": "wecom", "WECHAT_AGENT_ID": "1000002"}
    with pytest.raises(ConfigError, match="WECHAT_CORP_ID"):
        WeChatConfig.from_env(environ=environ)


def test_corp_settings_without_the_wecom_provider_are_refused() -> None:
    environ = {**REQUIRED, "WECHAT_CORP_ID": "ww0123456789abcdef"}
    with pytest.raises(ConfigError, match="WECHAT_PROVIDER=wecom"):
        WeChatConfig.from_env(environ=environ)


def test_a_wecom_app_takes_its_ids_as_corp_keywords_and_an_official_account_refuses_them() -> None:
    ids = {"corp_id": "ww0123456789abcdef", "corp_secret": "corp-app-secret", "agent_id": 7}
    config = WeChatConfig.from_env({}, provider="wecom", **ids)
    assert (config.app_id, config.app_secret, config.agent_id) == (
        ids["corp_id"],
        ids["corp_secret"],
        "7",
    )
    with pytest.raises(
        ConfigError, match=r"WECHAT_CORP_ID is a WeCom setting.*WECHAT_PROVIDER=wecom"
    ):
        WeChatConfig.from_env(REQUIRED, corp_id="ww0123456789abcdef")


def test_an_agent_id_without_the_wecom_provider_is_refused() -> None:
    with pytest.raises(ConfigError, match="WECHAT_PROVIDER=wecom"):
        WeChatConfig.from_env(environ={**REQUIRED, "WECHAT_AGENT_ID": "1000002"})


@pytest.mark.parametrize("agent_id", ["abc", "1000002 ", "\uff11\uff12\uff13", "1" * 21])
def test_an_agent_id_is_digits(agent_id: str) -> None:
    with pytest.raises(ConfigError, match="WECHAT_AGENT_ID"):
        WeChatConfig.for_wecom("ww0123456789abcdef", "secret", agent_id)


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ConfigError, match="WECHAT_PROVIDER"):
        WeChatConfig.from_env(environ={**REQUIRED, "WECHAT_PROVIDER": "dingtalk"})


def test_wecom_scopes_are_base_and_privateinfo() -> None:
    config = WeChatConfig.from_env(environ={**WECOM, "WECHAT_SCOPE": "snsapi_privateinfo"})
    assert config.scope == "snsapi_privateinfo"
    with pytest.raises(ConfigError, match="snsapi_privateinfo"):
        WeChatConfig.from_env(environ={**WECOM, "WECHAT_SCOPE": "snsapi_userinfo"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WECHAT_WEB_APP_ID", "wxweb0123456789ab"),
        ("WECHAT_TOKEN_ENDPOINT", "classic"),
        ("WECHAT_INCLUDE_WXWORK", "true"),
    ],
)
def test_official_account_settings_are_refused_for_wecom(name: str, value: str) -> None:
    environ = {**WECOM, name: value, "WECHAT_WEB_APP_SECRET": "web-secret"}
    with pytest.raises(ConfigError, match=name):
        WeChatConfig.from_env(environ=environ)


def test_the_encoding_aes_key_needs_the_token() -> None:
    environ = {**WECOM, "WECHAT_ENCODING_AES_KEY": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}
    with pytest.raises(ConfigError, match="WECHAT_TOKEN"):
        WeChatConfig.from_env(environ=environ)


@pytest.mark.parametrize("key", ["short", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2!", "a" * 44])
def test_a_malformed_encoding_aes_key_is_refused_without_echoing_it(key: str) -> None:
    environ = {**WECOM, "WECHAT_TOKEN": "QDG6eK", "WECHAT_ENCODING_AES_KEY": key}
    with pytest.raises(ConfigError, match="WECHAT_ENCODING_AES_KEY") as caught:
        WeChatConfig.from_env(environ=environ)
    assert key not in str(caught.value)


def test_wecom_apps_of_one_corp_have_their_own_store_keys_and_session_salt() -> None:
    first = WeChatConfig.for_wecom("ww0123456789abcdef", "secret-a", 1000002)
    second = WeChatConfig.for_wecom("ww0123456789abcdef", "secret-b", 1000003)
    assert first.app_key != second.app_key
    assert first.app_key == "ww0123456789abcdef.1000002"


def test_a_wecom_config_repr_hides_the_secret_and_the_aes_key() -> None:
    config = WeChatConfig.for_wecom(
        "ww0123456789abcdef",
        "corp-app-secret",
        1000002,
        token="QDG6eK",
        encoding_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    )
    assert "corp-app-secret" not in repr(config) and "jWmYm7qr" not in repr(config)
