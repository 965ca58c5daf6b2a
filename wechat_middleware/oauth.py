"""The seed's OAuth API: web-page authorisation, with OAuth tokens kept per user.

Method names are the seed's (``getUserInfo`` -> ``get_user_info``) and so are their
defaults. Deliberate differences: the seed kept one OAuth token per process, so two
users logging in at once overwrote each other's; here each user's token lives in the
shared store under their openid, for every worker. ``get_user_base_info`` never hands
out the user's tokens, and a snapshot-page visitor (a virtual openid, WeChat's
``is_snapshotuser: 1``) is never logged in or stored.

The seed's calls that take a ``code`` keep the user's token, as the seed does, for
``is_access_token_valid``, ``refresh_access_token`` and ``get_user_info_by_openid``.
The middleware's own login needs the token only while it asks for the profile, so it
keeps it only when the app sets ``keep_tokens``: a secret stored for 30 days that
nothing reads is only a risk.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .client import WeChatClient, check_lang
from .errors import (
    RefreshTokenExpiredError,
    StoreError,
    WeChatAPIError,
    WeChatError,
    WeChatUnavailableError,
)
from .keys import StoreKeys
from .protocol import (
    MAX_ID_LENGTH,
    MAX_STATE_LENGTH,
    OAUTH_TOKEN_TTL,
    REFRESH_TOKEN_TTL,
    SCOPE_BASE,
    SCOPE_LOGIN,
    SCOPE_USERINFO,
    SCOPES,
    STATE_PATTERN,
)
from .stores.base import Store
from .tokens import TokenManager
from .urls import check_redirect_url
from .user import LoginResult, WeChatUser, check_code, grants_userinfo, is_snapshot, valid_id

log = logging.getLogger("wechat_middleware")

#: Like the seed, treat a token as expired a minute early: a call made with it must land.
EXPIRY_MARGIN = 60.0

_SECRET_FIELDS = ("access_token", "refresh_token")


@dataclass(frozen=True)
class _UserToken:
    """A user's OAuth token as stored, with the times (by the OAuth clock) it dies."""

    access_token: str
    refresh_token: str
    openid: str
    scope: str
    unionid: str | None
    expires_at: float
    refresh_expires_at: float

    def dumps(self) -> str:
        return json.dumps(
            {name: value for name, value in asdict(self).items() if value is not None}
        )

    @classmethod
    def loads(cls, raw: str) -> _UserToken | None:
        """The stored token, or ``None`` for an entry this version cannot read."""
        try:
            data = json.loads(raw)
            return cls(
                access_token=str(data["access_token"]),
                refresh_token=str(data["refresh_token"]),
                openid=str(data["openid"]),
                scope=str(data["scope"]),
                unionid=str(data["unionid"]) if data.get("unionid") else None,
                expires_at=float(data["expires_at"]),
                refresh_expires_at=float(data["refresh_expires_at"]),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


class OAuth:
    """``wechat.oauth``: authorise users, exchange codes, keep their OAuth tokens.

    ``scope`` is the one the middleware logs users in with; ``redirect_url`` is the
    default callback URL (wechat-jssdk's ``wechatRedirectUrl``) for the URL builders.
    ``keep_tokens`` (an attribute too): the middleware's logins keep the user's token,
    for an app that calls ``refresh_access_token`` or ``get_user_info_by_openid`` later.
    ``followers``: the app's global tokens, when users are linked across apps by
    ``unionid`` (a website app is configured): a ``snsapi_base`` login, which WeChat
    gives no unionid, then asks ``cgi-bin/user/info`` for a follower's
    (docs/wechat-protocol.md section 5.9).
    """

    def __init__(
        self,
        client: WeChatClient,
        store: Store,
        *,
        scope: str = SCOPE_BASE,
        redirect_url: str | None = None,
        clock: Callable[[], float] = time.time,
        keys: StoreKeys | None = None,
        followers: TokenManager | None = None,
        keep_tokens: bool = False,
    ) -> None:
        self.client = client
        self.store = store
        self.followers = followers
        self.keys = keys or StoreKeys.for_app(client.app_id, client.api_base)
        self.scope = _check_scope(scope)
        self.redirect_url = check_redirect_url(redirect_url) if redirect_url else None
        self.clock = clock
        self.keep_tokens = keep_tokens

    # -- authorize URLs ----------------------------------------------------------

    def generate_oauth_url(
        self, custom_url: str | None = None, is_base: bool = False, state: str = ""
    ) -> str:
        """The authorize URL; as in wechat-jssdk, ``snsapi_userinfo`` unless ``is_base``."""
        return self.generate_oauth_url_by_scope(
            custom_url, SCOPE_BASE if is_base else SCOPE_USERINFO, state
        )

    def generate_oauth_url_by_scope(
        self, custom_url: str | None = None, scope: str | None = None, state: str = ""
    ) -> str:
        """The authorize URL for ``scope`` (default: this OAuth's scope)."""
        url = custom_url if custom_url is not None else self.redirect_url
        if url is None:
            raise ValueError("no redirect URL: pass custom_url or configure redirect_url")
        if not isinstance(state, str) or STATE_PATTERN.fullmatch(state) is None:
            raise ValueError(f"state must be at most {MAX_STATE_LENGTH} characters of [A-Za-z0-9]")
        return self.client.authorize_url(
            check_redirect_url(url), _check_scope(scope or self.scope), state
        )

    # -- code exchange and user info ---------------------------------------------

    def get_oauth_access_token(self, code: str) -> dict[str, Any]:
        """Exchange a callback's ``code`` (once, within 5 minutes) for the user's token.

        The token is kept under the user's openid, so later calls for this user
        (``get_user_info_by_openid``, ``refresh_access_token``) need no new code.
        """
        data = self._exchange(code)
        if not is_snapshot(data):
            self._save(data, self.clock() + REFRESH_TOKEN_TTL)
        return data

    def get_user_base_info(self, code: str) -> dict[str, Any]:
        """Who the code belongs to (openid, scope, and the unionid with
        ``snsapi_userinfo``), without the user's tokens."""
        data = self.get_oauth_access_token(code)
        return {name: value for name, value in data.items() if name not in _SECRET_FIELDS}

    def get_user_info(
        self,
        code: str,
        force_token_update: bool = False,
        return_token: bool = False,
        lang: str = "zh_CN",
    ) -> dict[str, Any]:
        """The profile (needs ``snsapi_userinfo``, else :class:`ScopeError`).

        ``force_token_update`` refreshes the new token before use; ``return_token``
        merges the token response into the profile, as wechat-jssdk does.
        """
        check_lang(lang)  # before the exchange: a code is spent by the first attempt
        token = self.get_oauth_access_token(code)
        if force_token_update:
            token = self._refresh(
                str(token.get("refresh_token") or ""),
                self.clock() + REFRESH_TOKEN_TTL,
                str(token["openid"]),
                store=not is_snapshot(token),
            )
        info = self.client.userinfo(str(token["access_token"]), str(token["openid"]), lang)
        return {**token, **info} if return_token else info

    def get_user_info_by_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``get_user_info`` with wechat-jssdk's option names (camelCase or snake_case)."""
        if not isinstance(options, Mapping):
            raise ValueError("options must be a mapping with at least 'code'")

        def option(*names: str) -> Any:
            return next((options[n] for n in names if n in options), None)

        return self.get_user_info(
            option("code"),
            force_token_update=bool(option("force", "force_token_update", "forceTokenUpdate")),
            return_token=bool(option("returnToken", "return_token")),
            lang=option("lang") or "zh_CN",
        )

    # -- stored per-user tokens --------------------------------------------------

    def is_access_token_valid(self, openid: str, *, remote: bool = False) -> bool:
        """Whether this user's stored token is unexpired; ``remote`` also asks WeChat."""
        token = self._load(_check_openid(openid))
        if token is None or self.clock() >= token.expires_at - EXPIRY_MARGIN:
            return False
        return not remote or self.client.oauth_token_valid(token.access_token, token.openid)

    def refresh_access_token(self, openid: str) -> dict[str, Any]:
        """A new OAuth token for this user from their stored refresh token (30 days).

        Raises :class:`RefreshTokenExpiredError` when none is held or WeChat says it
        expired: the user must log in again. Concurrent refreshes for one user are
        harmless (a refresh token stays usable), so no lock is taken.
        """
        token = self._load(_check_openid(openid))
        if token is None:
            raise RefreshTokenExpiredError(
                42002, "no OAuth refresh token is held for this user; they must log in again"
            )
        return self._refresh(
            token.refresh_token, token.refresh_expires_at, token.openid, store=True
        )

    def get_user_info_by_openid(self, openid: str, lang: str = "zh_CN") -> dict[str, Any]:
        """The profile of a user who logged in earlier, with the stored token.

        The token is refreshed when it has expired by our clock, and once more when
        WeChat rejects it (40001/42001) before then.
        """
        openid = _check_openid(openid)
        check_lang(lang)
        token = self._load(openid)
        if token is None or self.clock() >= token.expires_at - EXPIRY_MARGIN:
            access_token = str(self.refresh_access_token(openid)["access_token"])
        else:
            access_token = token.access_token
        try:
            return self.client.userinfo(access_token, openid, lang)
        except WeChatAPIError as exc:
            if exc.errcode not in (40001, 40014, 42001):
                raise
            log.warning("WeChat rejected a user's OAuth token; refreshing it and retrying once")
            fresh = str(self.refresh_access_token(openid)["access_token"])
            return self.client.userinfo(fresh, openid, lang)

    # -- the middleware's callback -----------------------------------------------

    def login(self, code: str, *, via: str = "oauth", scope: str = "") -> LoginResult:
        """Turn a callback's ``code`` into the user to keep in the session.

        With ``snsapi_base`` and ``followers``, a follower's unionid is asked for
        (section 5.9). With ``snsapi_userinfo`` the profile is fetched too; if that
        fails the user is still logged in with their openid: the code is spent and the
        identity proven, and profile fields are optional since WeChat's 2021 changes
        anyway. ``via="qrconnect"``: the code came from a website app's QR login (this
        OAuth holds that app's credentials), whose ``snsapi_login`` grants the profile
        too. ``scope`` (the one asked for) is unused: WeChat's answer says what was
        granted. The user's token is kept only with ``keep_tokens``.
        """
        data = self.get_oauth_access_token(code) if self.keep_tokens else self._exchange(code)
        if is_snapshot(data):
            return LoginResult(None, True)
        openid = str(data["openid"])
        if via == "qrconnect":
            scope = SCOPE_LOGIN
        else:
            scope = SCOPE_USERINFO if grants_userinfo(data.get("scope")) else SCOPE_BASE
        unionid = data.get("unionid") if valid_id(data.get("unionid")) else None
        if scope == SCOPE_BASE:
            if unionid is None and self.followers is not None:
                unionid = self._follower_unionid(openid)
            return LoginResult(WeChatUser(openid, scope, unionid, via=via), False)
        user = WeChatUser(openid, scope, unionid, via=via)
        try:
            info = self.client.userinfo(str(data["access_token"]), openid)
        except WeChatError as exc:
            log.warning(
                "logging in without a profile: sns/userinfo failed (%s %s)",
                type(exc).__name__,
                exc.errcode,
            )
            return LoginResult(user, False)
        if info.get("openid") != openid:
            log.warning("logging in without a profile: sns/userinfo answered for another user")
            return LoginResult(user, False)
        return LoginResult(WeChatUser.from_profile(openid, scope, unionid, info, via), False)

    def _follower_unionid(self, openid: str) -> str | None:
        """A follower's unionid from ``cgi-bin/user/info`` (section 5.9), or ``None``: for
        someone who does not follow, an account not bound to an Open Platform account,
        or any failure (the login goes on without it)."""
        assert self.followers is not None
        try:
            info = self.followers.with_access_token(
                lambda token: self.client.follower_info(token, openid)
            )
        except (WeChatError, StoreError) as exc:
            why = f"{type(exc).__name__} {exc.errcode}" if isinstance(exc, WeChatError) else exc
            log.warning("logging in without a unionid: cgi-bin/user/info failed (%s)", why)
            return None
        unionid = info.get("unionid")
        return unionid if info.get("openid") == openid and valid_id(unionid) else None

    # -- plumbing ------------------------------------------------------------------

    def _exchange(self, code: str) -> dict[str, Any]:
        """``sns/oauth2/access_token`` for a checked code; the openid checked too."""
        check_code(code)
        data = self.client.oauth_access_token(code)
        if not valid_id(data.get("openid")):
            raise WeChatUnavailableError("sns/oauth2/access_token: malformed openid")
        return data

    def _refresh(
        self, refresh_token: str, refresh_expires_at: float, openid: str, *, store: bool
    ) -> dict[str, Any]:
        """Call ``sns/oauth2/refresh_token``; a dead refresh token forgets the user's token."""
        if not refresh_token:
            raise RefreshTokenExpiredError(42002, "the OAuth token came without a refresh token")
        try:
            data = self.client.oauth_refresh_token(refresh_token)
        except WeChatAPIError as exc:
            # 42002 expired, 40030 invalid: either way only a new login helps.
            if exc.errcode not in (42002, 40030):
                raise
            self._forget(openid, refresh_token)
            raise RefreshTokenExpiredError(exc.errcode, exc.errmsg) from None
        if data.get("openid") != openid:
            raise WeChatUnavailableError("sns/oauth2/refresh_token: answered for another openid")
        if store and not is_snapshot(data):
            # The refresh token keeps its original 30 days; a new one starts its own.
            if data.get("refresh_token") != refresh_token:
                refresh_expires_at = self.clock() + REFRESH_TOKEN_TTL
            self._save(data, refresh_expires_at)
        return data

    def _load(self, openid: str) -> _UserToken | None:
        raw = self.store.get(self.keys.oauth_token(openid))
        return _UserToken.loads(raw) if raw is not None else None

    def _save(self, data: Mapping[str, Any], refresh_expires_at: float) -> None:
        now = self.clock()
        try:
            expires_in = float(data.get("expires_in") or OAUTH_TOKEN_TTL)
        except (TypeError, ValueError):
            expires_in = OAUTH_TOKEN_TTL
        unionid = data.get("unionid")
        token = _UserToken(
            access_token=str(data["access_token"]),
            refresh_token=str(data.get("refresh_token") or ""),
            openid=str(data["openid"]),
            scope=str(data.get("scope") or SCOPE_BASE),
            unionid=unionid if valid_id(unionid) else None,
            expires_at=now + expires_in,
            refresh_expires_at=refresh_expires_at,
        )
        # The entry lives as long as its refresh token: until then it can be renewed.
        ttl = max(refresh_expires_at - now, 1.0)
        self.store.set(self.keys.oauth_token(token.openid), token.dumps(), ttl)

    def _forget(self, openid: str, refresh_token: str) -> None:
        """Drop the user's stored token if it holds this dead refresh token.

        Compare-and-delete: a newer login stored meanwhile (another worker) is kept.
        """
        key = self.keys.oauth_token(openid)
        raw = self.store.get(key)
        if raw is None:
            return
        token = _UserToken.loads(raw)
        if token is None or token.refresh_token == refresh_token:
            self.store.delete(key, only_if=raw)


def _check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    return scope


def _check_openid(openid: str) -> str:
    if not valid_id(openid):
        raise ValueError(f"openid must be 1-{MAX_ID_LENGTH} characters of [A-Za-z0-9_-]")
    return openid
