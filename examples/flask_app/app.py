"""Flask example: WeChat JS-SDK and OAuth with one line of setup.

Run:  WECHAT_APP_ID=... WECHAT_APP_SECRET=... WECHAT_SECRET_KEY=... \
      gunicorn -w 4 -b 127.0.0.1:8000 examples.flask_app.app:app
"""

from __future__ import annotations

from flask import Flask, render_template_string

from wechat_middleware import WeChat

app = Flask(__name__)
wechat = WeChat.from_env()
wechat.init_app(app)

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="/static/style.css">
  <title>{{ title }}</title>
</head>
<body>
  <h1>{{ title }}</h1>
  <p>Logged in as <span id="openid">{{ wechat.openid or "" }}</span></p>
  <p>JS-SDK: <span id="wx-status">loading</span></p>
  <p><a href="/">Home</a> · <a href="/second?from=home">Second page</a></p>
  <script id="wx-config" type="application/json">{{ wechat.signature_json() | safe }}</script>
  <script src="{{ wechat.jssdk_url }}"></script>
  <script>
    (function () {
      var status = document.getElementById("wx-status");
      var sig = JSON.parse(document.getElementById("wx-config").textContent);
      if (!sig || typeof wx === "undefined") { status.textContent = "unavailable"; return; }
      wx.config({
        debug: false,
        appId: sig.appId,
        timestamp: sig.timestamp,
        nonceStr: sig.nonceStr,
        signature: sig.signature,
        jsApiList: ["updateAppMessageShareData", "updateTimelineShareData"]
      });
      wx.ready(function () { status.textContent = "ready"; });
      wx.error(function (res) { status.textContent = "error: " + (res && res.errMsg); });
    })();
  </script>
</body>
</html>
"""


@app.get("/")
def home() -> str:
    return render_template_string(PAGE, title="WeChat middleware · Flask")


@app.get("/second")
def second() -> str:
    return render_template_string(PAGE, title="Second page · Flask")


@app.get("/api/me")
def me() -> dict[str, object]:
    """JSON endpoint: never redirected to OAuth, reports the user if any."""
    from flask import request

    return {"openid": request.wechat.openid, "is_wechat": request.wechat.is_wechat_browser}
