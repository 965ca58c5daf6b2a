"""What both example apps answer to a message pushed to the verify path.

The middleware has checked the push's signature (and decrypted it, for WeCom or an
Official Account in safe mode) before the route runs: ``request.wechat.message`` holds
it. A text message is answered with a text reply; anything else with an empty body,
which WeChat and WeCom take as "no reply".
"""

from __future__ import annotations

import time

from wechat_middleware.messages import Message


def cdata(text: str) -> str:
    """``text`` as CDATA, safe even when it holds ``]]>``."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def echo_reply(message: Message) -> bytes:
    """The body answering ``message``: "you said: ..." to a text message, else empty."""
    if message.get("MsgType") != "text":
        return b""
    reply = (
        "<xml>"
        f"<ToUserName>{cdata(message.get('FromUserName') or '')}</ToUserName>"
        f"<FromUserName>{cdata(message.get('ToUserName') or '')}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata('you said: ' + (message.get('Content') or ''))}</Content>"
        "</xml>"
    )
    return message.reply(reply)
