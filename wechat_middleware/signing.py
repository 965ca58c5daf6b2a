"""Pure signing functions: no I/O, no clock, no randomness unless asked for.

WeChat checks two SHA-1 signatures. The server check (dashboard "server
configuration") proves a request came from WeChat; the JS-SDK signature proves to the
WeChat browser that our server, holding the jsapi ticket, vouches for a page URL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from .protocol import SERVER_CHECK_FIELDS


def make_nonce(length: int = 16) -> str:
    """A random lowercase-hex string from the OS's CSPRNG (64 bits by default): hex
    stays within the ``[A-Za-z0-9]`` alphabet WeChat expects."""
    return secrets.token_hex((length + 1) // 2)[:length]


def credential_id(value: str) -> str:
    """A short digest naming a ticket or token without revealing it (12 hex): what a
    page, a report or the CLI may show to tell two tickets apart."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]


def string_to_sign(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """``jsapi_ticket=…&noncestr=…&timestamp=…&url=…``: keys in ASCII order, raw values."""
    return f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"


def jsapi_signature(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """SHA-1 of :func:`string_to_sign`, lowercase hex."""
    plain = string_to_sign(ticket, noncestr, timestamp, url)
    return hashlib.sha1(plain.encode("utf-8"), usedforsecurity=False).hexdigest()


def server_signature(token: str, timestamp: str, nonce: str, *more: str) -> str:
    """SHA-1 of the sorted, concatenated token, timestamp and nonce (and ``more``: an
    encrypted callback's ciphertext). Python sorts strings by code point, which is also
    UTF-8 byte order, so the result matches Tencent's byte-wise sort for any input."""
    plain = "".join(sorted((token, timestamp, nonce, *more)))
    return hashlib.sha1(plain.encode("utf-8"), usedforsecurity=False).hexdigest()


def check_server_signature(token: str, timestamp: str, nonce: str, signature: str) -> bool:
    """Whether ``signature`` is WeChat's for this request, compared in constant time."""
    try:
        expected = server_signature(token, timestamp, nonce)
        given = signature.lower().encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in an untrusted value: never WeChat's
        return False
    return hmac.compare_digest(expected.encode("ascii"), given)


MAX_SERVER_CHECK_FIELD = 128  # characters of each of signature, timestamp and nonce


def verify_server_check(token: str | None, query: Mapping[str, str | None]) -> bool:
    """WeChat's server check (docs/wechat-protocol.md section 1.1) over a query's
    ``signature``, ``timestamp`` and ``nonce``; ``False`` without a token."""
    if not token:
        return False
    values = [query.get(name) for name in SERVER_CHECK_FIELDS]
    if not all(isinstance(v, str) and 0 < len(v) <= MAX_SERVER_CHECK_FIELD for v in values):
        return False
    signature, timestamp, nonce = values
    assert signature is not None and timestamp is not None and nonce is not None
    return check_server_signature(token, timestamp, nonce, signature)
