"""The browsers tests, benchmarks and users pretend to be: one table of User-Agent strings.

Samples from the protocol reference (WeChat 8.0.47): WeChat's in-app browser says
``MicroMessenger``, and WeChat Work (企业微信) adds ``wxwork``. :data:`USER_AGENTS` names
them for ``WeChatBrowser(user_agent=...)``.
"""

from __future__ import annotations

__all__ = [
    "ANDROID_WECHAT_UA",
    "DESKTOP_UA",
    "IOS_WECHAT_UA",
    "NAVIGATION_ACCEPT",
    "USER_AGENTS",
    "WXWORK_ANDROID_UA",
    "WXWORK_UA",
]

# WeChat on iOS 17.
IOS_WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI "
    "Language/zh_CN"
)
# WeChat in Android 13's WebView (XWEB).
ANDROID_WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 "
    "MMWEBSDK/20231202 MMWEBID/1234 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 "
    "Weixin NetType/WIFI Language/zh_CN ABI/arm64"
)
# WeChat Work on iOS: MicroMessenger too, so only ``wxwork`` tells it apart.
WXWORK_UA = IOS_WECHAT_UA + " wxwork/4.1.0"
# WeChat Work on Android.
WXWORK_ANDROID_UA = ANDROID_WECHAT_UA + " wxwork/4.1.0"
# Chrome on Windows: not WeChat, so never sent to WeChat's login.
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)

USER_AGENTS: dict[str, str] = {
    "ios": IOS_WECHAT_UA,
    "android": ANDROID_WECHAT_UA,
    "wxwork": WXWORK_UA,
    "wxwork-android": WXWORK_ANDROID_UA,
    "desktop": DESKTOP_UA,
}

# What a browser sends when it navigates to a page (the middleware logs in only these).
NAVIGATION_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)
