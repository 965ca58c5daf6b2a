"""Pure signing functions: no I/O, no clock, no randomness unless asked for.

WeChat checks two SHA-1 signatures. The server check (dashboard "server
configuration") proves a request came from WeChat; the JS-SDK signature proves to the
WeChat browser that our server, holding the jsapi ticket, vouches for a page URL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def make_nonce(length: int = 16) -> str:
    """A random lowercase-hex string from the OS's CSPRNG (64 bits by default).

    Hex stays within the ``[A-Za-z0-9]`` alphabet WeChat expects and is several times
    faster than picking characters one by one, which matters on the signing hot path.
    """
    return secrets.token_hex((length + 1) // 2)[:length]


def normalize_url(url: str) -> str:
    """The URL WeChat signs: everything the browser sent, without the fragment.

    The query is kept byte for byte (no re-encoding, no re-ordering): the browser
    computes its URL the same way, and any change breaks the signature.
    """
    fragment = url.find("#")
    return url if fragment < 0 else url[:fragment]


def string_to_sign(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """``jsapi_ticket=…&noncestr=…&timestamp=…&url=…``: keys in ASCII order, raw values."""
    return f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"


def jsapi_signature(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """SHA-1 of :func:`string_to_sign`, lowercase hex."""
    plain = string_to_sign(ticket, noncestr, timestamp, url)
    return hashlib.sha1(plain.encode("utf-8"), usedforsecurity=False).hexdigest()


def server_signature(token: str, timestamp: str, nonce: str) -> str:
    """SHA-1 of the sorted, concatenated token, timestamp and nonce."""
    plain = "".join(sorted((token, timestamp, nonce)))
    return hashlib.sha1(plain.encode("utf-8"), usedforsecurity=False).hexdigest()


def check_server_signature(token: str, timestamp: str, nonce: str, signature: str) -> bool:
    """Whether ``signature`` is WeChat's for this request, compared in constant time."""
    try:
        expected = server_signature(token, timestamp, nonce)
        given = signature.lower().encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in an untrusted value: never WeChat's
        return False
    return hmac.compare_digest(expected.encode("ascii"), given)
