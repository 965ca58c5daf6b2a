"""Settings a newcomer gets wrong (issue #24): every missing required setting named in
one error, and a ``WECHAT_*`` name no setting reads warned about with the closest one
that does (never refused: other tools share the prefix)."""

from __future__ import annotations

import logging
import os

import pytest

from wechat_middleware import ConfigError, WeChat
from wechat_middleware.config import WeChatConfig

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")

APP = {"WECHAT_APP_ID": "wx0123456789abcdef", "WECHAT_APP_SECRET": "s"}
KEY = {"WECHAT_SECRET_KEY": "k" * 32}


def test_every_missing_setting_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        WeChat.from_env({})
    message = str(caught.value)
    assert message.startswith(
        "WECHAT_APP_ID and WECHAT_APP_SECRET are required (set the environment variables)"
    )
    assert "WECHAT_SECRET_KEY" in message and "secrets.token_urlsafe(32)" in message


def test_one_missing_setting_reads_as_before() -> None:
    with pytest.raises(ConfigError) as caught:
        WeChatConfig.from_env({"WECHAT_APP_SECRET": "s", **KEY})
    assert str(caught.value) == "WECHAT_APP_ID is required (set the environment variable)"


def test_a_wecom_app_is_told_its_own_names() -> None:
    with pytest.raises(ConfigError, match=r"^WECHAT_CORP_ID and WECHAT_CORP_SECRET are required"):
        WeChatConfig.from_env({"WECHAT_PROVIDER": "wecom", "WECHAT_AGENT_ID": "1000002"})


def test_a_misspelt_name_is_warned_about_with_the_one_meant(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "wechat_middleware"):
        config = WeChatConfig.from_env(
            {**APP, **KEY, "WECHAT_PUBLICURL": "https://shop.example.com"}
        )
    assert config.public_url is None  # ignored, as before, but no longer silently
    assert [r.getMessage() for r in caplog.records] == [
        "WECHAT_PUBLICURL is not a setting of wechat_middleware and is ignored: "
        "did you mean WECHAT_PUBLIC_URL?"
    ]


def test_another_tools_name_is_warned_about_and_never_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "wechat_middleware"):
        WeChatConfig.from_env({**APP, **KEY, "WECHAT_ENV": "production", "WECHAT_VENV": "v"})
    assert [r.getMessage() for r in caplog.records] == [
        "WECHAT_ENV is not a setting of wechat_middleware and is ignored (another tool's?)"
    ]


def test_a_misspelt_required_name_says_both_things(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "wechat_middleware"), pytest.raises(ConfigError):
        WeChatConfig.from_env({"WECHAT_APPID": "wx0123456789abcdef", "WECHAT_APP_SECRET": "s"})
    assert "did you mean WECHAT_APP_ID?" in caplog.text


def test_an_unknown_key_of_djangos_settings_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import django

    django.setup()
    from django.test import override_settings

    from wechat_middleware.integrations import django as integration

    for name in [name for name in os.environ if name.startswith("WECHAT_")]:
        monkeypatch.delenv(name)
    settings = {"APP_ID": "wx0123456789abcdef", "APP_SECRET": "s", "SECRET_KEY": "k" * 32}
    integration.set_wechat(None)
    try:
        with (
            override_settings(WECHAT={**settings, "STORE": "memory://", "SCOPES": "x"}),
            caplog.at_level(logging.WARNING, "wechat_middleware"),
        ):
            integration.project_wechat().close()
    finally:
        integration.set_wechat(None)
    assert (
        "WECHAT_SCOPES is not a setting of wechat_middleware and is ignored: did you mean "
        "WECHAT_SCOPE?" in caplog.text
    )
