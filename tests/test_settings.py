"""Specification of ``wechat_middleware.settings`` (issue #21, item 3): each setting is
declared once, and everything that reads or lists settings comes from that declaration.

The proof adds a setting in one place (a subclass of the config with one more line) and
finds it in the config, the environment reader, Django's ``settings.WECHAT``, the list
``doctor`` prints and the table of docs/settings.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")

from dataclasses import dataclass
from pathlib import Path

import django
import pytest

django.setup()

from django.test import override_settings  # noqa: E402

from wechat_middleware.config import WeChatConfig  # noqa: E402
from wechat_middleware.doctor import settings_listing  # noqa: E402
from wechat_middleware.errors import ConfigError  # noqa: E402
from wechat_middleware.integrations import django as integration  # noqa: E402
from wechat_middleware.settings import (  # noqa: E402
    BEGIN,
    END,
    count,
    markdown_table,
    setting,
    settings_of,
    write_table,
)

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"WECHAT_APP_ID": "wx0123456789abcdef", "WECHAT_APP_SECRET": "s3cret-do-not-log"}
SETTINGS = settings_of(WeChatConfig)


@dataclass(frozen=True)
class WithRetries(WeChatConfig):
    """The config with one setting more, declared as every setting is."""

    retries: int = setting(
        "WECHAT_RETRIES",
        3,
        "times a failed call is tried again",
        count(0, "a whole number of retries", "a whole number, e.g. 3", most=10),
    )


def test_a_setting_declared_once_reaches_the_config_and_the_environment_reader() -> None:
    assert WithRetries("wx0123456789abcdef", "s3cret").retries == 3
    assert WithRetries.from_env(REQUIRED).retries == 3
    assert WithRetries.from_env({**REQUIRED, "WECHAT_RETRIES": " 7 "}).retries == 7
    assert WithRetries.from_env({**REQUIRED, "WECHAT_RETRIES": "7"}, retries=1).retries == 1
    with pytest.raises(ConfigError, match=r"WECHAT_RETRIES is malformed.*expected a whole number"):
        WithRetries.from_env({**REQUIRED, "WECHAT_RETRIES": "many"})
    with pytest.raises(ConfigError, match="WECHAT_RETRIES must be a whole number of retries"):
        WithRetries.from_env({**REQUIRED, "WECHAT_RETRIES": "11"})


def test_a_setting_declared_once_reaches_djangos_settings() -> None:
    with override_settings(WECHAT={"APP_ID": "wx0123456789abcdef", "RETRIES": 5}):
        environ = integration.settings_environ()
    assert environ == {"WECHAT_APP_ID": "wx0123456789abcdef", "WECHAT_RETRIES": 5}
    assert WithRetries.from_env({**REQUIRED, **environ}).retries == 5


def test_a_setting_declared_once_reaches_doctors_list_and_the_readme_table() -> None:
    environ = {**REQUIRED, "WECHAT_RETRIES": "7"}
    listing = settings_listing(WithRetries.from_env(environ), environ)
    assert [line.split() for line in listing if "RETRIES" in line] == [["WECHAT_RETRIES", "7"]]
    row = "| `retries` | `WECHAT_RETRIES` | `3` | times a failed call is tried again |"
    assert row in markdown_table(settings_of(WithRetries))
    assert row not in markdown_table(SETTINGS)


# -- Django's settings.WECHAT: values as Python writes them ---------------------------------


def from_django(**given: object) -> WeChatConfig:
    """The config of ``settings.WECHAT = given`` over the required environment."""
    with override_settings(WECHAT=given):
        return WeChatConfig.from_env({**REQUIRED, **integration.settings_environ()})


def test_django_values_are_kept_as_given() -> None:
    config = from_django(
        EXCLUDE=["/a/"], INCLUDE_WXWORK=True, TIMEOUT=2, ALLOWED_HOSTS=["A.example"]
    )
    assert (config.exclude, config.include_wxwork, config.timeout) == (("/a/",), True, 2)
    assert config.allowed_hosts == ("a.example",)


def test_django_text_is_read_as_the_environments() -> None:
    config = from_django(EXCLUDE="/a/, /b/", INCLUDE_WXWORK="yes", TIMEOUT=" 2.5", STORE=" ")
    assert (config.exclude, config.include_wxwork, config.timeout) == (("/a/", "/b/"), True, 2.5)
    assert config.store is None


def test_a_django_value_of_none_leaves_the_setting_to_the_environment() -> None:
    environ = {**REQUIRED, "WECHAT_SCOPE": "snsapi_userinfo"}
    with override_settings(WECHAT={"SCOPE": None}):
        assert WeChatConfig.from_env({**environ, **integration.settings_environ()}).scope == (
            "snsapi_userinfo"
        )


def test_a_wecom_apps_django_settings_use_wecoms_names() -> None:
    given = {"PROVIDER": "wecom", "CORP_ID": "ww0123456789abcdef", "CORP_SECRET": "x"}
    with override_settings(WECHAT={**given, "AGENT_ID": 1000002}):
        config = WeChatConfig.from_env(integration.settings_environ())
    assert (config.corp_id, config.app_secret, config.agent_id) == (
        given["CORP_ID"],
        "x",
        "1000002",
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"TIMEOUT": "five"}, "WECHAT_TIMEOUT is malformed: 'five'; expected seconds"),
        ({"TIMEOUT": [5]}, "WECHAT_TIMEOUT must be a number of seconds"),
        ({"EXCLUDE": ["static/"]}, "WECHAT_EXCLUDE entries are path prefixes"),
        ({"SESSION_MAX_AGE": 1.5}, "WECHAT_SESSION_MAX_AGE must be a positive number"),
    ],
)
def test_a_malformed_django_value_names_the_variable(
    given: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        from_django(**given)


def test_django_settings_never_show_a_secrets_value() -> None:
    with pytest.raises(ConfigError) as caught:
        from_django(TOKEN="with spaces x")
    assert "WECHAT_TOKEN" in str(caught.value) and "with spaces" not in str(caught.value)


# -- doctor's list ------------------------------------------------------------------------------


def test_doctors_list_names_each_setting_the_app_reads_and_hides_secrets() -> None:
    environ = {**REQUIRED, "WECHAT_TIMEOUT": "2.5", "WECHAT_STORE": "redis://:pw@h:6379/0"}
    listing = settings_listing(WeChatConfig.from_env(environ), environ)
    assert [line.split()[0] for line in listing] == [s.env for s in SETTINGS if s.env]
    text = "\n".join(listing)
    assert "s3cret" not in text and "pw@" not in text
    assert [line.split() for line in listing if "TIMEOUT" in line] == [["WECHAT_TIMEOUT", "2.5"]]
    assert ["WECHAT_SCOPE", "snsapi_base", "(default)"] in [line.split() for line in listing]


def test_doctors_list_for_a_wecom_app_uses_wecoms_names() -> None:
    environ = {"WECHAT_PROVIDER": "wecom", "WECHAT_CORP_ID": "ww01", "WECHAT_CORP_SECRET": "x"}
    environ["WECHAT_AGENT_ID"] = "1000002"
    names = [line.split()[0] for line in settings_listing(WeChatConfig.from_env(environ), environ)]
    assert names[:2] == ["WECHAT_CORP_ID", "WECHAT_CORP_SECRET"]


# -- the settings page's table --------------------------------------------------------------------


def test_the_settings_page_table_is_the_one_the_settings_write() -> None:
    """Run ``scripts/settings-table`` after changing a setting."""
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert f"{BEGIN}\n{markdown_table(SETTINGS)}{END}" in text


def test_the_table_is_written_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text(f"# App\n{BEGIN}\nold\n{END}\nafter\n", encoding="utf-8")
    write_table(page, SETTINGS)
    assert page.read_text(encoding="utf-8") == (
        f"# App\n{BEGIN}\n{markdown_table(SETTINGS)}{END}\nafter\n"
    )


def test_a_file_without_the_markers_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text("# no table here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="settings table markers"):
        write_table(page, SETTINGS)
