"""``Rules``: what the request decision needs from the configuration, computed once.

A frozen value built from a :class:`~wechat_middleware.config.WeChatConfig` when the
middleware starts: the config and its :class:`~wechat_middleware.provider.Provider`,
and what is computed from them once, so the decision itself (``flow.decide``) does no
parsing, and a test builds one from a config with no server and no store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import WeChatConfig
from .keys import StoreKeys
from .logs import ThrottledWarning
from .provider import PROVIDERS, Provider
from .session import SessionCodec
from .static import Script, WeComPage, helper_script

if TYPE_CHECKING:
    from .crypto import MessageCrypto


#: Seconds between two log lines about requests to the verify path with a bad signature.
BAD_SIGNATURE_LOG_WINDOW = 60.0


@dataclass(frozen=True, slots=True)
class Rules:
    """The config and its provider, plus what the decision would otherwise compute on
    every request: the set of our paths, the cookie's pattern and codec, the callback
    cipher, the helper script. Every other setting is read from ``config``."""

    config: WeChatConfig
    provider: Provider
    special_paths: frozenset[str]  # the middleware's own paths, tested on every request
    jssdk_script_path: str
    jssdk_report_path: str
    protect_all: bool  # WECHAT_PROTECT=all: every page but exclude needs a login
    desktop_login: bool  # browsers outside the app go to a QR login (website app, WeCom)
    # A browser outside WeChat on a protected page is sent to log in: to the QR login
    # of a website app when there is one, else to WeChat's OAuth when
    # ``login_required_outside_wechat``.
    logs_in_outside_wechat: bool
    allowed_hosts: tuple[str, ...]  # Host headers URLs may be built on (no public_url)
    crypto: MessageCrypto | None  # the callback cipher, with an EncodingAESKey
    keys: StoreKeys
    codec: SessionCodec
    cookie_prefix: str  # "name=": what a Cookie header holds when ours is there
    cookie_attributes: str  # everything after the value, built once
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
        provider = PROVIDERS[config.provider]
        _, jssdk_script, jssdk_report = config.jssdk_paths
        protect_all = config.protect == "all"
        desktop_login = config.desktop_login or config.web_app_id is not None
        cookie = config.session_cookie
        return cls(
            config=config,
            provider=provider,
            special_paths=frozenset(
                {
                    config.verify_path,
                    config.callback_path,
                    config.login_path,
                    config.logout_path,
                    *config.jssdk_paths,
                    *(config.relay_paths if config.relay_for else ()),
                }
            ),
            jssdk_script_path=jssdk_script,
            jssdk_report_path=jssdk_report,
            protect_all=protect_all,
            desktop_login=desktop_login,
            logs_in_outside_wechat=protect_all
            and (config.login_required_outside_wechat or desktop_login),
            allowed_hosts=config.served_hosts,
            crypto=_crypto(config),
            keys=keys,
            codec=SessionCodec(
                config.secret_key, config.session_max_age, app_id=config.app_key, clock=clock
            ),
            bad_signatures=ThrottledWarning(BAD_SIGNATURE_LOG_WINDOW, clock=clock),
            cookie_prefix=cookie + "=",
            cookie_attributes=f"Path=/; Max-Age={config.session_max_age}; HttpOnly; SameSite=Lax",
            helper_script=helper_script(
                config.jssdk_url,
                config.jssdk_path,
                WeComPage(config.wecom_jssdk_url, config.app_id, config.agent_id)
                if provider.signs_agent_config
                else None,
            ),
        )

    def is_wechat(self, user_agent: str) -> bool:
        """The provider's in-app browser (an Official Account's counts WeCom's too when
        ``WECHAT_INCLUDE_WXWORK``)."""
        return self.provider.is_wechat(user_agent, self.config.include_wxwork)

    def own_scope(self, scope: str | None) -> str | None:
        """``scope`` in this provider's words (:meth:`Provider.own_scope`)."""
        return self.provider.own_scope(scope)

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
            and not self.provider.is_wechat(user_agent, self.config.include_wxwork)
        )

    def secure(self, scheme: str) -> bool:
        """Whether the browser reaches us over https (the cookie is then ``Secure``)."""
        public_url = self.config.public_url
        return public_url.startswith("https:") if public_url else scheme == "https"


def _crypto(config: WeChatConfig) -> MessageCrypto | None:
    """The callback cipher: WeCom's receive id is the corp id, an Official Account's
    (safe mode) its AppID, both ``app_id`` here (docs/wecom-and-qrconnect.md section 1.6)."""
    if config.encoding_aes_key is None or config.token is None:
        return None
    from .crypto import MessageCrypto

    return MessageCrypto(config.token, config.encoding_aes_key, config.app_id)
