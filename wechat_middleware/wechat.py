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

from .client import HubClient, WeChatClient
from .config import WeChatConfig
from .errors import ConfigError
from .hooks import Hook, LoginHooks
from .jssdk import JSSDK
from .keys import StoreKeys
from .limits import ExchangeLimits
from .logs import ThrottledWarning
from .oauth import OAuth
from .protocol import SCOPE_BASE
from .provider import PROVIDERS
from .relay import RelayClient
from .rules import Rules
from .steps import CodeExchange, Steps
from .stores import Store, default_store_url, open_store
from .tokens import TokenManager
from .wecom_client import WeComClient
from .wecom_login import WeComLogin

_View = TypeVar("_View", bound=Callable[..., Any])


class WeChat:
    """The library's entry point: one per app, handed to the middleware::

        wechat = WeChat.from_env()
        wechat.jssdk.get_signature_by_url("https://example.com/page?a=1")

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
        self.provider = PROVIDERS[config.provider]
        self.client = client or self.provider.client_class(
            config.app_id,
            config.app_secret,
            api_base=config.api_base,
            open_base=config.open_base,
            timeout=config.timeout,
            source_address=config.source_address,
        )
        # Keyed by app and issuer: a store shared with another app, or that still holds
        # what another WeChat (a fake, a staging host) issued, never mixes credentials.
        self.keys = StoreKeys.for_app(config.app_key, config.api_base)
        # A follower's token and tickets come from the hub (the issuer of its keys: a
        # store shared with the hub itself must not hold the hub's lock and wait on it).
        source: WeChatClient | WeComClient | HubClient = self.client
        token_keys = self.keys
        if config.token_hub and config.hub_key:
            source = HubClient(
                config.app_id,
                config.hub_key,
                wecom=config.is_wecom,
                meanings=self.client.meanings,
                api_base=config.token_hub,
                timeout=config.timeout,
                source_address=config.source_address,
            )
            token_keys = StoreKeys.for_app(config.app_key, config.token_hub)
        self.tokens = TokenManager(
            source,
            self.store,
            endpoint=config.token_endpoint,
            margin=config.refresh_margin,
            clock=clock,
            keys=token_keys,
            tickets_per_hour=self.provider.tickets_per_hour,
            page_wait=config.page_wait,
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
                source_address=config.source_address,
            )
            self.web_oauth = OAuth(
                web_client,
                self.store,
                clock=clock,
                keys=StoreKeys.for_app(config.web_app_id, config.api_base),
            )
        #: A relay's target: where its relay tickets are redeemed (server to server).
        self.relay: RelayClient | None = None
        if config.oauth_relay and config.relay_key:
            self.relay = RelayClient(
                config.oauth_relay, config.relay_path, config.relay_key, config.timeout
            )
        # While WeChat is down every page fails to sign alike: one line per back-off window.
        self.signing_failures = ThrottledWarning(self.tokens.failure_backoff)
        self._oauth: OAuth | None = None
        #: What turns a login's code into a user: the Official Account's web OAuth, or
        #: WeCom's user lookup (a WeCom app has no web OAuth of its own).
        self.login: CodeExchange
        if isinstance(self.client, WeComClient):
            self.login = WeComLogin(self.client, self.tokens)
        else:
            self.login = self._oauth = OAuth(
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
        """Configure an app's middleware from the ``WECHAT_*`` environment (docs/settings.md).

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
        agent_id = self.config.agent_id  # a WeCom app's only
        agent = f", agent_id={agent_id!r}" if agent_id is not None else ""
        return f"WeChat({self.provider.id_names[0]}={self.config.app_id!r}{agent})"

    @property
    def oauth(self) -> OAuth:
        """The Official Account's web OAuth API (wechat-jssdk's ``oauth.*``); a WeCom app has
        none, and gets :class:`ConfigError` saying so."""
        if self._oauth is None:
            raise ConfigError(
                "wechat.oauth is an Official Account's web OAuth: a WeCom app logs users in "
                "through wechat.login (WeCom's getuserinfo), and has no OAuth API of its own"
            )
        return self._oauth

    @cached_property
    def rules(self) -> Rules:
        """What the middleware decides by; :class:`ConfigError` without a secret key."""
        return Rules.from_config(self.config, self.keys, self.clock)

    @cached_property
    def steps(self) -> Steps:
        """What carries out the decision's I/O steps, for the adapters."""
        limits = ExchangeLimits(
            self.store,
            self.keys,
            per_client=self.config.login_rate_per_client,
            total=self.config.login_rate_total,
        )
        return Steps(
            self.rules,
            self.store,
            self.login,
            self.jssdk,
            limits,
            self.clock,
            self.signing_failures,
            self.hooks,
            self.web_oauth,
            self.relay,
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
        """Deprecated alias, kept for one release: Flask's marker is
        ``from wechat_middleware.integrations.flask import login_required``."""
        return _flask("login_required")(scope, members_only=members_only)  # type: ignore[no-any-return]

    def init_app(self, flask_app: Any) -> None:
        """Deprecated alias, kept for one release: Flask's set-up is
        ``from wechat_middleware.integrations.flask import init_app``; ``init_app(app, wechat)``."""
        _flask("init_app")(flask_app, self)

    def close(self) -> None:
        self.client.close()
        if isinstance(self.tokens.client, HubClient):
            self.tokens.client.close()
        if self.web_oauth is not None:
            self.web_oauth.client.close()
        if self.relay is not None:
            self.relay.close()
        self.store.close()


def _flask(name: str) -> Any:
    """The Flask glue's ``name``, for the deprecated aliases above (the core imports no
    framework glue of its own accord)."""
    import importlib
    import warnings

    warnings.warn(
        f"wechat.{name}() is deprecated: use {name} from wechat_middleware.integrations.flask",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module("wechat_middleware.integrations.flask"), name)
