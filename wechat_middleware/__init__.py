"""WeChat JS-SDK signing and web OAuth for WSGI and ASGI apps."""

from __future__ import annotations

from .config import WeChatConfig
from .context import WeChatContext
from .errors import (
    AppConfigError,
    ConfigError,
    CredentialPendingError,
    ForeignURLError,
    InvalidCodeError,
    InvalidCredentialError,
    QuotaExceededError,
    RefreshLimitError,
    RefreshTokenExpiredError,
    ScopeError,
    StoreError,
    SystemBusyError,
    UserNotAuthorizedError,
    WeChatAPIError,
    WeChatError,
    WeChatUnavailableError,
)
from .user import WeChatUser, WeComUser
from .wechat import WeChat

__version__ = "0.1.0"

__all__ = [
    "AppConfigError",
    "ConfigError",
    "CredentialPendingError",
    "ForeignURLError",
    "InvalidCodeError",
    "InvalidCredentialError",
    "QuotaExceededError",
    "RefreshLimitError",
    "RefreshTokenExpiredError",
    "ScopeError",
    "StoreError",
    "SystemBusyError",
    "UserNotAuthorizedError",
    "WeChat",
    "WeChatAPIError",
    "WeChatConfig",
    "WeChatContext",
    "WeChatError",
    "WeChatUnavailableError",
    "WeChatUser",
    "WeComUser",
    "__version__",
]
