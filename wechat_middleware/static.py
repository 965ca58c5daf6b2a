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


@dataclass(frozen=True, slots=True)
class WeComPage:
    """What the helper needs in a WeCom app: WeCom's own SDK and the ids it registers."""

    sdk_url: str
    corp_id: str
    agent_id: str | None


def helper_script(jssdk_url: str, base: str, wecom: WeComPage | None = None) -> Script:
    """``wechat.js`` for an app whose JS-SDK is ``jssdk_url`` and endpoints are at ``base``
    (a WeCom app: registered with WeCom's SDK, ``wecom``)."""
    source = resources.files("wechat_middleware").joinpath("static/wechat.js").read_text("utf-8")
    page = None
    if wecom is not None:
        page = {"sdkUrl": wecom.sdk_url, "corpId": wecom.corp_id, "agentId": wecom.agent_id}
    settings = json.dumps({"jssdkUrl": jssdk_url, "base": base, "wecom": page})
    settings = settings.replace("<", "\\u003c")
    body = source.replace(PLACEHOLDER, settings).encode("utf-8")
    return Script(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
