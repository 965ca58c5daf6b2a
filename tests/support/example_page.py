"""What the example apps render, parsed: the logged-in openid and the ``wx.config`` JSON."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

_OPENID_RE = re.compile(r'<span id="openid">([^<]*)</span>')
_USERID_RE = re.compile(r'<span id="userid">([^<]*)</span>')
_CONFIG_RE = re.compile(r'<script id="wx-config" type="application/json">(.*?)</script>', re.S)


@dataclass(frozen=True)
class Page:
    """What the example apps render: the logged-in openid and the ``wx.config`` JSON."""

    openid: str
    signature: dict[str, Any] | None
    userid: str = ""  # a WeCom member's

    @classmethod
    def parse(cls, body: str) -> Page:
        openid = _OPENID_RE.search(body)
        config = _CONFIG_RE.search(body)
        if openid is None or config is None:
            raise AssertionError(f"not an example app page:\n{body[:2000]}")
        userid = _USERID_RE.search(body)
        return cls(
            html.unescape(openid.group(1)),
            json.loads(config.group(1)),
            html.unescape(userid.group(1)) if userid else "",
        )
