"""pytest plugin (entry point ``pytest11``): test your app against FakeWeChat (or FakeWeCom),
no conftest.

Installed with the package, so any test suite gets these fixtures:

- ``fake_wechat``: a running :class:`FakeWeChat` on a free loopback port: call counters,
  a clock to move, faults to inject (``fake_wechat.inject(path, Fault(...))``).
- ``wechat_env``: sets the ``WECHAT_*`` variables that point ``WeChat.from_env()`` at
  ``fake_wechat`` (random cookie key and server-check token, ``WECHAT_STORE=memory://``,
  ``WECHAT_ALLOWED_HOSTS`` of ``testserver`` and this machine's names), removes any
  other ``WECHAT_*`` variable, and returns what it set. Undone after the test.
- ``wechat_browser``: a :class:`WeChatBrowser`: WeChat's User-Agent, follows the OAuth
  login. Use it on a live server URL, or bind it to an app in-process with
  ``wechat_browser.wsgi(app)`` / ``wechat_browser.asgi(app)``.
- ``fake_wecom``: a running :class:`FakeWeCom` (企业微信, a self-built app), with the same
  counters, clock and faults, and the callbacks it sends (``fake_wecom.check_url(url)``).
- ``wecom_env``: as ``wechat_env``, for ``fake_wecom``: ``WECHAT_PROVIDER=wecom`` and the
  corp, agent, secret, callback Token and EncodingAESKey. Browse with
  ``wechat_browser.new(user_agent="wxwork", userid=...)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .browser import WeChatBrowser, fake_wechat_env, fake_wecom_env
from .fake_wechat import FakeWeChat
from .fake_wecom import FakeWeCom


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    """A running FakeWeChat on a free loopback port, stopped after the test."""
    with FakeWeChat() as fake:
        yield fake


@pytest.fixture
def wechat_env(fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The ``WECHAT_*`` environment pointing at ``fake_wechat``, set for this test.

    Other ``WECHAT_*`` variables (a developer's ``WECHAT_PUBLIC_URL``, say) are removed
    so the test sees only these; set more with ``monkeypatch.setenv`` after this fixture,
    and import the app module afterwards if it reads the environment at import time.
    """
    return _use_env(fake_wechat_env(fake_wechat), monkeypatch)


@pytest.fixture
def fake_wecom() -> Iterator[FakeWeCom]:
    """A running FakeWeCom on a free loopback port, stopped after the test."""
    with FakeWeCom() as fake:
        yield fake


@pytest.fixture
def wecom_env(fake_wecom: FakeWeCom, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The ``WECHAT_*`` environment pointing a WeCom app at ``fake_wecom``, set for this
    test, other ``WECHAT_*`` variables removed (see ``wechat_env``)."""
    return _use_env(fake_wecom_env(fake_wecom), monkeypatch)


def _use_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Set ``env`` and remove every other ``WECHAT_*`` variable, until the test ends."""
    for name in list(os.environ):
        if name.startswith("WECHAT_") and name not in env:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def wechat_browser() -> Iterator[WeChatBrowser]:
    """WeChat's in-app browser (iOS); it and the browsers made from it close after the test."""
    with WeChatBrowser() as browser:
        yield browser
