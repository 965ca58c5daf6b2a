"""WeCom's login rules: the authorize and SSO pages, codes, user tickets and member details
(docs/wecom-and-qrconnect.md sections 1.3 and 1.4).

The authorize page answers only the WeCom browser; a parameter error is an HTML page with
status 200, never a redirect, and so is ``snsapi_privateinfo`` for a member outside the
app's visibility scope (docs/fake-beliefs.md). The authorize page's redirect always carries
``state``, empty when the link had none, as in Tencent's example. Codes are single-use, live
``code_ttl`` seconds and belong to the agent they were issued for: another agent's token
gets 50001. A member gets a ``user_ticket`` only with ``snsapi_privateinfo`` and consent,
and not when the userid is an interconnected corp's (``CorpId/userid``); the new
``auth/getuserinfo`` answers it without ``expires_in``, the old ``user/getuserinfo`` with
it. A non-member gets an ``openid`` (and an ``external_userid`` if they have one); a
desktop login (SSO) a ``userid`` only. Every method runs with the fake's lock held.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .fake_oauth import _is_absolute_http_url, _is_valid_state, redirect_back, scan_page
from .fake_records import (
    HEADER_CONSENT,
    HEADER_OPENID,
    HEADER_USERID,
    LOGIN_TYPE_CORP_APP,
    PATH_WECOM_SSO,
    SCOPE_PRIVATEINFO,
    WECOM_SCOPES,
    WXWORK_MARK,
    Reply,
    Request,
    WeComSettings,
    html_reply,
    random_alnum,
    wecom_error_reply,
    wecom_json_reply,
)
from .fake_wecom_tokens import WeComTokenRules

# What auth/getuserdetail may show, each only if the administrator enabled it for the app.
MEMBER_FIELDS = ("gender", "avatar", "qr_code", "mobile", "email", "biz_mail", "address")
DEFAULT_AVATAR = "https://wework.qpic.cn/wwhead/fake-default-avatar/0"
_LEGACY_NAMES = {"userid": "UserId", "openid": "OpenId"}


@dataclass
class WeComMember:
    """A member of the corp, who can log in on the authorize and SSO pages.

    ``visible``: in the visibility scope of every app (True), of none (False), or of the
    apps whose agent ids are listed. ``enabled_fields``: the sensitive fields the
    administrator lets apps read (see :data:`MEMBER_FIELDS`).
    """

    userid: str
    name: str = "WeCom Member"
    visible: bool | frozenset[str] = True
    gender: str = "1"  # a string, as WeCom sends it: "0" unknown, "1" male, "2" female
    avatar: str = "https://wework.qpic.cn/wwpic/fake-avatar/0"
    qr_code: str = "https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=fake"
    mobile: str = ""
    email: str = ""
    biz_mail: str = ""
    address: str = ""
    enabled_fields: frozenset[str] = field(default_factory=lambda: frozenset(MEMBER_FIELDS))

    def visible_to(self, agent_id: str) -> bool:
        return self.visible if isinstance(self.visible, bool) else agent_id in self.visible


@dataclass
class Visitor:
    """Someone who is not a member: seen by the corp under an openid."""

    openid: str
    external_userid: str | None = None  # a customer whose contact is visible to the app


@dataclass(frozen=True)
class Login:
    """What a code stands for: who, through which page, for which app."""

    userid: str | None  # a member's, or None for a visitor
    openid: str | None
    agent_id: str | None  # None (snsapi_base without agentid): any of the corp's apps
    scope: str
    consent: bool  # the member agreed on the snsapi_privateinfo screen
    sso: bool  # a desktop (QR) login: a userid only, never a user_ticket


@dataclass
class WeComCode:
    login: Login
    expires_at: float
    used: bool = False


@dataclass(frozen=True)
class UserTicket:
    userid: str
    agent_id: str
    expires_at: float


def _error_page(message: str) -> Reply:
    """WeCom shows a bad login link as a page (status 200), e.g. "redirect_uri参数错误"."""
    return html_reply(200, "出错了", message)


def _device_id(person: str) -> str:
    return hashlib.sha256(f"device:{person}".encode()).hexdigest()[:32]


class WeComOAuthRules:
    """Members, visitors, and the codes and user tickets that stand for their logins."""

    def __init__(
        self, fake: WeComSettings, clock: Callable[[], float], tokens: WeComTokenRules
    ) -> None:
        self.fake = fake  # its corp id, agents, TTLs and trusted domains
        self.clock = clock
        self.tokens = tokens  # which agent an access token belongs to
        self.members: dict[str, WeComMember] = {}
        self.visitors: dict[str, Visitor] = {}
        self.codes: dict[str, WeComCode] = {}
        self.user_tickets: dict[str, UserTicket] = {}

    def member(self, userid: str) -> WeComMember:
        """The member with this userid, created on first sight (tests name members freely)."""
        return self.members.setdefault(userid, WeComMember(userid=userid))

    def visible(self, userid: str, agent_id: str) -> bool:
        return self.member(userid).visible_to(agent_id)

    def visitor(self, openid: str) -> Visitor:
        return self.visitors.setdefault(openid, Visitor(openid=openid))

    def new_code(self, login: Login) -> str:
        code = random_alnum(64)
        self.codes[code] = WeComCode(login, self.clock() + self.fake.code_ttl)
        return code

    def _link_error(self, request: Request, *, agent_required: bool) -> Reply | None:
        """What the authorize and SSO pages check alike: corp, agent, redirect, state."""
        redirect_uri, agentid = request.arg("redirect_uri"), request.arg("agentid")
        if request.arg("appid") != self.fake.corp_id:
            return _error_page("appid参数错误: appid must be the CorpID")
        if not _is_absolute_http_url(redirect_uri):
            return _error_page("redirect_uri参数错误: an absolute http(s) URL is required")
        trusted = self.fake.trusted_domains
        if trusted is not None and urlsplit(redirect_uri).netloc.lower() not in trusted:
            return _error_page("redirect_uri参数错误: not on a trusted domain of the app")
        if (agentid or agent_required) and agentid not in self.fake.agents:
            return _error_page(f"40056 invalid agentid: {agentid!r}")
        if not _is_valid_state(request.arg("state")):
            return _error_page("state must be at most 128 bytes of [a-zA-Z0-9]")
        return None

    # ----------------------------------------------------------------- pages

    def authorize(self, request: Request) -> Reply:
        """The login page in the WeCom browser: 302 back with ``code`` (and ``state``).

        ``snsapi_privateinfo`` without ``agentid`` is an error page here: the docs say
        both "fails" and "drops to snsapi_base", and a developer saw the error.
        """
        if WXWORK_MARK not in request.headers.get("user-agent", "").lower():
            return html_reply(200, "请在企业微信客户端打开链接", "Open this link in WeCom.")
        scope = request.arg("scope")
        if request.arg("response_type") != "code":
            return _error_page("response_type must be code")
        if scope not in WECOM_SCOPES:
            return _error_page(f"scope参数错误: {scope!r}")
        error = self._link_error(request, agent_required=scope == SCOPE_PRIVATEINFO)
        if error:
            return error
        userid = request.headers.get(HEADER_USERID)
        openid = None if userid else request.headers.get(HEADER_OPENID)
        if openid:
            self.visitor(openid)
        else:
            userid = self.member(userid or self.fake.default_userid).userid
        agent_id = request.arg("agentid") or None
        # DW96441: with snsapi_privateinfo the member must be in the app's visibility scope,
        # or the page shows an error saying so (no redirect).
        if (
            scope == SCOPE_PRIVATEINFO
            and userid
            and agent_id
            and not self.visible(userid, agent_id)
        ):
            return _error_page(f"成员不在应用可见范围: {userid} is not visible to {agent_id}")
        denied = request.headers.get(HEADER_CONSENT, "").lower() == "deny"
        if scope == SCOPE_PRIVATEINFO and denied:
            return self._back(request, None, keep_empty_state=True)
        consent = scope == SCOPE_PRIVATEINFO
        login = Login(userid, openid, agent_id, scope, consent, sso=False)
        return self._back(request, login, keep_empty_state=True)

    def sso(self, request: Request) -> Reply:
        """Desktop web login: a QR page, whose "scan" logs a member in and 302s back."""
        if request.arg("login_type") != LOGIN_TYPE_CORP_APP:
            return _error_page("login_type参数错误: a self-built app logs in with CorpApp")
        error = self._link_error(request, agent_required=True)
        if error:
            return error
        page = scan_page(
            request,
            PATH_WECOM_SSO,
            "企业微信登录",
            "Scan with WeCom to log in (FakeWeCom: click instead)",
        )
        if page is not None:
            return page
        if request.headers.get(HEADER_CONSENT, "").lower() == "deny":
            return self._back(request, None)  # refused on the phone: no code
        member = self.member(request.headers.get(HEADER_USERID) or self.fake.default_userid)
        login = Login(member.userid, None, request.arg("agentid"), "", False, sso=True)
        return self._back(request, login)

    def _back(
        self, request: Request, login: Login | None, *, keep_empty_state: bool = False
    ) -> Reply:
        """302 to ``redirect_uri`` with a code for ``login`` (none if refused) and the state.

        ``keep_empty_state``: the authorize page sends ``state=`` even when the link's state
        was empty (Tencent's example in DW96441 ends ``&code=...&state=``); what the SSO
        page does then is not documented, and it leaves an empty state out.
        """
        state = request.arg("state")
        params = [("code", self.new_code(login))] if login is not None else []
        if state or keep_empty_state:
            params.append(("state", state))
        return redirect_back(request.arg("redirect_uri"), params)

    # ----------------------------------------------------------------- API

    def getuserinfo(self, request: Request, *, legacy: bool = False) -> Reply:
        """Exchange a code, once, with a token of the app it was issued for."""
        agent_id = self.tokens.agent_of(request.arg("access_token"))
        if isinstance(agent_id, Reply):
            return agent_id
        value = request.arg("code")
        if not value:
            return wecom_error_reply(41008)
        code = self.codes.get(value)
        if code is None or code.used or self.clock() >= code.expires_at:
            return wecom_error_reply(40029)
        login = code.login
        if login.agent_id not in (None, agent_id):
            return wecom_error_reply(50001)
        code.used = True
        return wecom_json_reply(self._who(login, agent_id, legacy or self.fake.legacy_field_names))

    def _who(self, login: Login, agent_id: str, legacy: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        if login.userid is not None:
            payload["userid"] = login.userid
            member = self.member(login.userid)
            # DW96442: no user_ticket for interconnected corps' members (CorpId/userid).
            interconnected = "/" in member.userid
            if (
                login.consent
                and not login.sso
                and not interconnected
                and member.visible_to(agent_id)
            ):
                ticket = secrets.token_urlsafe(96)
                ttl = self.fake.user_ticket_ttl
                self.user_tickets[ticket] = UserTicket(member.userid, agent_id, self.clock() + ttl)
                payload["user_ticket"] = ticket
                if legacy:
                    # The old user/getuserinfo sent the ticket's lifetime along; the new
                    # auth/getuserinfo's answer has no expires_in (DW96442).
                    payload["expires_in"] = ttl
        elif login.openid is not None:
            visitor = self.visitor(login.openid)
            payload["openid"] = visitor.openid
            if visitor.external_userid:
                payload["external_userid"] = visitor.external_userid
        if legacy:
            payload = {_LEGACY_NAMES.get(k, k): v for k, v in payload.items()}
            payload["DeviceId"] = _device_id(login.userid or login.openid or "")
        return payload

    def getuserdetail(self, request: Request) -> Reply:
        """A member's sensitive fields for a live user_ticket of the token's app.

        A bad ticket is 84015 ("成员票据无效", invalid user_ticket), an expired one 84014,
        none 84090: WeCom's error table (WxJava's WxCpErrorMsgEnum). A body that is not
        JSON carries no ticket, with WeCom's "Warning: wrong json format." in errmsg.
        """
        agent_id = self.tokens.agent_of(request.arg("access_token"))
        if isinstance(agent_id, Reply):
            return agent_id
        try:
            body = json.loads(request.body)
        except ValueError:
            return wecom_error_reply(84090, "Warning: wrong json format.")
        value = body.get("user_ticket") if isinstance(body, dict) else None
        if not value or not isinstance(value, str):
            return wecom_error_reply(84090)
        ticket = self.user_tickets.get(value)
        if ticket is None or ticket.agent_id != agent_id:
            return wecom_error_reply(84015)
        if self.clock() >= ticket.expires_at:
            return wecom_error_reply(84014)
        member = self.member(ticket.userid)
        if not member.visible_to(agent_id):
            return wecom_error_reply(60011)
        # Without the administrator's leave: gender "0" and the default avatar (section 1.3).
        detail: dict[str, Any] = {"userid": member.userid, "gender": "0", "avatar": DEFAULT_AVATAR}
        for name in MEMBER_FIELDS:
            if name in member.enabled_fields:
                detail[name] = getattr(member, name)
        return wecom_json_reply(detail)
