"""The JS-SDK stand-in: the script (``jssdk_stand_in.js``) and the check its ``wx.config`` asks for.

Like jweixin-1.6.0.js the script defines window.wx (and window.jWeixin) with
config/ready/error and the common APIs. wx.config asks the fake whether WeChat would accept
the signature for this page, then fires wx.ready or wx.error({errMsg}); handlers registered
before or after the result both fire, and with debug: true the result is also alert()ed, as
the real SDK does. The APIs do nothing but answer success/complete with "<name>:ok";
wx.__fake lets a test see state and calls.

Which URL is checked follows WeChat's platforms (docs/wechat-protocol.md section 4.4): the
script sends both the page's current URL and its landing URL (the URL the document was
loaded with, kept across ``history.pushState``), each without its #fragment, and the check
reads the request's User-Agent. iOS WeChat (``iPhone``/``iPad``/``iPod`` and
``MicroMessenger``) verifies the signature over the landing URL only; every other browser
(Android WeChat, a desktop browser) over the current URL only. So a single-page app that
signs the wrong one fails here as it would on that phone.

The errMsg strings are the older clients' (``config:invalid signature``,
``config:invalid url domain``; see ``fake_records.CONFIG_*``). Current WeChat clients report
the longer ``config:fail,Error: 系统错误,错误码:63002,invalid signature [...]`` and
``config:fail,Error: 系统错误,错误码:40048,invalid url domain`` (section 4.6), so code that
reads errMsg (the server's report handler, a page's wx.error) must match on the substrings
``invalid signature`` / ``invalid url domain``, never on the whole string.

The page that loads the script is on another origin (the app's port), so the check's
endpoint answers CORS, preflight included. Every method runs with the fake's lock held,
except :func:`cors_preflight`, which needs no state.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from importlib import resources
from urllib.parse import urlsplit

from .fake_records import (
    CONFIG_FAIL,
    CONFIG_INVALID_SIGNATURE,
    CONFIG_INVALID_URL_DOMAIN,
    CONFIG_OK,
    JS_TYPE,
    PATH_JSSDK_CONFIG,
    FakeSettings,
    Reply,
    Request,
    json_reply,
)
from .fake_tokens import TokenRules

SCRIPT_RESOURCE = "jssdk_stand_in.js"
ENDPOINT_PLACEHOLDER = "__CONFIG_ENDPOINT__"  # a JS string literal: the config check's URL

# A page on another origin (the app's port) calls the config check: allow it, without cookies.
CORS_PATHS = frozenset({PATH_JSSDK_CONFIG})
_CORS_HEADERS: tuple[tuple[str, str], ...] = (("Access-Control-Allow-Origin", "*"),)
_CORS_PREFLIGHT_MAX_AGE = "600"

# iOS WeChat checks the landing URL; Android WeChat (and anything else) the current URL.
_IOS_DEVICE = re.compile(r"iPhone|iPad|iPod", re.IGNORECASE)
_WECHAT = re.compile(r"MicroMessenger", re.IGNORECASE)


def checks_landing_url(user_agent: str) -> bool:
    """Whether this browser is iOS WeChat, which verifies the signature over the landing URL."""
    return bool(_IOS_DEVICE.search(user_agent) and _WECHAT.search(user_agent))


@functools.cache
def stand_in_script() -> str:
    """The script as shipped in the package, with its endpoint placeholder."""
    return resources.files(__package__).joinpath(SCRIPT_RESOURCE).read_text(encoding="utf-8")


def cors_preflight(request: Request) -> Reply:
    """Allow the stand-in's cross-origin ``POST`` with a JSON body."""
    headers = [
        *_CORS_HEADERS,
        ("Access-Control-Allow-Methods", "POST, OPTIONS"),
        (
            "Access-Control-Allow-Headers",
            request.headers.get("access-control-request-headers") or "Content-Type",
        ),
        ("Access-Control-Max-Age", _CORS_PREFLIGHT_MAX_AGE),
    ]
    # Chrome's Private Network Access asks this before a public page may call loopback.
    if request.headers.get("access-control-request-private-network", "").lower() == "true":
        headers.append(("Access-Control-Allow-Private-Network", "true"))
    return Reply(204, b"", "text/plain", tuple(headers))


class JSSDKStandIn:
    """Serves the script and answers its ``wx.config`` check against the fake's tickets."""

    def __init__(self, fake: FakeSettings, tokens: TokenRules) -> None:
        self.fake = fake  # its app id, safe domains and address
        self.tokens = tokens  # the tickets a signature may be made with

    def script(self, request: Request) -> Reply:
        """The JS-SDK stand-in, asking this fake (by the host the browser used) to check."""
        host = request.headers.get("host") or f"{self.fake.host}:{self.fake.port}"
        endpoint = json.dumps(f"http://{host}/{PATH_JSSDK_CONFIG}")
        script = stand_in_script().replace(ENDPOINT_PLACEHOLDER, endpoint)
        return Reply(200, script.encode("utf-8"), JS_TYPE, (("Cache-Control", "no-store"),))

    def config(self, request: Request) -> Reply:
        """Would WeChat accept this ``wx.config`` on this page? ``{"errMsg": "config:..."}``.

        The body is what the stand-in sends: ``appId``, ``timestamp``, ``nonceStr``,
        ``signature``, ``url`` (the page's ``location.href`` without its fragment) and
        ``landing_url`` (the URL the page was loaded with). The User-Agent picks the one
        checked: ``landing_url`` for iOS WeChat, ``url`` for any other browser.
        """
        landing = checks_landing_url(request.headers.get("user-agent", ""))
        reply = json_reply({"errMsg": self._result(request.body, landing)})
        return dataclasses.replace(reply, headers=reply.headers + _CORS_HEADERS)

    def _result(self, raw: bytes, landing: bool) -> str:
        try:
            body = json.loads(raw)
        except ValueError:
            return CONFIG_FAIL
        if not isinstance(body, dict):
            return CONFIG_FAIL
        # The app id selects the account, whose safe domains must list the page's host.
        url = body.get("landing_url" if landing else "url")
        if body.get("appId") != self.fake.app_id or not isinstance(url, str):
            return CONFIG_INVALID_URL_DOMAIN
        page = urlsplit(url)
        if page.scheme not in ("http", "https") or not page.hostname:
            return CONFIG_INVALID_URL_DOMAIN
        domains = self.fake.jsapi_domains
        if domains is not None and page.hostname not in domains:
            return CONFIG_INVALID_URL_DOMAIN
        # Nothing to verify is a signature that does not verify.
        timestamp = body.get("timestamp")  # a number in JS; a string is accepted too
        nonce, signature = body.get("nonceStr"), body.get("signature")
        if isinstance(timestamp, bool) or not isinstance(timestamp, (str, int)):
            return CONFIG_INVALID_SIGNATURE
        if not (isinstance(nonce, str) and isinstance(signature, str)):
            return CONFIG_INVALID_SIGNATURE
        if not self.tokens.signature_valid(url, nonce, timestamp, signature):
            return CONFIG_INVALID_SIGNATURE
        return CONFIG_OK
