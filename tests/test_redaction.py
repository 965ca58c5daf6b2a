"""Secrets kept out of printed text (wechat_middleware/redaction.py)."""

from __future__ import annotations

import pytest

from wechat_middleware.redaction import hide_password, password_in


@pytest.mark.parametrize(
    ("url", "shown", "secret"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0", "pw"),
        ("redis://user:pw@host", "redis://user:***@host", "pw"),
        ("redis//:S3cret@x", "redis//:***@x", "S3cret"),
        ("redis://:pa/ssW0rd@host/0", "redis://:***@host/0", "pa/ssW0rd"),
        ("redis://:p@ssW0rd@host/0", "redis://:***@host/0", "p@ssW0rd"),
        ("redis://u:pw@[::1/0", "redis://u:***@[::1/0", "pw"),
        ("redis://S3cret@host", "redis://***@host", "S3cret"),  # a password typed as a user
        ("redis://host:6379/0", "redis://host:6379/0", None),
        ("sqlite:////var/lib/app/tokens.db", "sqlite:////var/lib/app/tokens.db", None),
    ],
)
def test_a_store_url_is_printed_without_its_password_whatever_its_shape(
    url: str, shown: str, secret: str | None
) -> None:
    assert hide_password(url) == shown
    assert password_in(url) == secret
