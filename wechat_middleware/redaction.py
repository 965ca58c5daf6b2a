"""Keeping secrets out of text that may reach a log, an exception or a terminal.

WeChat takes the app secret, tokens and codes in query strings, so an exception
message about a failed request (or urllib3's DEBUG line) carries them; a store URL may
carry a Redis password. Every message the library writes goes through these.
"""

from __future__ import annotations

import re

_SECRETS_IN_TEXT = re.compile(
    r"((?:secret|access_token|refresh_token|code|ticket|corpsecret|user_ticket)=)"
    r"[^&\s'\")]+",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/@:]*):[^/@]*@", re.IGNORECASE)


def redact(text: str) -> str:
    """Hide secrets, tokens and codes that a message may carry in a URL."""
    return _SECRETS_IN_TEXT.sub(r"\1***", text)


def hide_password(url: str) -> str:
    """A URL as it may be printed: ``redis://:***@host:6379/0``."""
    return _URL_PASSWORD.sub(r"\1:***@", url)


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every occurrence of each known secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
