"""``decide`` with its inputs bound, as a middleware feeds it: what the pure decision
tests call ``flow``.

No server and no store: the rules come from a config, the session from the request's
cookie, the time from a clock the test picks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.actions import Action, PassThrough
from wechat_middleware.flow import decide, session_of
from wechat_middleware.keys import StoreKeys
from wechat_middleware.rules import Rules
from wechat_middleware.testing.user_agents import IOS_WECHAT_UA, NAVIGATION_ACCEPT
from wechat_middleware.urls import location
from wechat_middleware.view import RequestView


class Flow:
    def __init__(self, config: WeChatConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        keys = StoreKeys.for_app(config.app_key, config.api_base)
        self.rules = Rules.from_config(config, keys, clock)
        self.codec = self.rules.codec

    @classmethod
    def of(cls, wechat: WeChat) -> Flow:
        flow = cls(wechat.config, wechat.clock)
        flow.rules = wechat.rules
        flow.codec = flow.rules.codec
        return flow

    def decide(self, request: RequestView) -> Action:
        return decide(request, self.rules, session_of(request.cookie, self.rules), self.clock())

    def page_url(self, action: PassThrough) -> str:
        return action.page.url(self.config.public_url)

    def location(self, next_url: str) -> str:
        """The Location a login that started from ``next_url`` comes back to."""
        return location(self.config.public_url, next_url)


def view(path: str = "/", query: str = "", **fields: Any) -> RequestView:
    """A request to ``example.com`` as a browser navigating to a page sends it (WeChat's
    on iOS unless ``user_agent`` says otherwise)."""
    values: dict[str, Any] = {
        "method": "GET",
        "scheme": "http",
        "host": "example.com",
        "path": path,
        "raw_path": path,
        "query": query,
        "user_agent": IOS_WECHAT_UA,
        "accept": NAVIGATION_ACCEPT,
    }
    values.update(fields)
    return RequestView(**values)
