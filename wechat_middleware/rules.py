"""``Rules``: what the request decision needs from the configuration, computed once.

A frozen value built from a :class:`~wechat_middleware.config.WeChatConfig` when the
middleware starts, so the decision itself (``flow.decide``) reads plain attributes and
does no parsing, and a test builds one from a config with no server and no store.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import WeChatConfig
from .keys import StoreKeys
from .logs import ThrottledWarning
from .protocol import SCOPE_PRIVATEINFO, SCOPE_USERINFO, WECHAT_UA_MARKER, WECOM_UA_MARKER
from .session import SessionCodec
from .static import Script, WeComPage, helper_script

if TYPE_CHECKING:
    from .crypto import MessageCrypto


#: Seconds between two log lines about requests to the verify path with a bad signature.
BAD_SIGNATURE_LOG_WINDOW = 60.0


@dataclass(frozen=True, slots=True)
class Rules:
    """The middleware's paths, who is sent to log in, and how the session is kept."""

    app_id: str  # WeCom: the corp id
    verify_path: str
    callback_path: str
    login_path: str
    logout_path: str
    jssdk_config_path: str
    jssdk_script_path: str
    jssdk_report_path: str
    special_paths: frozenset[str]
    exclude: tuple[str, ...]
    include_wxwork: bool
    login_outside_wechat: bool
    protect_all: bool  # WECHAT_PROTECT=all: every page but exclude needs a login
    web_app_id: str | None  # desktop QR login (an Open Platform website app)
    public_url: str | None
    allowed_hosts: tuple[str, ...]  # Host headers URLs may be built on (no public_url)
    scope: str
    scopes: tuple[str, ...]  # what ``?scope=`` may ask for
    open_base: str
    server_token: str | None
    wecom: bool  # WECHAT_PROVIDER=wecom: WeCom's browser, login and callbacks
    agent_id: str | None  # WeCom: the app's AgentId
    login_base: str  # WeCom's web (QR) login host
    desktop_login: bool  # browsers outside the app go to a QR login (website app, WeCom)
    # A browser outside WeChat on a protected page is sent to log in: to the QR login
    # of a website app when there is one, else to WeChat's OAuth when
    # ``login_required_outside_wechat``.
    logs_in_outside_wechat: bool
    crypto: MessageCrypto | None  # the callback cipher, with an EncodingAESKey
    keys: StoreKeys
    codec: SessionCodec
    cookie_name: str
    cookie_prefix: str  # "name=": what a Cookie header holds when ours is there
    cookie_attributes: str  # everything after the value, built once
    cookie_pattern: re.Pattern[str]  # finds our value in a Cookie header
    helper_script: Script
    anonymous_pause: float = 600.0  # declined consent, snapshot visitor: no OAuth again
    # Anyone can post forged pushes to the verify path: one line a minute says so.
    bad_signatures: ThrottledWarning = field(
        default_factory=lambda: ThrottledWarning(BAD_SIGNATURE_LOG_WINDOW), compare=False
    )

    @classmethod
    def from_config(
        cls, config: WeChatConfig, keys: StoreKeys, clock: Callable[[], float] = time.time
    ) -> Rules:
        """The rules of ``config``; :class:`ConfigError` if the middleware cannot run.
        ``clock`` dates and ages session cookies (the ``WeChat``'s clock)."""
        config.require_middleware_settings()
        assert config.secret_key is not None
        jssdk_config, jssdk_script, jssdk_report = config.jssdk_paths
        protect_all = config.protect == "all"
        desktop_login = config.desktop_login or config.web_app_id is not None
        return cls(
            app_id=config.app_id,
            verify_path=config.verify_path,
            callback_path=config.callback_path,
            login_path=config.login_path,
            logout_path=config.logout_path,
            jssdk_config_path=jssdk_config,
            jssdk_script_path=jssdk_script,
            jssdk_report_path=jssdk_report,
            special_paths=frozenset(
                {
                    config.verify_path,
                    config.callback_path,
                    config.login_path,
                    config.logout_path,
                    *config.jssdk_paths,
                }
            ),
            exclude=config.exclude,
            include_wxwork=config.include_wxwork,
            login_outside_wechat=config.login_required_outside_wechat,
            protect_all=protect_all,
            web_app_id=config.web_app_id,
            public_url=config.public_url,
            allowed_hosts=config.served_hosts,
            scope=config.scope,
            scopes=config.scopes,
            open_base=config.open_base,
            server_token=config.token,
            wecom=config.is_wecom,
            agent_id=config.agent_id,
            login_base=config.login_base,
            desktop_login=desktop_login,
            logs_in_outside_wechat=protect_all
            and (config.login_required_outside_wechat or desktop_login),
            crypto=_crypto(config),
            keys=keys,
            codec=SessionCodec(
                config.secret_key, config.session_max_age, app_id=config.app_key, clock=clock
            ),
            bad_signatures=ThrottledWarning(BAD_SIGNATURE_LOG_WINDOW, clock=clock),
            cookie_name=config.session_cookie,
            cookie_prefix=config.session_cookie + "=",
            cookie_attributes=f"Path=/; Max-Age={config.session_max_age}; HttpOnly; SameSite=Lax",
            # Several Cookie headers arrive joined: by "; " (HTTP/2, ASGI) or by ","
            # (a WSGI server joining repeats); our value never holds either character.
            helper_script=helper_script(
                config.jssdk_url,
                config.jssdk_path,
                WeComPage(config.wecom_jssdk_url, config.app_id, config.agent_id)
                if config.is_wecom
                else None,
            ),
            cookie_pattern=re.compile(
                rf"(?:^|[;,])\s*{re.escape(config.session_cookie)}=([^;,\s]*)"
            ),
        )

    def is_wechat(self, user_agent: str) -> bool:
        """The provider's in-app browser: WeChat's (WeCom's too when ``include_wxwork``),
        or for a WeCom app WeCom's, which says ``wxwork`` (and ``MicroMessenger``)."""
        if self.wecom:
            return WECOM_UA_MARKER in user_agent
        return WECHAT_UA_MARKER in user_agent and (
            self.include_wxwork or WECOM_UA_MARKER not in user_agent
        )

    def own_scope(self, scope: str | None) -> str | None:
        """``scope`` in this provider's words, or ``None`` if it has no such scope: a
        route marked ``snsapi_userinfo`` (WeChat's consent screen) asks WeCom for
        ``snsapi_privateinfo`` (WeCom's), and the other way round, so one app runs
        unchanged on either."""
        if scope in self.scopes:
            return scope
        if scope in (SCOPE_USERINFO, SCOPE_PRIVATEINFO):
            return SCOPE_PRIVATEINFO if self.wecom else SCOPE_USERINFO
        return None

    @property
    def app_name(self) -> str:
        """What the in-app browser is called, in pages that ask to open a link there."""
        return "WeCom (企业微信)" if self.wecom else "WeChat"

    def passes_untouched(self, path: str, user_agent: str, cookie: str) -> bool:
        """True when the request certainly just reaches the app, with no user: not one
        of our paths, no session cookie, and a browser nobody sends to log in.

        A cheap test on the raw strings, so the commonest request (a visitor outside
        WeChat) costs no parsing at all.
        """
        return (
            path not in self.special_paths
            and self.cookie_prefix not in cookie
            and not self.logs_in_outside_wechat
            and not self.is_wechat(user_agent)
        )

    def secure(self, scheme: str) -> bool:
        """Whether the browser reaches us over https (the cookie is then ``Secure``)."""
        return self.public_url.startswith("https:") if self.public_url else scheme == "https"


def _crypto(config: WeChatConfig) -> MessageCrypto | None:
    """The callback cipher: WeCom's receive id is the corp id, an Official Account's
    (safe mode) its AppID, both ``app_id`` here (docs/wecom-and-qrconnect.md section 1.6)."""
    if config.encoding_aes_key is None or config.token is None:
        return None
    from .crypto import MessageCrypto

    return MessageCrypto(config.token, config.encoding_aes_key, config.app_id)
