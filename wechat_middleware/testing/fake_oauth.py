"""WeChat's web-OAuth rules: the authorize page, codes, user tokens and profiles.

The endpoints ``connect/oauth2/authorize``, ``sns/oauth2/access_token``,
``sns/oauth2/refresh_token``, ``sns/userinfo`` and ``sns/auth``: codes are single-use and
short-lived, snapshot-page visitors get a virtual openid and no profile, the unionid comes
only with ``snsapi_userinfo``, and parameter errors on the authorize page are an HTML
page (status 200), as WeChat shows them. Also ``cgi-bin/user/info`` (with the global
token): a follower's record, with the unionid. Every method runs with the fake's lock held.
"""

from __future__ import annotations

import hashlib
import html
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .fake_records import (
    AUTHORIZE_ORDER,
    HEADER_CONSENT,
    HEADER_OPENID,
    HEADER_SCAN,
    HEADER_SNAPSHOT,
    HTML_TYPE,
    LANGS,
    PATH_QRCONNECT,
    SCOPE_LOGIN,
    SCOPE_USERINFO,
    SCOPES,
    WEB_CODE_TTL,
    WECHAT_UA_MARK,
    Code,
    Expiring,
    FakeSettings,
    FakeUser,
    Grant,
    Reply,
    Request,
    error_reply,
    html_reply,
    is_alnum,
    json_reply,
    new_openid,
    random_alnum,
)
from .fake_tokens import TokenRules, credentials_error

# WeChat's words when redirect_uri is off the registered domain ("redirect_uri parameter error").
REDIRECT_URI_ERROR = "redirect_uri 参数错误"


def _authorize_error_page(errcode: int, message: str) -> Reply:
    """WeChat shows OAuth parameter errors as an HTML page with status 200, not a redirect."""
    return html_reply(200, "Oops! Something went wrong:(", f"{errcode} {message}")


def _append_query(url: str, params: list[tuple[str, str]]) -> str:
    """Add parameters to a URL, keeping its existing query and fragment."""
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def redirect_back(url: str, params: list[tuple[str, str]]) -> Reply:
    """The 302 back to the app's ``redirect_uri`` with ``params`` (code, state)."""
    location = _append_query(url, params)
    return html_reply(302, "Redirecting", location, headers=(("Location", location),))


def scan_page(request: Request, path: str, title: str, prompt: str) -> Reply | None:
    """A desktop login's QR page until it is "scanned" (``scan=1``, or the scan header:
    a test's browser clicks ``#scan``); ``None`` once it is."""
    if request.arg("scan") == "1" or request.headers.get(HEADER_SCAN) == "1":
        return None
    scan = f"/{path}?" + urlencode({**request.query, "scan": "1"})
    page = (
        f"<!doctype html><meta charset=utf-8><title>{title}</title><p>{prompt}</p>"
        f'<p><a id="scan" href="{html.escape(scan, quote=True)}">Scan</a></p>'
    )
    return Reply(200, page.encode(), HTML_TYPE)


def _is_absolute_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _outside_domain(redirect_uri: str, domain: str | None) -> bool:
    """Is ``redirect_uri`` off the app's registered OAuth domain? WeChat matches the full
    host name (``www.qq.com`` covers neither ``pay.qq.com`` nor ``qq.com``); a domain
    given with a port (as the sandbox account's ``127.0.0.1:8080``) matches that port
    only, one without matches any port, so loopback tests can register a host name."""
    if domain is None:
        return False
    wanted = domain.lower()
    parts = urlsplit(redirect_uri)
    netloc = parts.netloc.rpartition("@")[2].lower()
    return (netloc if ":" in wanted else parts.hostname or "") != wanted


def _is_valid_state(state: str) -> bool:
    return len(state) <= 128 and is_alnum(state)


class OAuthRules:
    """Users, and the codes and tokens that stand for their logins."""

    def __init__(self, fake: FakeSettings, clock: Callable[[], float], tokens: TokenRules) -> None:
        self.fake = fake  # its app id, secret and TTLs
        self.clock = clock
        self.tokens = tokens  # the global tokens cgi-bin/user/info is called with
        self.users: dict[str, FakeUser] = {}
        self.snapshot_openids: dict[str, str] = {}  # real openid -> its virtual openid
        self.codes: dict[str, Code] = {}
        self.oauth_tokens: dict[str, Expiring] = {}
        self.refresh_tokens: dict[str, Expiring] = {}

    def user(self, openid: str) -> FakeUser:
        """The user with this openid, created on first sight (tests name users freely)."""
        user = self.users.get(openid)
        if user is None:
            user = self.users[openid] = FakeUser(openid=openid)
        return user

    def new_code(self, openid: str, scope: str, snapshot: bool) -> str:
        user = self.user(openid)
        if snapshot:
            # A snapshot visitor is seen under a virtual openid with no profile and no unionid.
            virtual = self.snapshot_openids.setdefault(openid, new_openid())
            grant = Grant(virtual, scope, snapshot=True, unionid=None)
        else:
            # docs/wechat-protocol.md section 5.3: the unionid only for snsapi_userinfo.
            unionid = user.unionid if scope == SCOPE_USERINFO else None
            grant = Grant(openid, scope, snapshot=False, unionid=unionid)
        code = random_alnum(32)
        self.codes[code] = Code(grant, self.clock() + self.fake.code_ttl)
        return code

    def web_openid(self, openid: str) -> str:
        """The same person's openid as the website app sees it: another app, another
        openid (docs/wecom-and-qrconnect.md section 2.6); the unionid is shared."""
        digest = hashlib.sha256(f"{self.fake.web_app_id}:{openid}".encode()).hexdigest()
        return "ow" + digest[:26]

    def _app_of(self, appid: str, secret: str) -> tuple[str, Reply | None]:
        """Which app asks ("oa" or "web"), or WeChat's error for its credentials."""
        if appid and appid == self.fake.web_app_id:
            if not secret:
                return "web", error_reply(41004)
            return "web", None if secret == self.fake.web_app_secret else error_reply(40125)
        return "oa", credentials_error(self.fake, appid, secret)

    def _check_token(self, value: str, openid: str) -> Grant | Reply:
        """The grant behind a live OAuth access token issued to ``openid``, or the error."""
        if not value:
            return error_reply(41001)
        if not openid:
            return error_reply(41009)
        record = self.oauth_tokens.get(value)
        if record is None:
            return error_reply(40001)
        if self.clock() >= record.expires_at:
            return error_reply(42001)
        if openid != record.grant.openid:
            return error_reply(40003)
        return record.grant

    def _grant_reply(self, grant: Grant, refresh_token: str) -> Reply:
        access_token = secrets.token_urlsafe(80)
        ttl = self.fake.oauth_token_ttl
        self.oauth_tokens[access_token] = Expiring(grant, self.clock() + ttl)
        payload: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": ttl,
            "refresh_token": refresh_token,
            "openid": grant.openid,
            "scope": grant.scope,
        }
        if grant.snapshot:
            payload["is_snapshotuser"] = 1
        if grant.unionid:
            payload["unionid"] = grant.unionid
        return json_reply(payload)

    # ----------------------------------------------------------------- endpoints

    def authorize(self, request: Request) -> Reply:
        """The OAuth page: log a user in and 302 back with ``code`` (and ``state``)."""
        appid = request.arg("appid")
        redirect_uri = request.arg("redirect_uri")
        scope = request.arg("scope")
        state = request.arg("state")
        if not appid:
            return _authorize_error_page(10012, "appid cannot be empty")
        if appid != self.fake.app_id:
            return _authorize_error_page(10003, "redirect_uri does not match the appid's domain")
        if not redirect_uri:
            return _authorize_error_page(10011, "redirect_uri cannot be empty")
        if not _is_absolute_http_url(redirect_uri):
            return _authorize_error_page(10003, "redirect_uri must be an absolute http(s) URL")
        if _outside_domain(redirect_uri, self.fake.oauth_domain):
            return _authorize_error_page(10003, REDIRECT_URI_ERROR)
        if request.arg("response_type") != "code":
            return _authorize_error_page(-1, "response_type must be code")
        if not scope:
            return _authorize_error_page(10010, "scope cannot be empty")
        if scope not in SCOPES:
            return _authorize_error_page(10005, f"no permission for scope {scope}")
        if not _is_valid_state(state):
            return _authorize_error_page(-1, "state must be at most 128 bytes of [a-zA-Z0-9]")
        if [name for name in request.query if name in AUTHORIZE_ORDER] != [
            name for name in AUTHORIZE_ORDER if name in request.query
        ]:
            # WeChat matches the link strictly: these parameters in this order (finding E).
            return _authorize_error_page(10003, "the parameters are not in WeChat's order")
        if WECHAT_UA_MARK not in request.headers.get("user-agent", "").lower():
            # Outside WeChat's browser the page only says to open the link in WeChat.
            return html_reply(200, "请在微信客户端打开链接", "open this link in WeChat")

        openid = request.headers.get(HEADER_OPENID) or self.fake.default_openid
        denied = (
            scope == SCOPE_USERINFO and request.headers.get(HEADER_CONSENT, "").lower() == "deny"
        )
        params: list[tuple[str, str]] = []
        if not denied:
            snapshot = request.headers.get(HEADER_SNAPSHOT) == "1"
            params.append(("code", self.new_code(openid, scope, snapshot)))
        if state:
            params.append(("state", state))
        return redirect_back(redirect_uri, params)

    def qrconnect(self, request: Request) -> Reply:
        """A website app's QR login page: the "scan" (``scan=1``, or the scan header)
        logs the user in and 302s back with a code only the website app can exchange."""
        appid = request.arg("appid")
        redirect_uri = request.arg("redirect_uri")
        state = request.arg("state")
        if appid != self.fake.web_app_id or request.arg("scope") != SCOPE_LOGIN:
            # WeChat shows "该链接无法访问" (the link cannot be opened): another app id,
            # or an Official Account's scope.
            return html_reply(200, "该链接无法访问", "scope or appid not allowed")
        if not _is_absolute_http_url(redirect_uri) or request.arg("response_type") != "code":
            return _authorize_error_page(10003, "redirect_uri or response_type is wrong")
        if _outside_domain(redirect_uri, self.fake.web_oauth_domain):
            return _authorize_error_page(10003, REDIRECT_URI_ERROR)
        if not _is_valid_state(state):
            return _authorize_error_page(-1, "state must be at most 128 bytes of [a-zA-Z0-9]")
        page = scan_page(
            request,
            PATH_QRCONNECT,
            "WeChat QR login",
            "Scan this QR code with WeChat (FakeWeChat: click instead)",
        )
        if page is not None:
            return page
        openid = request.headers.get(HEADER_OPENID) or self.fake.default_openid
        user = self.user(openid)
        grant = Grant(self.web_openid(openid), SCOPE_LOGIN, False, user.unionid, app="web")
        code = random_alnum(32)
        # docs/wecom-and-qrconnect.md section 2.2: a website app's code lives 10 minutes.
        self.codes[code] = Code(grant, self.clock() + WEB_CODE_TTL)
        params = [("code", code)] + ([("state", state)] if state else [])
        return redirect_back(redirect_uri, params)

    def access_token(self, request: Request) -> Reply:
        """Exchange a code, once, for a per-user OAuth token, with the credentials of
        the app that asked for it (a QR login's code: the website app's only)."""
        if request.arg("grant_type") != "authorization_code":
            return error_reply(40002)
        app, error = self._app_of(request.arg("appid"), request.arg("secret"))
        if error:
            return error
        value = request.arg("code")
        if not value:
            return error_reply(41008)
        code = self.codes.get(value)
        if code is None or code.grant.app != app:
            return error_reply(40029)
        if code.used:
            return error_reply(40163)
        if self.clock() >= code.expires_at:
            return error_reply(42003)
        code.used = True
        refresh_token = secrets.token_urlsafe(80)
        self.refresh_tokens[refresh_token] = Expiring(
            code.grant, self.clock() + self.fake.refresh_token_ttl
        )
        return self._grant_reply(code.grant, refresh_token)

    def refresh_token(self, request: Request) -> Reply:
        """A new OAuth access token from a refresh token, which itself keeps its 30 days."""
        appid = request.arg("appid")
        if not appid:
            return error_reply(41002)
        if appid not in (self.fake.app_id, self.fake.web_app_id):
            return error_reply(40013)
        if request.arg("grant_type") != "refresh_token":
            return error_reply(40002)
        value = request.arg("refresh_token")
        if not value:
            return error_reply(41003)
        record = self.refresh_tokens.get(value)
        if record is None:
            return error_reply(40030)
        if self.clock() >= record.expires_at:
            return error_reply(42002)
        return self._grant_reply(record.grant, value)

    def userinfo(self, request: Request) -> Reply:
        """The profile, for snsapi_userinfo grants of real (non-snapshot) users only."""
        lang = request.arg("lang") or "zh_CN"
        if lang not in LANGS:
            return error_reply(40097)
        grant = self._check_token(request.arg("access_token"), request.arg("openid"))
        if isinstance(grant, Reply):
            return grant
        if grant.snapshot or grant.scope not in (SCOPE_USERINFO, SCOPE_LOGIN):
            return error_reply(48001)
        user = self.user(self._person_of(grant))
        payload: dict[str, Any] = {
            "openid": grant.openid,
            "nickname": user.nickname,
            "sex": user.sex,
            "province": user.province,
            "city": user.city,
            "country": user.country,
            "headimgurl": user.headimgurl,
            "privilege": [],
        }
        if user.unionid:
            payload["unionid"] = user.unionid
        return json_reply(payload)

    def follower_info(self, request: Request) -> Reply:
        """``cgi-bin/user/info``: a follower's record (no nickname or avatar since
        2021-12-27), with the unionid when the account is bound to an Open Platform
        account; ``subscribe: 0`` and nothing else for someone who does not follow. An
        openid this account never issued (another app's) is 40003 (section 5.9)."""
        error = self.tokens.token_error(request.arg("access_token"))
        if error:
            return error
        openid = request.arg("openid")
        if not openid:
            return error_reply(41009)
        if (request.arg("lang") or "zh_CN") not in LANGS:
            return error_reply(40097)
        user = self.users.get(openid)
        if user is None:
            return error_reply(40003)
        if not user.subscribe:
            return json_reply({"subscribe": 0, "openid": openid})
        payload: dict[str, Any] = {
            "subscribe": 1,
            "openid": openid,
            "language": "zh_CN",
            "subscribe_time": user.subscribe_time,
        }
        if user.unionid:
            payload["unionid"] = user.unionid
        payload.update(
            remark="",
            groupid=0,
            tagid_list=[],
            subscribe_scene="ADD_SCENE_OTHERS",
            qr_scene=0,
            qr_scene_str="",
        )
        return json_reply(payload)

    def _person_of(self, grant: Grant) -> str:
        """The Official Account openid of the person a grant is about."""
        if grant.app == "oa":
            return grant.openid
        return next(
            (openid for openid in self.users if self.web_openid(openid) == grant.openid),
            grant.openid,
        )

    def auth(self, request: Request) -> Reply:
        """Is this OAuth access token valid for this openid?"""
        grant = self._check_token(request.arg("access_token"), request.arg("openid"))
        if isinstance(grant, Reply):
            return grant
        return json_reply({"errcode": 0, "errmsg": "ok"})
