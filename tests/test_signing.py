"""Specification of ``wechat_middleware.signing`` (docs/wechat-protocol.md sections 1 and 4)."""

from __future__ import annotations

import hashlib
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wechat_middleware.signing import (
    check_server_signature,
    jsapi_signature,
    make_nonce,
    server_signature,
)
from wechat_middleware.urls import normalize_url

# WeChat's official JS-SDK signature example (JS-SDK docs, appendix 1).
OFFICIAL_TICKET = (
    "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
)
OFFICIAL_NONCESTR = "Wm3WZYTPz0wzccnW"
OFFICIAL_TIMESTAMP = "1414587457"
OFFICIAL_URL = "http://mp.weixin.qq.com?params=value"
OFFICIAL_SIGNATURE = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"

# Server check inputs whose argument order differs from their sorted order.
TOKEN = "zebra_token"
TIMESTAMP = "1700000000"
NONCE = "Apple123"

SHA1_HEX = re.compile(r"[0-9a-f]{40}")
NONCE_ALPHABET = set(string.ascii_letters + string.digits)

# Printable text: no control, format, surrogate, private-use, unassigned or separator
# characters except the plain space (what ``str.isprintable`` accepts).
printable_text = st.text(st.characters(exclude_categories=("C", "Z")) | st.just(" "))


def independent_server_signature(token: str, timestamp: str, nonce: str) -> str:
    """sha1_hex("".join(sorted([token, T, N]))), written out from
    docs/wechat-protocol.md section 1.1."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


# -- JS-SDK signature (docs/wechat-protocol.md section 4.1) ----------------------------------------


def test_jsapi_signature_matches_wechat_official_vector() -> None:
    """WeChat's documented example: ticket/noncestr/timestamp/url -> 0f9de62f..."""
    signature = jsapi_signature(
        OFFICIAL_TICKET, OFFICIAL_NONCESTR, OFFICIAL_TIMESTAMP, OFFICIAL_URL
    )
    assert signature == OFFICIAL_SIGNATURE


def test_jsapi_signature_int_and_str_timestamps_sign_the_same() -> None:
    """WeChat signs the timestamp as its decimal string, so 1414587457 == "1414587457"."""
    as_int = jsapi_signature(OFFICIAL_TICKET, OFFICIAL_NONCESTR, 1414587457, OFFICIAL_URL)
    as_str = jsapi_signature(OFFICIAL_TICKET, OFFICIAL_NONCESTR, "1414587457", OFFICIAL_URL)
    assert as_int == as_str == OFFICIAL_SIGNATURE


def test_jsapi_signature_is_sha1_of_ascii_ordered_fields_without_url_escaping() -> None:
    """Fields joined as key=value with '&' in ASCII key order, values not URL-escaped."""
    url = "https://example.com/a b?q=%E4%B8%AD&x=中文&y=1"
    plain = f"jsapi_ticket=T&noncestr=N&timestamp=1&url={url}"
    expected = hashlib.sha1(plain.encode("utf-8")).hexdigest()
    assert jsapi_signature("T", "N", 1, url) == expected


def test_jsapi_signature_changes_with_the_url() -> None:
    """The url is part of the signed string: another page needs another signature."""
    other = jsapi_signature(
        OFFICIAL_TICKET, OFFICIAL_NONCESTR, OFFICIAL_TIMESTAMP, OFFICIAL_URL + "&x=1"
    )
    assert other != OFFICIAL_SIGNATURE


@given(ticket=st.text(), noncestr=st.text(), timestamp=st.integers(min_value=0), url=st.text())
def test_jsapi_signature_is_always_40_lowercase_hex(
    ticket: str, noncestr: str, timestamp: int, url: str
) -> None:
    """WeChat expects the signature as lowercase SHA-1 hex."""
    assert SHA1_HEX.fullmatch(jsapi_signature(ticket, noncestr, timestamp, url))


# -- server check (docs/wechat-protocol.md section 1.1) --------------------------------------------


def test_server_signature_is_sha1_of_sorted_concatenation() -> None:
    """S = sha1_hex("".join(sorted([token, timestamp, nonce])))."""
    expected = hashlib.sha1(b"1700000000" + b"Apple123" + b"zebra_token").hexdigest()
    assert server_signature(TOKEN, TIMESTAMP, NONCE) == expected


def test_server_signature_does_not_use_argument_order() -> None:
    """The three strings are sorted before concatenation, not joined as given."""
    unsorted = hashlib.sha1((TOKEN + TIMESTAMP + NONCE).encode()).hexdigest()
    assert server_signature(TOKEN, TIMESTAMP, NONCE) != unsorted


def test_check_server_signature_accepts_wechats_signature() -> None:
    """A signature computed as WeChat does authenticates the request."""
    signature = independent_server_signature(TOKEN, TIMESTAMP, NONCE)
    assert check_server_signature(TOKEN, TIMESTAMP, NONCE, signature) is True


def test_check_server_signature_accepts_uppercase_hex() -> None:
    """Hex digits are case-insensitive; WeChat sends lowercase but uppercase is the same value."""
    signature = independent_server_signature(TOKEN, TIMESTAMP, NONCE).upper()
    assert check_server_signature(TOKEN, TIMESTAMP, NONCE, signature) is True


def test_check_server_signature_rejects_a_wrong_signature() -> None:
    wrong = independent_server_signature("another_token", TIMESTAMP, NONCE)
    assert check_server_signature(TOKEN, TIMESTAMP, NONCE, wrong) is False


def test_check_server_signature_rejects_a_signature_for_another_nonce() -> None:
    """The nonce is signed, so a replayed signature with a new nonce fails."""
    replayed = independent_server_signature(TOKEN, TIMESTAMP, "other_nonce")
    assert check_server_signature(TOKEN, TIMESTAMP, NONCE, replayed) is False


def test_check_server_signature_rejects_a_truncated_signature() -> None:
    truncated = independent_server_signature(TOKEN, TIMESTAMP, NONCE)[:-1]
    assert check_server_signature(TOKEN, TIMESTAMP, NONCE, truncated) is False


def test_check_server_signature_rejects_an_empty_signature() -> None:
    assert check_server_signature(TOKEN, TIMESTAMP, NONCE, "") is False


@pytest.mark.parametrize(
    "signature",
    [
        "签名" * 20,
        "é" * 40,
        "\u212a" * 40,  # KELVIN SIGN lowercases to ASCII "k"
        "\udcff" * 40,  # lone surrogate, as left by a surrogateescape query decoder
        "\x00" * 40,
    ],
    ids=["cjk", "latin1", "kelvin", "lone-surrogate", "nul"],
)
def test_check_server_signature_rejects_non_ascii_signature_without_raising(
    signature: str,
) -> None:
    """The signature comes from an untrusted query string: reject it, never crash."""
    assert check_server_signature(TOKEN, TIMESTAMP, NONCE, signature) is False


def test_check_server_signature_with_lone_surrogate_nonce_returns_false() -> None:
    """timestamp and nonce are untrusted query values too: a bad one is a mismatch."""
    signature = independent_server_signature(TOKEN, TIMESTAMP, NONCE)
    assert check_server_signature(TOKEN, TIMESTAMP, "\udcff", signature) is False


@given(token=printable_text, timestamp=printable_text, nonce=printable_text)
def test_check_server_signature_accepts_server_signature_for_any_printable_strings(
    token: str, timestamp: str, nonce: str
) -> None:
    signature = server_signature(token, timestamp, nonce)
    assert check_server_signature(token, timestamp, nonce, signature) is True


@given(a=printable_text, b=printable_text, c=printable_text)
def test_server_signature_is_independent_of_argument_order(a: str, b: str, c: str) -> None:
    """Because the three strings are sorted, their roles do not change the digest."""
    assert server_signature(a, b, c) == server_signature(c, a, b) == server_signature(b, c, a)


# -- URL normalisation (docs/wechat-protocol.md section 4.3: "without # and what follows") ---------


def test_normalize_url_drops_the_fragment() -> None:
    """WeChat signs the URL without '#' and what follows."""
    assert (
        normalize_url("https://example.com/page?a=1#/route?x=2") == "https://example.com/page?a=1"
    )


def test_normalize_url_drops_an_empty_fragment() -> None:
    assert normalize_url("https://example.com/page#") == "https://example.com/page"


def test_normalize_url_leaves_a_url_without_fragment_unchanged() -> None:
    url = "http://mp.weixin.qq.com?params=value"
    assert normalize_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/p?q=%E4%B8%AD%e6%96%87&sp=a+b&pct=%2F",
        "https://example.com/p?z=1&a=2&m=3",
        "https://example.com/p?k=1&k=2&k=1",
        "https://example.com/页面?名字=中文&emoji=😀",
        "https://example.com/p?empty=&flag&trailing=",
        "http://example.com:8080/p/?a=1&&b=2",
    ],
    ids=["percent-encoding", "order", "repeated-keys", "unicode", "blanks", "port-and-slash"],
)
def test_normalize_url_keeps_the_query_byte_for_byte(url: str) -> None:
    """The browser signs the query exactly as sent: no decoding, re-encoding or re-ordering."""
    assert normalize_url(url) == url
    assert normalize_url(url + "#frag") == url


@given(url=st.text())
def test_normalize_url_never_contains_a_hash(url: str) -> None:
    assert "#" not in normalize_url(url)


@given(url=st.text())
def test_normalize_url_is_idempotent(url: str) -> None:
    once = normalize_url(url)
    assert normalize_url(once) == once


@given(url=st.text())
def test_normalize_url_is_a_prefix_of_the_input(url: str) -> None:
    """Normalising only ever cuts the fragment; it never rewrites what it keeps."""
    assert url.startswith(normalize_url(url))


# -- nonces ------------------------------------------------------------------------


def test_make_nonce_default_length_is_16() -> None:
    """WeChat's own example noncestr (Wm3WZYTPz0wzccnW) is 16 characters."""
    assert len(make_nonce()) == 16


@pytest.mark.parametrize("length", [1, 2, 15, 16, 17, 32])
def test_make_nonce_has_the_requested_length(length: int) -> None:
    assert len(make_nonce(length)) == length


def test_make_nonce_uses_only_letters_and_digits() -> None:
    """noncestr is signed unescaped, so it must stay within [A-Za-z0-9]."""
    for _ in range(1000):
        assert set(make_nonce()) <= NONCE_ALPHABET


def test_make_nonce_does_not_repeat_over_10k_draws() -> None:
    draws = [make_nonce() for _ in range(10_000)]
    assert len(set(draws)) == len(draws)
