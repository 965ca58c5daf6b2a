"""The logged-in user, and how a profile from WeChat becomes one.

Pure: no I/O. Everything about a user the session keeps comes either from WeChat (a
profile that may be partly empty since WeChat's 2021 changes, or carry half an emoji)
or from a cookie that an older version of this library may have written; both are
checked field by field here, and anything malformed is dropped, never trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .protocol import ID_PATTERN, SCOPE_BASE, SCOPE_LOGIN, SCOPE_USERINFO, SCOPES
from .urls import is_http_url

VIAS = ("oauth", "qrconnect")
MAX_NICKNAME_LENGTH = 256
MAX_HEADIMGURL_LENGTH = 2048


def valid_id(value: object) -> bool:
    """An openid or unionid as WeChat issues them (docs/wechat-protocol.md section 5.3)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def profile_text(value: object, limit: int) -> str | None:
    """A profile field as kept in the session: empty or absent becomes ``None``."""
    if not isinstance(value, str) or not value:
        return None
    # WeChat's JSON may carry half an emoji (a lone surrogate); no template could encode it.
    return value[:limit].encode("utf-8", "replace").decode("utf-8")


def grants_userinfo(scope: object) -> bool:
    """WeChat documents ``scope`` as comma-separated, though it echoes the one requested."""
    return isinstance(scope, str) and SCOPE_USERINFO in scope.split(",")


def is_snapshot(data: Mapping[str, Any]) -> bool:
    """``is_snapshotuser`` is 1 for a visitor of a snapshot page (section 5.7)."""
    return data.get("is_snapshotuser") in (1, "1")


@dataclass(frozen=True)
class WeChatUser:
    """The logged-in user as the session keeps it."""

    openid: str
    scope: str = SCOPE_BASE
    unionid: str | None = None
    nickname: str | None = None
    headimgurl: str | None = None
    #: "oauth" (WeChat's in-app browser, this Official Account's openid) or "qrconnect"
    #: (a desktop QR login: the website app's openid; link the two by ``unionid``).
    via: str = "oauth"
    #: WeChat's ``is_snapshotuser``: such a visitor is never kept as logged in.
    is_snapshotuser: bool = False

    def to_dict(self) -> dict[str, str]:
        """The fields that are set: a session cookie has little room to spare."""
        data = {"openid": self.openid, "scope": self.scope}
        for name in ("unionid", "nickname", "headimgurl"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.via != "oauth":
            data["via"] = self.via
        return data

    def has_scope(self, scope: str) -> bool:
        """Whether this login granted what ``scope`` asks: the profile scope covers the
        base one, and a desktop QR login (``snsapi_login``) carries the profile."""
        return self.scope == scope or self.scope in (SCOPE_USERINFO, SCOPE_LOGIN)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WeChatUser | None:
        """The user a session holds, or ``None`` for anything malformed; never raises.

        The data comes from a cookie, possibly written by another version of this
        library, so nothing about its shape is assumed.
        """
        try:
            return cls._from_dict(data)
        except Exception:  # a hostile Mapping may raise anything from its methods
            return None

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any]) -> WeChatUser | None:
        if not isinstance(data, Mapping):
            return None
        openid = data.get("openid")
        if not isinstance(openid, str) or not valid_id(openid):
            return None
        scope = data.get("scope", SCOPE_BASE)
        if scope not in (*SCOPES, SCOPE_LOGIN):
            return None
        via = data.get("via", "oauth")
        if via not in VIAS or (scope == SCOPE_LOGIN) != (via == "qrconnect"):
            return None  # a QR login's scope, and only it, comes with via="qrconnect"
        unionid = data.get("unionid")
        if unionid is not None and not valid_id(unionid):
            return None
        nickname = data.get("nickname")
        if nickname is not None and not (
            isinstance(nickname, str) and 0 < len(nickname) <= MAX_NICKNAME_LENGTH
        ):
            return None
        headimgurl = data.get("headimgurl")
        if headimgurl is not None and not (
            isinstance(headimgurl, str)
            and len(headimgurl) <= MAX_HEADIMGURL_LENGTH
            and is_http_url(headimgurl)
        ):
            return None
        return cls(openid, str(scope), unionid, nickname, headimgurl, str(via))

    @classmethod
    def from_profile(
        cls,
        openid: str,
        scope: str,
        unionid: str | None,
        info: Mapping[str, Any],
        via: str = "oauth",
    ) -> WeChatUser:
        """The user from ``sns/userinfo``'s answer, every field sanitised."""
        headimgurl = profile_text(info.get("headimgurl"), MAX_HEADIMGURL_LENGTH)
        return cls(
            openid,
            scope,
            info.get("unionid") if valid_id(info.get("unionid")) else unionid,
            profile_text(info.get("nickname"), MAX_NICKNAME_LENGTH),
            headimgurl if headimgurl and is_http_url(headimgurl) else None,
            via,
        )


@dataclass(frozen=True)
class LoginResult:
    """What a callback's code yielded.

    ``user`` is ``None`` for a snapshot-page visitor (``snapshot`` is then ``True``):
    WeChat gave a virtual openid that must not be logged in, and sending the visitor
    through OAuth again would loop until they tap through the snapshot.
    """

    user: WeChatUser | None
    snapshot: bool
