"""A WeCom (企业微信) self-built app's HTTP API, one method per endpoint, on
:class:`~wechat_middleware.client.APIClient` with WeCom's errcode table: several numbers
mean something else than on an Official Account (docs/wecom-and-qrconnect.md 1.2).
"""

from __future__ import annotations

from .client import JSON, APIClient
from .errors import WECOM_MEANINGS


class WeComClient(APIClient):
    """The endpoints a WeCom app's login and JS-SDK need. ``app_id`` is the corp id,
    ``app_secret`` the app's Secret (each app of a corp has its own)."""

    meanings = WECOM_MEANINGS

    # -- the token manager's interface (tokens.CredentialSource) -------------

    def fetch_access_token(
        self, endpoint: str, force_refresh: bool, rejected: str | None = None
    ) -> JSON:
        """``cgi-bin/gettoken``; WeCom has one endpoint and answers the same token until
        it expires, so ``endpoint``, ``force_refresh`` and ``rejected`` change nothing."""
        return self.get_access_token()

    def fetch_ticket(self, kind: str, access_token: str, rejected: str | None = None) -> JSON:
        if kind == "jsapi_ticket":
            return self.get_jsapi_ticket(access_token)
        if kind == "agent_ticket":
            return self.get_agent_ticket(access_token)
        raise ValueError(f"a WeCom app has no {kind}")

    # -- endpoints -------------------------------------------------------------

    def get_access_token(self) -> JSON:
        """The app's access token (7,200 s), fetched with the corp id and the app's secret."""
        return self._call(
            "GET",
            "cgi-bin/gettoken",
            params={"corpid": self.app_id, "corpsecret": self._secret},
            require=("access_token", "expires_in"),
        )

    def get_jsapi_ticket(self, access_token: str) -> JSON:
        """The corp's jsapi ticket, for ``wx.config``."""
        return self._call(
            "GET",
            "cgi-bin/get_jsapi_ticket",
            params={"access_token": access_token},
            require=("ticket", "expires_in"),
        )

    def get_agent_ticket(self, access_token: str) -> JSON:
        """The app's own ticket, for ``wx.agentConfig``."""
        return self._call(
            "GET",
            "cgi-bin/ticket/get",
            params={"access_token": access_token, "type": "agent_config"},
            require=("ticket", "expires_in"),
        )

    def get_user_info(self, access_token: str, code: str) -> JSON:
        """Who a login's ``code`` belongs to: a member's ``userid`` (and ``user_ticket``
        with ``snsapi_privateinfo``), or a non-member's ``openid``. Not retried: the
        code is single-use."""
        return self._call(
            "GET",
            "cgi-bin/auth/getuserinfo",
            params={"access_token": access_token, "code": code},
            retry=False,
        )

    def get_user_detail(self, access_token: str, user_ticket: str) -> JSON:
        """A member's private fields, those the admin enabled and the member granted."""
        return self._call(
            "POST",
            "cgi-bin/auth/getuserdetail",
            params={"access_token": access_token},
            json={"user_ticket": user_ticket},
        )
