"""The browser helper script, ``static/wechat.js``, as the middleware serves it.

Read once from the package and given the app's settings (where the JS-SDK is, where
the config endpoint is): the bytes and their ETag are computed at start-up, so serving
the script costs nothing per request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources

PLACEHOLDER = "__WECHAT_MIDDLEWARE_SETTINGS__"


@dataclass(frozen=True, slots=True)
class Script:
    body: bytes
    etag: str  # a strong validator: the hash of exactly these bytes


def helper_script(jssdk_url: str, base: str) -> Script:
    """``wechat.js`` for an app whose JS-SDK is ``jssdk_url`` and endpoints are at ``base``."""
    source = resources.files("wechat_middleware").joinpath("static/wechat.js").read_text("utf-8")
    settings = json.dumps({"jssdkUrl": jssdk_url, "base": base}).replace("<", "\\u003c")
    body = source.replace(PLACEHOLDER, settings).encode("utf-8")
    return Script(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
