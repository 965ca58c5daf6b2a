"""A WeCom app's login: a callback's ``code`` becomes a :class:`WeComUser`.

``wechat.oauth`` of a WeCom app. Unlike an Official Account's web OAuth there is no
per-user token: the code is exchanged with the app's own access token
(``auth/getuserinfo``), and a member who granted ``snsapi_privateinfo`` comes with a
``user_ticket`` (30 minutes) for the private fields (``auth/getuserdetail``)
(docs/wecom-and-qrconnect.md section 1.3).
"""

from __future__ import annotations

import logging

from .errors import InvalidCodeError, WeChatAPIError, WeChatError, WeChatUnavailableError, explain
from .protocol import SCOPE_BASE, SCOPE_PRIVATEINFO
from .tokens import TokenManager
from .user import LoginResult, WeComUser, check_code
from .wecom_client import WeComClient

log = logging.getLogger("wechat_middleware")

MAX_USER_TICKET_LENGTH = 512
#: ``auth/getuserinfo``'s answer for a code that is not this app's (docs section 1.3).
FOREIGN_CODE = 50001


class WeComLogin:
    """Exchanges login codes with the app's access token (shared, refreshed once)."""

    def __init__(self, client: WeComClient, tokens: TokenManager) -> None:
        self.client = client
        self.tokens = tokens
        self.corp_id = client.app_id

    def login(self, code: str, *, via: str = "oauth", scope: str = SCOPE_BASE) -> LoginResult:
        """The user a callback's ``code`` stands for.

        ``scope`` is the one the login asked for. With ``snsapi_privateinfo`` and a
        ``user_ticket`` the private fields are fetched too; if that fails the member is
        still logged in without them (the code is spent, the identity proven). A code
        from the desktop web login (``via="qrconnect"``) gives the userid only, and no
        login on that browser can give more: like a WeChat QR login's ``snsapi_login``,
        it counts for every scope (``snsapi_privateinfo``, without private fields), so
        a route asking for more does not send the member to scan again.
        """
        if via == "qrconnect":
            scope = SCOPE_PRIVATEINFO
        check_code(code, "WeCom")
        try:
            who = self.tokens.with_access_token(
                lambda token: self.client.get_user_info(token, code)
            )
        except WeChatAPIError as exc:
            if exc.errcode != FOREIGN_CODE:
                raise
            # A code another app's login produced (a browser replaying it here), or this
            # app's redirect domain is not trusted: the login fails like a bad code.
            log.warning("%s", explain(exc, self.corp_id, self.client.meanings))
            raise InvalidCodeError(exc.errcode, exc.errmsg) from None
        detail = None
        ticket = who.get("user_ticket")
        if (
            scope == SCOPE_PRIVATEINFO
            and via == "oauth"
            and isinstance(ticket, str)
            and 0 < len(ticket) <= MAX_USER_TICKET_LENGTH
        ):
            try:
                detail = self.tokens.with_access_token(
                    lambda token: self.client.get_user_detail(token, ticket)
                )
            except WeChatError as exc:
                log.warning(
                    "logging in without the private fields: auth/getuserdetail failed (%s %s)",
                    type(exc).__name__,
                    exc.errcode,
                )
        user = WeComUser.from_answers(self.corp_id, who, detail, via, scope)
        if user is None:
            raise WeChatUnavailableError("auth/getuserinfo: the answer names no user")
        return LoginResult(user, False)
