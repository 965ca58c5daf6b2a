"""Test helpers: a fake WeChat API server on real sockets, and a scripted WeChat browser
(over the network, or in-process on a WSGI or ASGI app)."""

from wechat_middleware.testing.browser import WeChatBrowser, fake_wechat_env
from wechat_middleware.testing.fake_wechat import FakeUser, FakeWeChat, Fault

__all__ = ["FakeUser", "FakeWeChat", "Fault", "WeChatBrowser", "fake_wechat_env"]
