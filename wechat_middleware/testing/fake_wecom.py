"""A faithful fake of WeCom (企业微信) for a self-built app, on a real loopback server.

The WeCom twin of :class:`~.fake_wechat.FakeWeChat`, with the same clock, counters and
faults (:class:`~.fake_api.FakeTencentAPI`), keeping WeCom's rules strictly
(docs/wecom-and-qrconnect.md section 1): one token per app that stays the same while it
lives, corp and app JS-SDK tickets with their hourly limits, the authorize page that only
the WeCom browser may open, single-use codes bound to the app they were issued for,
``user_ticket`` only with consent and visibility, desktop (SSO) login, ``wx.agentConfig``
in the JS-SDK stand-in, and the encrypted callbacks WeCom sends to the app.

One server answers for ``qyapi.weixin.qq.com``, ``open.weixin.qq.com`` and
``login.work.weixin.qq.com``: point ``WECHAT_API_BASE``, ``WECHAT_OPEN_BASE`` and
``WECHAT_LOGIN_BASE`` at :attr:`FakeWeCom.base_url` (``fake_wecom_env`` does).

Its rules live in ``fake_wecom_tokens`` (tokens and tickets), ``fake_wecom_oauth`` (the
login) and ``fake_wecom_callbacks`` (WeCom calling the app); the JS-SDK stand-in is
FakeWeChat's, in WeCom mode. It imports nothing of the library it tests.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from .fake_api import FakeTencentAPI, Route
from .fake_jssdk import WECOM_CORS_PATHS, JSSDKStandIn, cors_preflight
from .fake_records import (
    HEADER_USERID,
    PATH_JSSDK_CONFIG,
    PATH_JSSDK_SCRIPT,
    PATH_WECOM_AGENT_CONFIG,
    PATH_WECOM_AGENT_TICKET,
    PATH_WECOM_AUTHORIZE,
    PATH_WECOM_JSAPI_TICKET,
    PATH_WECOM_LEGACY_USERINFO,
    PATH_WECOM_SSO,
    PATH_WECOM_TOKEN,
    PATH_WECOM_USERDETAIL,
    PATH_WECOM_USERINFO,
    SCOPE_PRIVATEINFO,
    Fault,
    Reply,
    new_openid,
    wecom_error_reply,
)
from .fake_wecom_callbacks import CallbackResult, Envelope, element
from .fake_wecom_oauth import MEMBER_FIELDS, WeComMember, WeComOAuthRules
from .fake_wecom_tokens import WeComTokenRules

__all__ = ["CallbackResult", "FakeWeCom", "Fault", "WeComMember"]
__all__ += ["HEADER_USERID", "MEMBER_FIELDS", "SCOPE_PRIVATEINFO"]
__all__ += [
    "PATH_WECOM_AGENT_CONFIG",
    "PATH_WECOM_AGENT_TICKET",
    "PATH_WECOM_AUTHORIZE",
    "PATH_WECOM_JSAPI_TICKET",
    "PATH_WECOM_LEGACY_USERINFO",
    "PATH_WECOM_SSO",
    "PATH_WECOM_TOKEN",
    "PATH_WECOM_USERDETAIL",
    "PATH_WECOM_USERINFO",
]

# A fake's published defaults, like FakeWeChat's app secret: never a real corp's.
DEFAULT_AGENTS = {"1000002": "fake-agent-secret"}
DEFAULT_ENCODING_AES_KEY = "FakeWeComEncodingAESKey0123456789abcdefghij"
DEFAULT_USERID = "zhangsan"


class _StandInView:
    """FakeWeCom as the JS-SDK stand-in sees it: ``wx.config``'s appId is the corp id,
    and its pages may be on the hosts of the trusted domains."""

    def __init__(self, fake: FakeWeCom) -> None:
        self._fake = fake

    @property
    def app_id(self) -> str:
        return self._fake.corp_id

    @property
    def jsapi_domains(self) -> frozenset[str] | None:
        trusted = self._fake.trusted_domains
        return (
            None
            if trusted is None
            else frozenset(urlsplit(f"//{d}").hostname or d for d in trusted)
        )

    @property
    def host(self) -> str:
        return self._fake.host

    @property
    def port(self) -> int:
        return self._fake.port


class FakeWeCom(FakeTencentAPI):
    """WeCom's token, ticket, login and callback rules for one corp's self-built apps.

    ``agents``: agent id -> that app's secret (one or more apps; the first is
    :attr:`agent_id`). ``trusted_domains``: the apps' trusted domains as ``host[:port]``,
    matched exactly, port included; ``None`` trusts every host. A ``redirect_uri``
    elsewhere gets the authorize (or SSO) page's error page, "redirect_uri参数错误", as
    docs section 1.3 says; 50001 at ``auth/getuserinfo`` is kept for what it documents, a
    code exchanged by another app's token. ``legacy_field_names``: ``auth/getuserinfo``
    answers the old ``UserId``/``OpenId``/``DeviceId``, as ``user/getuserinfo`` always does.
    """

    def __init__(
        self,
        corp_id: str = "ww0123456789abcdef",
        agents: Mapping[str, str] | None = None,
        *,
        callback_token: str = "fake-callback-token",  # noqa: S107 - a fake's published default
        encoding_aes_key: str = DEFAULT_ENCODING_AES_KEY,
        token_ttl: int = 7200,
        ticket_ttl: int = 7200,
        code_ttl: int = 300,
        user_ticket_ttl: int = 1800,
        trusted_domains: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.corp_id = corp_id
        self.agents: dict[str, str] = dict(DEFAULT_AGENTS if agents is None else agents)
        if not self.agents or len(set(self.agents.values())) != len(self.agents):
            raise ValueError("agents: at least one agent id -> secret, each secret its own")
        self.callback_token = callback_token
        self.encoding_aes_key = encoding_aes_key
        self.token_ttl = token_ttl
        self.ticket_ttl = ticket_ttl
        self.code_ttl = code_ttl
        self.user_ticket_ttl = user_ticket_ttl
        self.trusted_domains: frozenset[str] | None = (
            None if trusted_domains is None else frozenset(d.lower() for d in trusted_domains)
        )
        self.legacy_field_names = False
        self.default_userid = DEFAULT_USERID

        self._envelope = Envelope(callback_token, encoding_aes_key, corp_id)
        self._tokens = WeComTokenRules(self, self._now)
        self._oauth = WeComOAuthRules(self, self._now, self._tokens)
        self._oauth.members[DEFAULT_USERID] = WeComMember(userid=DEFAULT_USERID, name="张三")
        self._jssdk = jssdk = JSSDKStandIn(_StandInView(self), self._tokens, agents=self._tokens)
        self._routes = {
            PATH_WECOM_TOKEN: Route("GET", self._tokens.gettoken),
            PATH_WECOM_JSAPI_TICKET: Route("GET", self._tokens.jsapi_ticket),
            PATH_WECOM_AGENT_TICKET: Route("GET", self._tokens.agent_ticket),
            PATH_WECOM_USERINFO: Route("GET", self._oauth.getuserinfo),
            PATH_WECOM_LEGACY_USERINFO: Route(
                "GET", functools.partial(self._oauth.getuserinfo, legacy=True)
            ),
            PATH_WECOM_USERDETAIL: Route("POST", self._oauth.getuserdetail),
            PATH_WECOM_AUTHORIZE: Route("GET", self._oauth.authorize),
            PATH_WECOM_SSO: Route("GET", self._oauth.sso),
            PATH_JSSDK_SCRIPT: Route("GET", jssdk.script),
            PATH_JSSDK_CONFIG: Route("POST", jssdk.config),
            PATH_WECOM_AGENT_CONFIG: Route("POST", jssdk.agent_config),
        }
        self._preflight = dict.fromkeys(WECOM_CORS_PATHS, cors_preflight)

    def bridge_script(self, *, delay_ms: int = -1) -> str:
        """WeCom's native side (``window.WeixinJSBridge``: ``preVerifyJSAPI`` against the
        corp ticket, ``agentConfig`` against the app's) for a test browser to install before
        the page's scripts; WeCom's official SDK runs against it unmodified."""
        return self._jssdk.bridge_script(delay_ms=delay_ms)

    def _wrong_method(self, route: Route) -> Reply:
        return wecom_error_reply(43001 if route.method == "GET" else 43002)

    # ----------------------------------------------------------------- addresses

    @property
    def login_base(self) -> str:
        """For ``{login_base}/wwlogin/sso/login`` (desktop web login)."""
        return self.base_url

    @property
    def agent_id(self) -> str:
        """The first app's agent id."""
        return next(iter(self.agents))

    def agent_secret(self, agent_id: str | None = None) -> str:
        return self.agents[agent_id or self.agent_id]

    # ----------------------------------------------------------------- people

    def add_member(self, member: WeComMember) -> WeComMember:
        """Register (or replace) a member; the login pages pick members by userid."""
        unknown = member.enabled_fields - set(MEMBER_FIELDS)
        if unknown:
            raise ValueError(f"unknown enabled_fields {sorted(unknown)}; use {MEMBER_FIELDS}")
        with self._lock:
            self._oauth.members[member.userid] = member
        return member

    def add_visitor(self, openid: str | None = None, external_userid: str | None = None) -> str:
        """Register someone who is not a member (``external_userid``: a customer of a
        member the app can see); returns their openid."""
        with self._lock:
            visitor = self._oauth.visitor(openid or new_openid())
            visitor.external_userid = external_userid
            return visitor.openid

    # ----------------------------------------------------------------- tokens and tickets

    def invalidate_access_tokens(self) -> None:
        """Every access token answers 40014 from now on, as when WeCom revokes early."""
        with self._lock:
            self._tokens.revoke_all()

    def expire_access_tokens(self) -> None:
        """Every access token answers 42001 from now on."""
        with self._lock:
            self._tokens.expire_all()

    def current_jsapi_ticket(self, agent_id: str | None = None) -> str | None:
        """The corp ticket as issued to this agent's token (default: the first), if live."""
        with self._lock:
            return self._tokens.corp_tickets.live(agent_id or self.agent_id, self._now())

    def current_agent_ticket(self, agent_id: str | None = None) -> str | None:
        """This agent's app ticket (``type=agent_config``), if live."""
        with self._lock:
            return self._tokens.agent_tickets.live(agent_id or self.agent_id, self._now())

    # ----------------------------------------------------------------- callbacks

    def seal(
        self,
        xml: str,
        *,
        timestamp: str | int,
        nonce: str,
        receive_id: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The query parameters and body of a push of ``xml``, encrypted for the corp (or
        for ``receive_id``, to test that the app refuses another receiver). The envelope's
        ``AgentID`` is the message's own, else the first agent's."""
        agent_id = element(xml, "AgentID") or self.agent_id
        return self._envelope.seal(xml, str(timestamp), nonce, agent_id, receive_id)

    def check_url(self, url: str) -> CallbackResult:
        """WeCom checking a callback URL as it is saved: ``GET url?msg_signature&timestamp
        &nonce&echostr``, ``echostr`` a number encrypted for the corp, stamped with the
        fake's clock. ``ok``: 200 and the bare number back."""
        return self._envelope.check_url(url, str(int(self.now())))

    def push(
        self, url: str, xml: str, *, timestamp: str | int | None = None, nonce: str | None = None
    ) -> CallbackResult:
        """WeCom pushing an event or message: POST the encrypted envelope of ``xml``."""
        stamp = str(int(self.now())) if timestamp is None else str(timestamp)
        params, body = self.seal(xml, timestamp=stamp, nonce=nonce or _digits(9))
        return self._envelope.push(url, params, body)

    def open_reply(
        self, body: bytes, *, timestamp: str | None = None, nonce: str | None = None
    ) -> str:
        """The message inside an encrypted passive reply, as WeCom reads it: its
        ``MsgSignature`` must cover its ``Encrypt`` with its own ``TimeStamp`` and
        ``Nonce``, and it must be encrypted for the corp; AssertionError otherwise.
        ``timestamp``/``nonce`` (the push's) only make the failure message clearer."""
        return self._envelope.open_reply(body, timestamp, nonce)


def _digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))
