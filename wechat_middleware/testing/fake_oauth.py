"""WeChat's web-OAuth rules: the authorize page, codes, user tokens and profiles.

The endpoints ``connect/oauth2/authorize``, ``sns/oauth2/access_token``,
``sns/oauth2/refresh_token``, ``sns/userinfo`` and ``sns/auth``: codes are single-use and
short-lived, snapshot-page visitors get a virtual openid and no profile, and parameter
errors on the authorize page are an HTML page (status 200), as WeChat shows them.
Every method runs with the fake's lock held.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .fake_records import (
    HEADER_CONSENT,
    HEADER_OPENID,
    HEADER_SNAPSHOT,
    LANGS,
    SCOPE_USERINFO,
    SCOPES,
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
from .fake_tokens import credentials_error


def _authorize_error_page(errcode: int, message: str) -> Reply:
    """WeChat shows OAuth parameter errors as an HTML page with status 200, not a redirect."""
    return html_reply(200, "Oops! Something went wrong:(", f"{errcode} {message}")


def _append_query(url: str, params: list[tuple[str, str]]) -> str:
    """Add parameters to a URL, keeping its existing query and fragment."""
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _is_absolute_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_valid_state(state: str) -> bool:
    return len(state) <= 128 and is_alnum(state)


class OAuthRules:
    """Users, and the codes and tokens that stand for their logins."""

    def __init__(self, fake: FakeSettings, clock: Callable[[], float]) -> None:
        self.fake = fake  # its app id, secret and TTLs
        self.clock = clock
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
            grant = Grant(openid, scope, snapshot=False, unionid=user.unionid)
        code = random_alnum(32)
        self.codes[code] = Code(grant, self.clock() + self.fake.code_ttl)
        return code

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
        if request.arg("response_type") != "code":
            return _authorize_error_page(-1, "response_type must be code")
        if not scope:
            return _authorize_error_page(10010, "scope cannot be empty")
        if scope not in SCOPES:
            return _authorize_error_page(10005, f"no permission for scope {scope}")
        if not _is_valid_state(state):
            return _authorize_error_page(-1, "state must be at most 128 bytes of [a-zA-Z0-9]")

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
        location = _append_query(redirect_uri, params)
        return html_reply(302, "Redirecting", location, headers=(("Location", location),))

    def access_token(self, request: Request) -> Reply:
        """Exchange a code, once, for a per-user OAuth token."""
        if request.arg("grant_type") != "authorization_code":
            return error_reply(40002)
        error = credentials_error(self.fake, request.arg("appid"), request.arg("secret"))
        if error:
            return error
        value = request.arg("code")
        if not value:
            return error_reply(41008)
        code = self.codes.get(value)
        if code is None:
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
        if appid != self.fake.app_id:
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
        if grant.snapshot or grant.scope != SCOPE_USERINFO:
            return error_reply(48001)
        user = self.user(grant.openid)
        payload: dict[str, Any] = {
            "openid": user.openid,
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

    def auth(self, request: Request) -> Reply:
        """Is this OAuth access token valid for this openid?"""
        grant = self._check_token(request.arg("access_token"), request.arg("openid"))
        if isinstance(grant, Reply):
            return grant
        return json_reply({"errcode": 0, "errmsg": "ok"})
