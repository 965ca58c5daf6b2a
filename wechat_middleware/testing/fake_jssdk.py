"""WeChat's native side of the JS-SDK, and a stand-in for jweixin: the scripts and the check
they ask for.

``wechat_bridge.js`` is ``window.WeixinJSBridge`` as WeChat's (and WeCom's) client injects
it into every page: the official SDKs (jweixin, @wecom/jssdk) talk to nothing else. A test
browser installs it before the page's scripts (:meth:`JSSDKStandIn.bridge_script`), and the
official SDKs from npm run unmodified against it. Its ``preVerifyJSAPI`` (what
``wx.config`` asks) and ``agentConfig`` are decided here, by the fake's server, against the
fake's tickets.

``jssdk_stand_in.js`` is a stand-in for jweixin-1.6.0.js that behaves as jweixin does
(``wx.ready`` runs at once after the first configuration, whatever later ones say); the fake
serves it after the bridge at :attr:`FakeWeChat.jssdk_url`, so a plain desktop browser (the
demo) gets both halves.

Which URL is checked follows the platform (docs/wechat-protocol.md section 4.4,
docs/fake-beliefs.md): the bridge sends both the page's current URL and its landing URL
(the URL the document was loaded with, kept across ``history.pushState``), each without
its #fragment, and the check reads the request's User-Agent. iOS WeChat (``iPhone``/
``iPad``/``iPod`` and ``MicroMessenger``, but not ``wxwork``) verifies the signature over
the landing URL only; every other browser (Android WeChat, WeCom on any platform, a
desktop browser) over the current URL only. WeCom's own SDK signs the current URL inside
WeCom on iOS too (@wecom/jssdk 2.4.4, ``ConfigTask``: ``useOriginalURL`` only for WeChat).

The errMsg strings are the older clients' (``config:invalid signature``,
``config:invalid url domain``; see ``fake_records.CONFIG_*``). Current WeChat clients report
the longer ``config:fail,Error: 系统错误,错误码:63002,invalid signature [...]`` and
``config:fail,Error: 系统错误,错误码:40048,invalid url domain`` (section 4.6), so code that
reads errMsg (the server's report handler, a page's wx.error) must match on the substrings
``invalid signature`` / ``invalid url domain``, never on the whole string.

In WeCom mode (FakeWeCom) ``agentConfig`` is checked against the agent's app ticket with
the same signature and URL rules; the config check then takes the corp id as ``appId``
(docs/wecom-and-qrconnect.md section 1.5). A bad agentConfig signature fails with
``agentConfig:invalid signature more info at ...?e=40093`` (section 1.2), and outside
the WeCom browser (no ``wxwork`` in the User-Agent) agentConfig fails.

The page that runs the bridge is on another origin (the app's port), so the checks'
endpoints answer CORS, preflight included. Every method runs with the fake's lock held,
except :func:`cors_preflight`, which needs no state.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from importlib import resources
from typing import Any, Protocol
from urllib.parse import urlsplit

from .fake_records import (
    AGENT_CONFIG_NOT_WECOM,
    AGENT_CONFIG_OK,
    CONFIG_FAIL,
    CONFIG_INVALID_SIGNATURE,
    CONFIG_INVALID_URL_DOMAIN,
    CONFIG_OK,
    JS_TYPE,
    PATH_JSSDK_CONFIG,
    PATH_WECOM_AGENT_CONFIG,
    WXWORK_MARK,
    Reply,
    Request,
    agent_config_error,
    json_reply,
)

SCRIPT_RESOURCE = "jssdk_stand_in.js"
BRIDGE_RESOURCE = "wechat_bridge.js"
ENDPOINT_PLACEHOLDER = "__CONFIG_ENDPOINT__"  # a JS string literal: the config check's URL
AGENT_ENDPOINT_PLACEHOLDER = "__AGENT_CONFIG_ENDPOINT__"  # the agentConfig check's URL (or null)
DELAY_PLACEHOLDER = "__BRIDGE_DELAY_MS__"  # < 0: the bridge is there at once

# A page on another origin (the app's port) calls the config check: allow it, without cookies.
CORS_PATHS = frozenset({PATH_JSSDK_CONFIG})
WECOM_CORS_PATHS = CORS_PATHS | {PATH_WECOM_AGENT_CONFIG}
_CORS_HEADERS: tuple[tuple[str, str], ...] = (("Access-Control-Allow-Origin", "*"),)
_CORS_PREFLIGHT_MAX_AGE = "600"

# iOS WeChat checks the landing URL; Android WeChat, WeCom (any platform) and anything else
# the current URL.
_IOS_DEVICE = re.compile(r"iPhone|iPad|iPod", re.IGNORECASE)
_WECHAT = re.compile(r"MicroMessenger", re.IGNORECASE)


def checks_landing_url(user_agent: str) -> bool:
    """Whether this browser is iOS WeChat, which verifies the signature over the landing URL.

    WeCom's browser says ``MicroMessenger`` too, but checks the current URL: its own SDK
    signs ``location.href`` inside WeCom on every platform (@wecom/jssdk, ``getSignURL``).
    """
    return bool(
        _IOS_DEVICE.search(user_agent)
        and _WECHAT.search(user_agent)
        and WXWORK_MARK not in user_agent.lower()
    )


@functools.cache
def _resource(name: str) -> str:
    """A script as shipped in the package, with its placeholders."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


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


class StandInSettings(Protocol):
    """What the stand-in reads of its fake: whose ``appId`` wx.config must carry, the
    hosts whose pages may call it (None: any), and the fake's address."""

    @property
    def app_id(self) -> str: ...
    @property
    def jsapi_domains(self) -> frozenset[str] | None: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...


class SignatureCheck(Protocol):
    def signature_valid(
        self, url: str, noncestr: str, timestamp: str | int, signature: str
    ) -> bool: ...


class AgentCheck(Protocol):
    """WeCom's apps: which agent ids exist, and their app tickets' signatures."""

    def agent_known(self, agent_id: str) -> bool: ...
    def agent_signature_valid(
        self, agent_id: str, url: str, noncestr: str, timestamp: str | int, signature: str
    ) -> bool: ...


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _signed_fields(body: dict[str, Any]) -> tuple[str, str | int, str] | None:
    """``(nonceStr, timestamp, signature)``, or None: nothing to verify verifies nothing."""
    timestamp = body.get("timestamp")  # a number in JS; a string is accepted too
    nonce, signature = body.get("nonceStr"), body.get("signature")
    if isinstance(timestamp, bool) or not isinstance(timestamp, (str, int)):
        return None
    if not (isinstance(nonce, str) and isinstance(signature, str)):
        return None
    return nonce, timestamp, signature


class JSSDKStandIn:
    """Serves the script and answers its ``wx.config`` (and, with ``agents``, its
    ``wx.agentConfig``) check against the fake's tickets."""

    def __init__(
        self, fake: StandInSettings, tokens: SignatureCheck, agents: AgentCheck | None = None
    ) -> None:
        self.fake = fake  # its app id, safe domains and address
        self.tokens = tokens  # the tickets a wx.config signature may be made with
        self.agents = agents  # WeCom mode: the apps and their tickets, for wx.agentConfig

    def bridge_script(self, host: str | None = None, *, delay_ms: int = -1) -> str:
        """``window.WeixinJSBridge`` asking this fake (at ``host``, default its address) to
        check; installed at once, or ``delay_ms`` later with ``WeixinJSBridgeReady``."""
        base = f"http://{host or f'{self.fake.host}:{self.fake.port}'}/"
        agent = json.dumps(base + PATH_WECOM_AGENT_CONFIG) if self.agents else "null"
        return (
            _resource(BRIDGE_RESOURCE)
            .replace(ENDPOINT_PLACEHOLDER, json.dumps(base + PATH_JSSDK_CONFIG))
            .replace(AGENT_ENDPOINT_PLACEHOLDER, agent)
            .replace(DELAY_PLACEHOLDER, str(int(delay_ms)))
        )

    def script(self, request: Request) -> Reply:
        """The stand-in for a plain browser: the bridge (asking this fake, by the host the
        browser used), then the jweixin stand-in."""
        script = self.bridge_script(request.headers.get("host")) + _resource(SCRIPT_RESOURCE)
        return Reply(200, script.encode("utf-8"), JS_TYPE, (("Cache-Control", "no-store"),))

    def config(self, request: Request) -> Reply:
        """Would WeChat accept this ``wx.config`` on this page? ``{"errMsg": "config:..."}``.

        The body is what the stand-in sends: ``appId``, ``timestamp``, ``nonceStr``,
        ``signature``, ``url`` (the page's ``location.href`` without its fragment) and
        ``landing_url`` (the URL the page was loaded with). The User-Agent picks the one
        checked: ``landing_url`` for iOS WeChat, ``url`` for any other browser.
        """
        landing = checks_landing_url(request.headers.get("user-agent", ""))
        return self._answer(self._result(request.body, landing))

    def agent_config(self, request: Request) -> Reply:
        """Would WeCom accept this ``wx.agentConfig``? ``{"errMsg": "agentConfig:..."}``.

        The body is as for :meth:`config`, with ``corpid`` and ``agentid`` for ``appId``.
        """
        return self._answer(self._agent_result(request.body, request.headers.get("user-agent", "")))

    @staticmethod
    def _answer(errmsg: str) -> Reply:
        reply = json_reply({"errMsg": errmsg})
        return dataclasses.replace(reply, headers=reply.headers + _CORS_HEADERS)

    def _page_url(self, body: dict[str, Any], landing: bool) -> str | None:
        """The page URL the platform checks, if it is an http(s) URL on an allowed host."""
        url = body.get("landing_url" if landing else "url")
        if not isinstance(url, str):
            return None
        page = urlsplit(url)
        if page.scheme not in ("http", "https") or not page.hostname:
            return None
        domains = self.fake.jsapi_domains
        return url if domains is None or page.hostname in domains else None

    def _result(self, raw: bytes, landing: bool) -> str:
        body = _json_object(raw)
        if body is None:
            return CONFIG_FAIL
        # The app id selects the account, whose safe domains must list the page's host.
        url = self._page_url(body, landing)
        if body.get("appId") != self.fake.app_id or url is None:
            return CONFIG_INVALID_URL_DOMAIN
        signed = _signed_fields(body)
        if signed is None or not self.tokens.signature_valid(url, *signed):
            return CONFIG_INVALID_SIGNATURE
        return CONFIG_OK

    def _agent_result(self, raw: bytes, user_agent: str) -> str:
        agents = self.agents
        if agents is None or WXWORK_MARK not in user_agent.lower():
            return AGENT_CONFIG_NOT_WECOM  # WeCom's client alone knows agentConfig
        body = _json_object(raw)
        if body is None:
            return "agentConfig:fail"
        if body.get("corpid") != self.fake.app_id:
            return agent_config_error("invalid corpId", 40013)
        agent_id = body.get("agentid")  # a number or a string in JS
        agent_id = str(agent_id) if isinstance(agent_id, (str, int)) else ""
        if not agents.agent_known(agent_id):
            return agent_config_error("invalid agentid", 40056)
        url = self._page_url(body, checks_landing_url(user_agent))
        if url is None:
            return agent_config_error("not match any reliable domain", 80001)
        signed = _signed_fields(body)
        if signed is None or not agents.agent_signature_valid(agent_id, url, *signed):
            return agent_config_error("invalid signature", 40093)
        return AGENT_CONFIG_OK
