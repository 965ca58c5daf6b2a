"""Tencent's official WXBizMsgCrypt sample vectors (docs/wecom-and-qrconnect.md section 1.7).

From Sample.cs / Sample.php / sample.go ("使用示例一/二"): the Official Account sample uses
the same values, so the receive id ``wx5823bf96d3bd56c7`` serves as a WeCom corp id and
as an Official Account's AppID in safe mode alike.
"""

from __future__ import annotations

# Tencent's WXBizMsgCrypt sample: settings shared by both examples.
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"

# Example 1 (GET URL check).
URL_TIMESTAMP = "1409659589"
URL_NONCE = "263014780"
URL_SIGNATURE = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
URL_ECHOSTR = (
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
)
URL_PLAIN = "1616140317555161061"

# Example 2 (POST push).
PUSH_TIMESTAMP = "1409659813"
PUSH_NONCE = "1372623149"
PUSH_SIGNATURE = "477715d11cdb4164915debcba66cb864d751f3e6"
PUSH_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qcz"
    "cdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8"
    "qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG"
    "4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+"
    "rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0l"
    "XdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
PUSH_BODY = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
    f"<Encrypt><![CDATA[{PUSH_ENCRYPT}]]></Encrypt>\n"
    "<AgentID><![CDATA[218]]></AgentID>\n</xml>"
).encode()
PUSH_PLAIN = (
    b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
    b"<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    b"<CreateTime>1409659813</CreateTime>\n"
    b"<MsgType><![CDATA[text]]></MsgType>\n"
    b"<Content><![CDATA[hello]]></Content>\n"
    b"<MsgId>4561255354251345929</MsgId>\n"
    b"<AgentID>218</AgentID>\n"
    b"</xml>"
)
