"""Keeping secrets out of text that may reach a log, an exception or a terminal.

WeChat takes the app secret, tokens and codes in query strings, so an exception
message about a failed request (or urllib3's DEBUG line) carries them; a store URL may
carry a Redis password. Every message the library writes goes through these.
"""

from __future__ import annotations

import re

_SECRETS_IN_TEXT = re.compile(
    r"((?:secret|access_token|refresh_token|code|ticket|corpsecret|user_ticket|rejected)=)"
    r"[^&\s'\")]+",
    re.IGNORECASE,
)
# A URL's scheme and slashes, then its userinfo: everything up to the *last* "@", since
# a mistyped password may hold "/", "@" or ":" (and a mistyped URL may lack the ":").
_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*:/*)?(.*)@", re.IGNORECASE | re.DOTALL)


def redact(text: str) -> str:
    """Hide secrets, tokens and codes that a message may carry in a URL."""
    return _SECRETS_IN_TEXT.sub(r"\1***", text)


def hide_password(url: str) -> str:
    """A URL as it may be printed: ``redis://:***@host:6379/0``; the user name stays,
    whatever follows its ``:`` up to the host goes, however malformed the URL."""
    found = _USERINFO.match(url)
    if found is None:
        return url
    user, colon, _ = found.group(2).partition(":")
    shown = f"{user}:***" if colon else "***"  # no ":": the whole userinfo may be a password
    return f"{found.group(1) or ''}{shown}@{url[found.end() :]}"


def password_in(url: str) -> str | None:
    """The secret part of a URL's userinfo as :func:`hide_password` reads it (never
    raising, unlike ``urlsplit`` on an unclosed ``[``), for :func:`scrub`."""
    found = _USERINFO.match(url)
    if found is None:
        return None
    user, colon, password = found.group(2).partition(":")
    return password if colon else user


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every occurrence of each known secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
