"""``WeChat``: one object per app that wires the client, store, tokens and APIs.

The composition root: it builds the object graph once from a config, and is what an
app hands to the middleware. Nothing below it imports it; the adapters see it through
the small protocols in :mod:`wechat_middleware.context`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, TypeVar

from .client import WeChatClient
from .config import WeChatConfig
from .hooks import Hook, LoginHooks
from .jssdk import JSSDK
from .keys import StoreKeys
from .limits import ExchangeLimits
from .login import LoginSteps
from .logs import ThrottledWarning
from .oauth import OAuth
from .protocol import SCOPE_BASE, WECOM_TICKETS_PER_HOUR
from .rules import Rules
from .stores import Store, default_store_url, open_store
from .tokens import TokenManager
from .wecom_client import WeComClient
from .wecom_login import WeComLogin

_View = TypeVar("_View", bound=Callable[..., Any])


class WeChat:
    """The library's entry point.

    >>> wechat = WeChat.from_env()          # doctest: +SKIP
    >>> wechat.jssdk.get_signature_by_url("https://example.com/page?a=1")  # doctest: +SKIP

    ``store`` and ``clock`` are for tests and unusual deployments; by default the store
    comes from ``config.store`` (``WECHAT_STORE``), else the embedded SQLite file.
    """

    def __init__(
        self,
        config: WeChatConfig,
        *,
        store: Store | None = None,
        client: WeChatClient | WeComClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store or open_store(config.store or default_store_url(), clock=clock)
        client_class = WeComClient if config.is_wecom else WeChatClient
        self.client = client or client_class(
            config.app_id,
            config.app_secret,
            api_base=config.api_base,
            open_base=config.open_base,
            timeout=config.timeout,
        )
        # Keyed by app and issuer: a store shared with another app, or that still holds
        # what another WeChat (a fake, a staging host) issued, never mixes credentials.
        self.keys = StoreKeys.for_app(config.app_key, config.api_base)
        self.tokens = TokenManager(
            self.client,
            self.store,
            endpoint=config.token_endpoint,
            margin=config.refresh_margin,
            clock=clock,
            keys=self.keys,
            tickets_per_hour=WECOM_TICKETS_PER_HOUR if config.is_wecom else None,
        )
        self.jssdk = JSSDK(
            self.tokens,
            app_id=config.app_id,
            server_token=config.token,
            cache_size=config.url_cache_size,
            clock=clock,
            agent_id=config.agent_id,
        )
        self.hooks = LoginHooks()
        # A website app (desktop QR login) has its own credentials and its own users'
        # tokens; its codes are exchanged with them, never with the Official Account's.
        self.web_oauth: OAuth | None = None
        if config.web_app_id and config.web_app_secret:
            web_client = WeChatClient(
                config.web_app_id,
                config.web_app_secret,
                api_base=config.api_base,
                open_base=config.open_base,
                timeout=config.timeout,
            )
            self.web_oauth = OAuth(
                web_client,
                self.store,
                clock=clock,
                keys=StoreKeys.for_app(config.web_app_id, config.api_base),
            )
        # While WeChat is down every page fails to sign alike: one line per back-off window.
        self.signing_failures = ThrottledWarning(self.tokens.failure_backoff)
        self.oauth: OAuth | WeComLogin
        if isinstance(self.client, WeComClient):
            self.oauth = WeComLogin(self.client, self.tokens)
        else:
            self.oauth = OAuth(
                self.client,
                self.store,
                scope=config.scope,
                # Without a public URL the callback's host is known only per request.
                redirect_url=(
                    config.public_url + config.callback_path if config.public_url else None
                ),
                clock=clock,
                keys=self.keys,
                # Users are linked to the website app's by unionid: ask it of followers.
                followers=self.tokens if self.web_oauth is not None else None,
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> WeChat:
        """Configure an app's middleware from the ``WECHAT_*`` environment (see README).

        Everything the middleware needs is checked here, when the app module is
        imported, so a misconfigured deployment fails to start with a message naming the
        variable instead of answering every request with a 500 (Starlette builds its
        middleware only at the first request). Code that only calls the JS-SDK and
        OAuth APIs can build ``WeChat(WeChatConfig.from_env())``, which needs no
        ``WECHAT_SECRET_KEY``.
        """
        config = WeChatConfig.from_env(environ, **overrides)
        config.require_middleware_settings()
        return cls(config)

    def __repr__(self) -> str:
        if self.config.is_wecom:
            return f"WeChat(corp_id={self.config.app_id!r}, agent_id={self.config.agent_id!r})"
        return f"WeChat(app_id={self.config.app_id!r})"

    @cached_property
    def rules(self) -> Rules:
        """What the middleware decides by; :class:`ConfigError` without a secret key."""
        return Rules.from_config(self.config, self.keys, self.clock)

    @cached_property
    def login_steps(self) -> LoginSteps:
        """The I/O steps of a login and of a server check, for the adapters."""
        limits = ExchangeLimits(
            self.store,
            self.keys,
            per_client=self.config.login_rate_per_client,
            total=self.config.login_rate_total,
        )
        return LoginSteps(
            self.rules,
            self.store,
            self.oauth,
            self.jssdk,
            limits,
            self.clock,
            self.signing_failures,
            self.hooks,
            self.web_oauth,
        )

    def on_login(self, hook: Hook) -> Hook:
        """Call ``hook(user, is_new)`` once per completed login (a decorator too).

        ``user`` is the :class:`~wechat_middleware.user.WeChatUser`; ``is_new`` is true
        when this browser had no user, or another one, before. Plain or ``async``; it
        runs before the session is kept, so if it raises the login fails (a 500 page)
        and nothing is kept. Use it to upsert the app's own user row.
        """
        return self.hooks.add(hook)

    def login_required(
        self, scope: str = SCOPE_BASE, *, members_only: bool = False
    ) -> Callable[[_View], _View]:
        """Flask: ``@wechat.login_required(scope="snsapi_userinfo")`` on a view
        (``members_only=True``: a WeCom corp's members only).

        A forwarder to :func:`wechat_middleware.integrations.flask.login_required`.
        """
        from .integrations.flask import login_required

        return login_required(scope, members_only=members_only)

    def init_app(self, flask_app: Any) -> None:
        """Flask: wrap ``app.wsgi_app``; ``request.wechat`` and ``{{ wechat }}`` work.

        A forwarder to :func:`wechat_middleware.integrations.flask.init_app`.
        """
        from .integrations.flask import init_app

        init_app(flask_app, self)

    def close(self) -> None:
        self.client.close()
        if self.web_oauth is not None:
            self.web_oauth.client.close()
        self.store.close()
