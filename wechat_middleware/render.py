"""JSON for pages: the signature and the argument of ``wx.config``, safe in a <script>.

Pure. Every page renders these, so the fixed parts are built once: a signature's JSON
when it is made (``jssdk.Signed``), the ``jsApiList`` part once per list of APIs a
page asks for (a handful per app).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
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
_TAILS: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
_MAX_TAILS = 256  # distinct API lists remembered; pages ask for a few


def script_safe_json(value: Any) -> str:
    """JSON that is safe inside ``<script>`` in an HTML page (and still valid JSON)."""
    text = _ENCODE(value)
    for char, escaped in _SCRIPT_UNSAFE:
        if char in text:  # usually only "&" (a query string): the rest are skipped cheaply
            text = text.replace(char, escaped)
    return text


def wx_config_json(
    signature_fields: str,
    js_api_list: Iterable[str],
    debug: bool,
    open_tag_list: Iterable[str],
) -> str:
    """The argument of ``wx.config``: ``debug``, the signature's fields (already
    rendered), ``jsApiList`` and, when given, ``openTagList``."""
    apis = tuple(js_api_list)
    tags = tuple(open_tag_list)
    tail = _TAILS.get((apis, tags))
    if tail is None:
        tail = ',"jsApiList":' + script_safe_json(list(apis))
        if tags:
            tail += ',"openTagList":' + script_safe_json(list(tags))
        tail += "}"
        if len(_TAILS) < _MAX_TAILS:
            _TAILS[(apis, tags)] = tail
    head = '{"debug":true,' if debug else '{"debug":false,'
    return head + signature_fields + tail


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
