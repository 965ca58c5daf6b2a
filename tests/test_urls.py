"""``urls``: the one home of "which URL" (docs/wechat-protocol.md section 4.3).

Both adapters read the browser's URL through these helpers, so they cannot drift: a
request with no Host header is addressed by the server's own address, an IPv6 one in
brackets and the scheme's default port left out, on WSGI and ASGI alike.
"""

from __future__ import annotations

from typing import Any

import pytest

from wechat_middleware import asgi, wsgi
from wechat_middleware.urls import (
    host_of,
    origin_listed,
    parse_origin,
    raw_path_of,
    valid_host,
    wildcard_refusal,
)


@pytest.mark.parametrize(
    ("server", "scheme", "expected"),
    [
        (("example.com", 80), "http", "example.com"),
        (("example.com", 443), "https", "example.com"),
        (("example.com", 8000), "http", "example.com:8000"),
        (("::1", 8000), "http", "[::1]:8000"),
        (("::1", 80), "http", "[::1]"),
        (("127.0.0.1", None), "http", "127.0.0.1"),
    ],
)
def test_without_a_host_header_the_servers_address_is_the_host(
    server: tuple[str, int | None], scheme: str, expected: str
) -> None:
    assert host_of("", server, scheme) == expected
    assert valid_host(expected)


def test_a_host_header_wins_over_the_servers_address() -> None:
    assert host_of("shop.example.com", ("10.0.0.1", 8000), "http") == "shop.example.com"


def test_a_path_without_the_raw_target_is_encoded_again() -> None:
    assert raw_path_of(None, "/中".encode()) == "/%E4%B8%AD"
    assert raw_path_of(None, b"/plain/path") == "/plain/path"
    assert raw_path_of("/as%20sent?q=1", b"/as sent") == "/as%20sent"


@pytest.mark.parametrize(
    ("server", "expected"),
    [(("::1", 8000), "http://[::1]:8000/a?x=1"), (("example.com", 80), "http://example.com/a?x=1")],
)
def test_both_adapters_build_the_same_url_without_a_host_header(
    server: tuple[str, int], expected: str
) -> None:
    environ: dict[str, Any] = {
        "wsgi.url_scheme": "http",
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SCRIPT_NAME": "",
        "QUERY_STRING": "x=1",
    }
    from_wsgi = wsgi._page(environ, "/a")
    # Host header, path, then scheme, server, root_path, raw_path, query_string
    from_asgi = asgi._page(None, "/a", ("http", server, "", None, b"x=1"))
    assert from_wsgi.url(None) == from_asgi.url(None) == expected


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://Staging.Example.com", "https://staging.example.com"),
        ("https://a.example.com:443", "https://a.example.com"),  # the default port drops
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
        ("https://a.example.com/", "https://a.example.com"),  # a bare slash is no path
        ("https://a.example.com/app", None),  # a path
        ("https://a.example.com?x=1", None),
        ("https://user@a.example.com", None),
        ("ftp://a.example.com", None),
        ("https://*.example.com", None),  # a wildcard only where one is allowed
    ],
)
def test_an_origin_is_scheme_host_and_port_only(text: str, origin: str | None) -> None:
    assert parse_origin(text) == origin


@pytest.mark.parametrize(
    ("origin", "listed"),
    [
        ("https://pr-1.preview.example.com", True),
        ("https://a.b.preview.example.com", False),  # `*` is exactly one label
        ("https://preview.example.com", False),
        ("http://pr-1.preview.example.com", False),  # the scheme is exact
        ("https://pr-1.preview.example.com:8443", False),  # so is the port
        ("https://pr-1.preview.example.com.evil.test", False),
    ],
)
def test_a_wildcard_stands_for_exactly_one_label(origin: str, listed: bool) -> None:
    assert origin_listed(origin, ("https://*.preview.example.com",)) is listed


@pytest.mark.parametrize("pattern", ["https://*.com", "https://*.com.cn", "https://*.co.uk"])
def test_a_wildcard_directly_under_a_public_suffix_is_refused(pattern: str) -> None:
    origin = parse_origin(pattern, wildcard=True)
    assert origin is not None and wildcard_refusal(origin) is not None
