"""The logged-in user, and how a profile from WeChat (or WeCom) becomes one.

Pure: no I/O. Everything about a user the session keeps comes either from WeChat (a
profile that may be partly empty since WeChat's 2021 changes, or carry half an emoji)
or from a cookie that an older version of this library may have written; both are
checked field by field here, and anything malformed is dropped, never trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .protocol import (
    ID_PATTERN,
    MAX_CODE_LENGTH,
    SCOPE_BASE,
    SCOPE_LOGIN,
    SCOPE_PRIVATEINFO,
    SCOPE_USERINFO,
    SCOPES,
    WECOM_ID_PATTERN,
    WECOM_SCOPES,
)
from .urls import is_http_url

VIAS = ("oauth", "qrconnect")
MAX_NICKNAME_LENGTH = 256
MAX_HEADIMGURL_LENGTH = 2048


def valid_id(value: object) -> bool:
    """An openid or unionid as WeChat issues them (docs/wechat-protocol.md section 5.3)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def check_code(code: object, issuer: str = "WeChat") -> None:
    """``ValueError`` unless ``code`` may be a callback's ``code`` (checked before it is
    sent to ``issuer``: docs/wechat-protocol.md section 5.2)."""
    if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH:
        raise ValueError(f"code must be the non-empty 'code' {issuer} added to the callback URL")


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

    @property
    def key(self) -> str:
        """Who this is, in one string: the openid (per app)."""
        return self.openid

    def slim(self) -> WeChatUser:
        """Only the identity, for a session whose cookie would grow too large."""
        return WeChatUser(self.openid, self.scope, via=self.via)

    def to_dict(self) -> dict[str, str]:
        return _fields_set(self, ("openid", "scope", "unionid", "nickname", "headimgurl"))

    def has_scope(self, scope: str) -> bool:
        """Whether this login granted what ``scope`` asks: the profile scope covers the
        base one, and a desktop QR login (``snsapi_login``) carries the profile."""
        return self.scope == scope or self.scope in (SCOPE_USERINFO, SCOPE_LOGIN)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WeChatUser | None:
        """The user a session holds, or ``None`` for anything malformed.

        The data is a cookie's JSON, possibly written by another version of this
        library, so nothing about its shape is assumed.
        """
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


#: The private fields of a WeCom member (``auth/getuserdetail``), each only when the
#: admin enabled it and the member consented (docs/wecom-and-qrconnect.md section 1.3).
WECOM_DETAIL_FIELDS = ("gender", "avatar", "qr_code", "mobile", "email", "biz_mail", "address")
MAX_DETAIL_LENGTH = 1024


@dataclass(frozen=True)
class WeComUser:
    """A WeCom app's logged-in user: a corp member (``userid``) or a visitor who is not
    one (``openid``, unique per corp, and ``external_userid`` for a customer of the
    corp). The private fields are set only with ``snsapi_privateinfo`` and the member's
    consent; the session cookie that keeps them is signed and ``HttpOnly``."""

    corp_id: str
    userid: str | None = None
    openid: str | None = None
    external_userid: str | None = None
    scope: str = SCOPE_BASE
    via: str = "oauth"  # or "qrconnect": WeCom's web login on a desktop browser
    gender: str | None = None
    avatar: str | None = None
    qr_code: str | None = None
    mobile: str | None = None
    email: str | None = None
    biz_mail: str | None = None
    address: str | None = None

    @property
    def is_member(self) -> bool:
        """A member of the corp (has a ``userid``), not a visitor from outside it."""
        return self.userid is not None

    @property
    def key(self) -> str:
        """Who this is, in one string: ``userid:...`` or ``openid:...``."""
        return f"userid:{self.userid}" if self.userid is not None else f"openid:{self.openid}"

    @property
    def unionid(self) -> None:
        """WeCom has no unionid (the same shape as :class:`WeChatUser` for templates)."""
        return None

    @property
    def nickname(self) -> None:
        """WeCom's login carries no name (read it with ``user/get`` if needed): ``None``,
        so a template written for :class:`WeChatUser` works unchanged."""
        return None

    def has_scope(self, scope: str) -> bool:
        """``snsapi_privateinfo`` covers ``snsapi_base``."""
        return self.scope == scope or self.scope == SCOPE_PRIVATEINFO

    def slim(self) -> WeComUser:
        return WeComUser(
            self.corp_id, self.userid, self.openid, self.external_userid, self.scope, self.via
        )

    def to_dict(self) -> dict[str, str]:
        names = ("corp_id", "scope", "userid", "openid", "external_userid", *WECOM_DETAIL_FIELDS)
        return _fields_set(self, names)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WeComUser | None:
        """The user a session holds, or ``None`` for anything malformed."""
        if not isinstance(data, Mapping):
            return None
        ids = [data.get(name) for name in ("corp_id", "userid", "openid", "external_userid")]
        if not all(value is None or valid_wecom_id(value) for value in ids) or ids[0] is None:
            return None
        if ids[1] is None and ids[2] is None:
            return None
        scope, via = data.get("scope", SCOPE_BASE), data.get("via", "oauth")
        if scope not in WECOM_SCOPES or via not in VIAS:
            return None
        detail = {}
        for name in WECOM_DETAIL_FIELDS:
            value = data.get(name)
            if value is not None and not (
                isinstance(value, str) and 0 < len(value) <= MAX_DETAIL_LENGTH
            ):
                return None
            detail[name] = value
        corp_id, userid, openid, external = (str(value) if value else None for value in ids)
        assert corp_id is not None
        return cls(corp_id, userid, openid, external, str(scope), str(via), **detail)

    @classmethod
    def from_answers(
        cls,
        corp_id: str,
        who: Mapping[str, Any],
        detail: Mapping[str, Any] | None,
        via: str,
        scope: str = SCOPE_BASE,
    ) -> WeComUser | None:
        """The user from ``auth/getuserinfo``'s answer (old capitalised names too) and,
        when granted, ``auth/getuserdetail``'s; ``None`` if it names nobody.

        ``scope`` is the one the login asked for: WeCom's answer does not say, and a
        member outside the app's visibility (or a non-member) who consented to
        ``snsapi_privateinfo`` simply has no private fields: asking again would loop.
        """
        userid = _first_id(who, "userid", "UserId")
        openid = None if userid else _first_id(who, "openid", "OpenId")
        if userid is None and openid is None:
            return None
        external = _first_id(who, "external_userid")
        fields: dict[str, str | None] = dict.fromkeys(WECOM_DETAIL_FIELDS)
        if scope not in WECOM_SCOPES:
            scope = SCOPE_BASE
        if detail is not None and detail.get("userid") == userid:
            for name in WECOM_DETAIL_FIELDS:
                fields[name] = profile_text(_as_text(detail.get(name)), MAX_DETAIL_LENGTH)
            for name in ("avatar", "qr_code"):
                url = fields[name]
                if url is not None and not is_http_url(url):
                    fields[name] = None
        return cls(corp_id, userid, openid, external, scope, via, **fields)


User = WeChatUser | WeComUser


def valid_wecom_id(value: object) -> bool:
    """A WeCom userid, openid, external_userid or corp id as WeCom issues them."""
    return isinstance(value, str) and WECOM_ID_PATTERN.fullmatch(value) is not None


def user_from_dict(data: Mapping[str, Any]) -> User | None:
    """The user a session cookie holds, of whichever provider wrote it."""
    if isinstance(data, Mapping) and "corp_id" in data:
        return WeComUser.from_dict(data)
    return WeChatUser.from_dict(data)


def _fields_set(user: User, names: tuple[str, ...]) -> dict[str, str]:
    """The fields of ``user`` that are set, ``via`` only when not ``"oauth"``: a session
    cookie has little room to spare."""
    data = {name: getattr(user, name) for name in names}
    data = {name: value for name, value in data.items() if value is not None}
    if user.via != "oauth":
        data["via"] = user.via
    return data


def _first_id(data: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = data.get(name)
        if valid_wecom_id(value):
            return str(value)
    return None


def _as_text(value: object) -> object:
    """``gender`` is a string in WeCom's sample but a number would do as well."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


@dataclass(frozen=True)
class LoginResult:
    """What a callback's code yielded.

    ``user`` is ``None`` for a snapshot-page visitor (``snapshot`` is then ``True``):
    WeChat gave a virtual openid that must not be logged in, and sending the visitor
    through OAuth again would loop until they tap through the snapshot.
    """

    user: User | None
    snapshot: bool
