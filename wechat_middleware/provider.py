"""What differs between a WeChat Official Account and a WeCom (企业微信) app, in one value.

Both speak the same protocol shape (OAuth's authorize page, a global access token, JS-SDK
tickets, signed callbacks), so the library is written once and reads the few facts that
differ from a :class:`Provider`: :data:`WECHAT` or :data:`WECOM`, chosen by
``WECHAT_PROVIDER`` (:data:`PROVIDERS`). A new difference is a new field here, not an
``if`` in the modules that use it (docs/wecom-and-qrconnect.md lists them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .client import WeChatClient
from .protocol import (
    SCOPE_PRIVATEINFO,
    SCOPE_USERINFO,
    SCOPES,
    WECHAT_UA_MARKER,
    WECOM_SCOPES,
    WECOM_TICKETS_PER_HOUR,
    WECOM_UA_MARKER,
)
from .wecom_client import WeComClient

if TYPE_CHECKING:
    from .tokens import Kind

#: The scopes that ask the user's consent, one per provider: a route marked with either
#: asks its own provider for its own (an app runs unchanged on both).
CONSENT_SCOPES = (SCOPE_USERINFO, SCOPE_PRIVATEINFO)


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider's facts; read, never branched on by name."""

    name: str  # the value of WECHAT_PROVIDER
    app_name: str  # what pages call the in-app browser ("open this page in ...")
    api_base: str  # the server API (docs/wechat-protocol.md section 2; wecom 1.1)
    scopes: tuple[str, ...]  # what WECHAT_SCOPE and ``?scope=`` may name
    consent_scope: str  # this provider's scope of the user's consent
    # Its API client; the client's ``meanings`` is the errcode table (several numbers
    # mean something else on WeCom: docs/wecom-and-qrconnect.md section 1.2).
    client_class: type[WeChatClient] | type[WeComClient]
    id_names: tuple[str, str]  # the app's id and secret, as the provider's console names them
    # The JS-SDK tickets there are: WeCom's app registers with wx.agentConfig too, signed
    # with the app's own ticket (wecom-and-qrconnect.md section 1.5).
    tickets: tuple[Kind, ...]
    tickets_per_hour: int | None  # our hold on ticket fetches (WeCom limits them)
    ua_marker: str  # the in-app browser names itself in the User-Agent (section 7)
    # A browser that also carries this marker is the other provider's (WeCom's browser
    # says MicroMessenger too): not ours unless the app asks (WECHAT_INCLUDE_WXWORK).
    ua_other: str | None
    # WeCom's URL check and every push are encrypted (wecom-and-qrconnect.md section 1.6);
    # an Official Account's are plainly signed, its pushes encrypted only in safe mode.
    encrypted_callbacks: bool
    # WeChat's code exchange says which scope was granted; WeCom's does not, so the
    # session keeps the one the login asked for.
    says_granted_scope: bool

    @property
    def signs_agent_config(self) -> bool:
        """Pages register the app with ``wx.agentConfig`` (WeCom's own SDK) too."""
        return "agent_ticket" in self.tickets

    def is_wechat(self, user_agent: str, include_wxwork: bool = False) -> bool:
        """Whether ``user_agent`` is this provider's in-app browser (an Official Account's
        counts WeCom's too when ``include_wxwork``)."""
        return self.ua_marker in user_agent and (
            include_wxwork or self.ua_other is None or self.ua_other not in user_agent
        )

    def own_scope(self, scope: str | None) -> str | None:
        """``scope`` in this provider's words, or ``None`` if it has no such scope: a
        route marked ``snsapi_userinfo`` (WeChat's consent screen) asks WeCom for
        ``snsapi_privateinfo`` (WeCom's), and the other way round."""
        if scope in self.scopes:
            return scope
        return self.consent_scope if scope in CONSENT_SCOPES else None


WECHAT = Provider(
    name="wechat",
    app_name="WeChat",
    api_base="https://api.weixin.qq.com",
    scopes=SCOPES,
    consent_scope=SCOPE_USERINFO,
    client_class=WeChatClient,
    id_names=("app_id", "app_secret"),
    tickets=("jsapi_ticket",),
    tickets_per_hour=None,
    ua_marker=WECHAT_UA_MARKER,
    ua_other=WECOM_UA_MARKER,
    encrypted_callbacks=False,
    says_granted_scope=True,
)

WECOM = Provider(
    name="wecom",
    app_name="WeCom (企业微信)",
    api_base="https://qyapi.weixin.qq.com",
    scopes=WECOM_SCOPES,
    consent_scope=SCOPE_PRIVATEINFO,
    client_class=WeComClient,
    id_names=("corp_id", "corp_secret"),
    tickets=("jsapi_ticket", "agent_ticket"),
    tickets_per_hour=WECOM_TICKETS_PER_HOUR,
    ua_marker=WECOM_UA_MARKER,
    ua_other=None,
    encrypted_callbacks=True,
    says_granted_scope=False,
)

#: By the value of ``WECHAT_PROVIDER`` (``config.provider``, checked to be one of these).
PROVIDERS: Mapping[str, Provider] = {p.name: p for p in (WECHAT, WECOM)}
