"""A WeCom app's user: from ``auth/getuserinfo`` (and ``auth/getuserdetail``) to the
session cookie and back.

WeCom facts (docs/wecom-and-qrconnect.md section 1.3): a member comes as ``userid`` (+
``user_ticket`` with ``snsapi_privateinfo``), a non-member as ``openid`` (+
``external_userid`` for a customer); the old ``user/getuserinfo`` answered ``UserId``,
``OpenId``, ``DeviceId``; the detail fields are ``gender`` (a string), ``avatar``,
``qr_code``, ``mobile``, ``email``, ``biz_mail``, ``address``.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from wechat_middleware.session import Session, SessionCodec
from wechat_middleware.user import WeChatUser, WeComUser, user_from_dict

CORP = "ww0123456789abcdef"
DETAIL = {
    "errcode": 0,
    "errmsg": "ok",
    "userid": "lisi",
    "gender": "1",
    "avatar": "https://wework.qpic.cn/avatar/0",
    "qr_code": "https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=x",
    "mobile": "13800000000",
    "email": "lisi@example.com",
    "biz_mail": "lisi@corp.example.com",
    "address": "广州市海珠区",
}


def test_a_member_is_known_by_userid() -> None:
    user = WeComUser.from_answers(CORP, {"userid": "lisi"}, None, "oauth")
    assert user is not None and user.is_member and user.userid == "lisi"
    assert user.openid is None and user.corp_id == CORP and user.key == "userid:lisi"


def test_a_non_member_is_known_by_openid_and_external_userid() -> None:
    who = {"openid": "oAAAAAAAA", "external_userid": "wmAAAAAAAA"}
    user = WeComUser.from_answers(CORP, who, None, "oauth")
    assert user is not None and not user.is_member
    assert user.openid == "oAAAAAAAA" and user.external_userid == "wmAAAAAAAA"
    assert user.key == "openid:oAAAAAAAA"


def test_the_old_capitalised_names_are_accepted() -> None:
    member = WeComUser.from_answers(CORP, {"UserId": "lisi", "DeviceId": "d"}, None, "oauth")
    visitor = WeComUser.from_answers(CORP, {"OpenId": "oBBBB"}, None, "oauth")
    assert member is not None and member.userid == "lisi"
    assert visitor is not None and visitor.openid == "oBBBB"


def test_an_answer_naming_nobody_gives_no_user() -> None:
    assert WeComUser.from_answers(CORP, {"errcode": 0}, None, "oauth") is None
    assert WeComUser.from_answers(CORP, {"userid": "bad id!"}, None, "oauth") is None


def test_interconnected_corps_userids_are_accepted() -> None:
    user = WeComUser.from_answers(CORP, {"userid": "wwother/lisi"}, None, "oauth")
    assert user is not None and user.userid == "wwother/lisi"


def test_the_private_fields_come_from_the_detail_answer() -> None:
    user = WeComUser.from_answers(
        CORP, {"userid": "lisi"}, DETAIL, "oauth", scope="snsapi_privateinfo"
    )
    assert user is not None and user.scope == "snsapi_privateinfo"
    assert user.mobile == "13800000000" and user.gender == "1"
    assert user.avatar == DETAIL["avatar"] and user.address == "广州市海珠区"


def test_a_detail_answer_for_another_member_is_ignored() -> None:
    user = WeComUser.from_answers(
        CORP, {"userid": "zhangsan"}, DETAIL, "oauth", scope="snsapi_privateinfo"
    )
    assert user is not None and user.mobile is None


def test_a_non_http_avatar_is_dropped() -> None:
    detail = {**DETAIL, "avatar": "javascript:alert(1)", "gender": 2}
    user = WeComUser.from_answers(
        CORP, {"userid": "lisi"}, detail, "oauth", scope="snsapi_privateinfo"
    )
    assert user is not None and user.avatar is None and user.gender == "2"


def test_privateinfo_without_a_user_ticket_keeps_the_scope_asked_for() -> None:
    """A member outside the app's visibility consents and gets no ticket: asking again
    would give the same, so the login counts as privateinfo without private fields."""
    user = WeComUser.from_answers(
        CORP, {"userid": "lisi"}, None, "oauth", scope="snsapi_privateinfo"
    )
    assert user is not None and user.has_scope("snsapi_privateinfo")
    assert user.has_scope("snsapi_base") and user.mobile is None


def test_a_session_keeps_a_wecom_user_whole() -> None:
    codec = SessionCodec("k" * 32, 3600, app_id=f"{CORP}.1000002")
    user = WeComUser.from_answers(
        CORP, {"userid": "lisi"}, DETAIL, "oauth", scope="snsapi_privateinfo"
    )
    assert user is not None
    assert codec.loads(codec.dumps(Session(user=user))).user == user


def test_a_session_cookie_holds_either_provider_s_user() -> None:
    wecom = WeComUser(CORP, userid="lisi")
    wechat = WeChatUser("o" * 28)
    assert user_from_dict(wecom.to_dict()) == wecom
    assert user_from_dict(wechat.to_dict()) == wechat


@pytest.mark.parametrize(
    "data",
    [
        {"corp_id": CORP},  # nobody
        {"corp_id": "bad corp", "userid": "lisi"},
        {"corp_id": CORP, "userid": "lisi", "scope": "snsapi_userinfo"},
        {"corp_id": CORP, "userid": "lisi", "via": "elsewhere"},
        {"corp_id": CORP, "userid": "lisi", "mobile": 13800000000},
        {"corp_id": CORP, "userid": "lisi", "email": "x" * 5000},
        {"corp_id": CORP, "userid": ["lisi"]},
    ],
)
def test_a_malformed_wecom_user_in_a_cookie_is_dropped(data: dict[str, Any]) -> None:
    assert user_from_dict(data) is None


def test_a_too_large_wecom_session_keeps_the_identity() -> None:
    codec = SessionCodec("k" * 32, 3600, app_id=f"{CORP}.1000002")
    noise = {
        name: secrets.token_urlsafe(700)  # random text: the cookie's compression cannot help
        for name in ("gender", "mobile", "email", "biz_mail", "address")
    }
    user = WeComUser(CORP, userid="lisi", scope="snsapi_privateinfo", **noise)
    kept = codec.loads(codec.dumps(Session(user=user))).user
    assert isinstance(kept, WeComUser)
    assert kept.userid == "lisi" and kept.address is None and kept.scope == "snsapi_privateinfo"
