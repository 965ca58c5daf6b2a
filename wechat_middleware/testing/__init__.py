"""Test helpers: a fake WeChat API server and a scripted WeChat browser, over real sockets."""

from wechat_middleware.testing.browser import WeChatBrowser, fake_wechat_env
from wechat_middleware.testing.fake_wechat import FakeUser, FakeWeChat, Fault

__all__ = ["FakeUser", "FakeWeChat", "Fault", "WeChatBrowser", "fake_wechat_env"]
