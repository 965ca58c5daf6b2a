"""The official JS-SDKs, unmodified, from npm: what real WeChat and WeCom pages load.

Our own stand-ins encode what we believe the SDKs do; the real ones show where we are
wrong. Each is pinned by version and by the SHA-256 of the one file a page loads, fetched
once with ``npm pack`` into ``.cache/official-sdks/`` (scripts/npm_pinned.py) and served by a
static HTTP server on loopback (the fakes' own), as WeChat's CDN serves it:

* ``jweixin-module@1.6.0``, ``lib/index.js``: jweixin-1.6.0.js, the script WeChat's docs
  link (res.wx.qq.com/open/js/jweixin-1.6.0.js), defining ``window.wx``.
* ``@wecom/jssdk@2.4.4``, ``dist/wecom.global.prod.js``: WeCom's SDK, its browser build
  (the one WeCom's docs link as wecom-jssdk-2.0.2.js on its CDN), defining ``window.ww``.

WeChat's native side (``window.WeixinJSBridge``) is the fake's (FakeWeChat.bridge_script).
Only when npm itself is missing or cannot reach its registry are the tests skipped, with
the reason; a file whose hash differs fails them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from scripts.npm_pinned import Pinned
from scripts.npm_pinned import fetch as fetch_pinned
from wechat_middleware.testing.fake_http import HTTPService
from wechat_middleware.testing.fake_records import Reply, Request

from .servers import LOOPBACK, REPO_ROOT

CACHE = REPO_ROOT / ".cache" / "official-sdks"
_SCRIPT_TYPE = "application/javascript; charset=utf-8"


@dataclass(frozen=True)
class Package:
    spec: str  # what `npm pack` is given
    member: str  # the file, as the package lays it out
    sha256: str
    served_as: str  # its path on the static server

    @property
    def pinned(self) -> Pinned:
        return Pinned(self.spec, self.member, self.sha256, CACHE / self.served_as.lstrip("/"))


JWEIXIN = Package(
    "jweixin-module@1.6.0",
    "lib/index.js",
    "e30fa514a3275026bc240abf549e4bf3d27ddcc8ca09746d789f78c9077aac57",
    "/open/js/jweixin-1.6.0.js",
)
WECOM_JSSDK = Package(
    "@wecom/jssdk@2.4.4",
    "dist/wecom.global.prod.js",
    "6a99cd5a09794bc4a267be3103c33dd0e5782491891121c66014e4fdf518ad8a",
    "/node/open/js/wecom-jssdk-2.4.4.js",
)
PACKAGES = (JWEIXIN, WECOM_JSSDK)


def fetch(package: Package) -> bytes:
    """The pinned file: from the cache, else from npm (then cached); a file whose hash
    differs fails the test (NotPinned)."""
    return fetch_pinned(package.pinned)


@dataclass(frozen=True)
class OfficialSDKs:
    """Where a page loads each SDK from."""

    origin: str

    @property
    def jweixin_url(self) -> str:
        return self.origin + JWEIXIN.served_as

    @property
    def wecom_url(self) -> str:
        return self.origin + WECOM_JSSDK.served_as


@contextmanager
def serve_official_sdks() -> Iterator[OfficialSDKs]:
    """The pinned SDKs on a loopback static server (raises Unavailable to skip)."""
    files = {package.served_as: fetch(package) for package in PACKAGES}

    def serve(request: Request) -> Reply:
        data = files.get("/" + request.path)
        status = 200 if data is not None else 404
        return Reply(status, data or b"", _SCRIPT_TYPE, (("Cache-Control", "max-age=3600"),))

    http = HTTPService(serve, LOOPBACK).start()
    try:
        yield OfficialSDKs(f"http://{LOOPBACK}:{http.port}")
    finally:
        http.stop()
