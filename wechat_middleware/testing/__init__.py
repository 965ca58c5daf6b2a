"""Test helpers: fakes of WeChat and WeCom on real sockets, and a scripted WeChat browser
(over the network, or in-process on a WSGI or ASGI app)."""

from wechat_middleware.testing.browser import WeChatBrowser, fake_wechat_env, fake_wecom_env
from wechat_middleware.testing.fake_wechat import FakeUser, FakeWeChat, Fault
from wechat_middleware.testing.fake_wecom import FakeWeCom, WeComMember

__all__ = [
    "FakeUser",
    "FakeWeChat",
    "FakeWeCom",
    "Fault",
    "WeChatBrowser",
    "WeComMember",
    "fake_wechat_env",
    "fake_wecom_env",
]
