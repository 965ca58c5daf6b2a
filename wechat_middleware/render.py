"""JSON for pages: the signature and the argument of ``wx.config``, safe in a <script>.

Pure. A logged-in page renders the argument of ``wx.config`` on every request, and
encoding that whole object each time costs a page several µs (the logged-in case of
``python -m bench --only overhead``). So it is spliced from parts rendered once: the
signature's members when the signature is made (``jssdk.Signed``), the API lists once
per list a page asks for (a handful per app).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# Characters that could end a <script> element or a JS string early when JSON is
# dropped into HTML; escaped as \\uXXXX they are still the same JSON.
_SCRIPT_UNSAFE = (
    ("&", "\\u0026"),
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def script_safe_json(value: Any) -> str:
    """JSON that is safe inside ``<script>`` in an HTML page (and still valid JSON)."""
    text = _ENCODE(value)
    for char, escaped in _SCRIPT_UNSAFE:
        if char in text:  # usually only "&" (a query string): the rest are skipped cheaply
            text = text.replace(char, escaped)
    return text


def json_members(value: Mapping[str, Any]) -> str:
    """``value`` as script-safe JSON without its braces: members rendered once, to be
    spliced into an object rendered later (:func:`wx_config_json`)."""
    return script_safe_json(value)[1:-1]


def wx_config_json(
    signature_members: str,
    js_api_list: Iterable[str],
    debug: bool,
    open_tag_list: Iterable[str],
) -> str:
    """The argument of ``wx.config``: ``debug``, the signature's members (from
    :func:`json_members`), ``jsApiList`` and, when given, ``openTagList``."""
    head = '{"debug":true,' if debug else '{"debug":false,'
    return head + signature_members + _api_lists(tuple(js_api_list), tuple(open_tag_list))


@lru_cache(maxsize=256)  # distinct API lists; pages ask for a few
def _api_lists(apis: tuple[str, ...], tags: tuple[str, ...]) -> str:
    """The end of ``wx.config``'s argument: ``,"jsApiList":[...]`` (and
    ``,"openTagList":[...]``) and the closing brace."""
    tail = ',"jsApiList":' + script_safe_json(list(apis))
    if tags:
        tail += ',"openTagList":' + script_safe_json(list(tags))
    return tail + "}"


class HTML(str):
    """Markup the library built and escaped itself: templates (Jinja, Django) insert
    it as it is, through the ``__html__`` protocol, with no ``|safe``."""

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


def jssdk_tags(
    script_url: str, js_api_list: Iterable[str], open_tag_list: Iterable[str], debug: bool
) -> HTML:
    """The two script tags a server-rendered page needs for a working ``wx``."""
    options = script_safe_json({"openTagList": list(open_tag_list), "debug": bool(debug)})
    apis = script_safe_json(list(js_api_list))
    src = html.escape(script_url, quote=True)
    return HTML(
        f'<script src="{src}"></script>'
        f"<script>wechatMiddleware.ready({apis}, {options})"
        '["catch"](function () {});</script>'
    )
