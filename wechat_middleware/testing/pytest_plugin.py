"""pytest plugin (entry point ``pytest11``): fixtures for testing apps against FakeWeChat.

Installed with the package, so a user's own test suite gets ``fake_wechat`` without
any conftest code.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake_wechat import FakeWeChat


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    """A running FakeWeChat on a free loopback port, stopped after the test."""
    with FakeWeChat() as fake:
        yield fake
