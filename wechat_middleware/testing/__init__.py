"""Test helpers: a fake WeChat API server for tests over real sockets."""

from wechat_middleware.testing.fake_wechat import FakeUser, FakeWeChat, Fault

__all__ = ["FakeUser", "FakeWeChat", "Fault"]
