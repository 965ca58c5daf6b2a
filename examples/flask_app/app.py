"""Flask example: WeChat JS-SDK and OAuth with one line of setup.

Pages: ``/`` and ``/second`` are rendered on the server; ``/spa/`` is a small
single-page app whose routes (``/spa/``, ``/spa/profile``) change with
``history.pushState``. Both kinds get a working ``wx`` from one template line,
``{{ wechat.jssdk_tags([...]) }}``: the helper signs the URL WeChat checks (the landing
URL on iOS, the current one on Android) and configures again after a route change.

Run:  WECHAT_APP_ID=... WECHAT_APP_SECRET=... WECHAT_SECRET_KEY=... \
      gunicorn -w 4 -b 127.0.0.1:8000 examples.flask_app.app:app
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, request

from examples.messages import echo_reply
from wechat_middleware import WeChat
from wechat_middleware.integrations.flask import init_app, login_required
from wechat_middleware.messages import REPLY_CONTENT_TYPE
from wechat_middleware.user import User

STATIC = Path(__file__).resolve().parent.parent / "static"
APIS = ["updateAppMessageShareData", "updateTimelineShareData"]

app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
wechat = WeChat.from_env()
init_app(app, wechat)

# Compiled once: rendering is then cheap next to what the middleware does.
PAGE = app.jinja_env.from_string(
    """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="/static/style.css">
  <title>{{ title }}</title>
</head>
<body>
  <h1>{{ title }}</h1>
  <p id="login-state">{% if wechat.user %}Logged in as{% else %}Not logged in{% endif %}
    <span id="openid">{{ wechat.openid or "" }}</span>
    <span id="userid">{{ wechat.userid or "" }}</span>
    {% if wechat.user and wechat.user.nickname -%}
    (<span id="nickname">{{ wechat.user.nickname }}</span>)
    {%- endif %}
    {% if not wechat.user and (wechat.is_wechat_browser or qr_login) -%}
    <a id="login" href="{{ wechat.login_url() }}">Log in{% if not wechat.is_wechat_browser %}
      with WeChat's QR code{% endif %}</a>
    {%- endif %}</p>
  <p>JS-SDK: <span id="wx-status">loading</span> (ready <span id="wx-ready-count">0</span>x)</p>
  <p>Route: <span id="route"></span></p>
  <nav>
    <a href="/">Home</a> · <a href="/second?from=home">Second page</a> ·
    <a href="/spa/">Single-page app</a> · <a href="/account">Account</a>
    {% if spa %}· <a href="/spa/" data-route>SPA home</a> ·
    <a href="/spa/profile?tab=1" data-route>SPA profile</a>{% endif %}
  </nav>
  {% if wechat.user %}<form method="post" action="{{ wechat.logout_url() }}">
    <button id="logout">Log out</button></form>{% endif %}
  <script id="wx-config" type="application/json">{{ wechat.signature_json() }}</script>
  {{ wechat.jssdk_tags(apis) }}
  <script src="/static/app.js"></script>
</body>
</html>
"""
)


#: Whether a browser outside WeChat can log in: with a website app (desktop QR login).
QR_LOGIN = wechat.config.web_app_id is not None or wechat.config.desktop_login


def render(title: str, *, spa: bool = False) -> str:
    context = request.wechat  # type: ignore[attr-defined]
    return PAGE.render(title=title, spa=spa, apis=APIS, wechat=context, qr_login=QR_LOGIN)


@app.get("/")
def home() -> str:
    return render("WeChat middleware · Flask")


@app.get("/second")
def second() -> str:
    return render("Second page · Flask")


@app.get("/spa/")
@app.get("/spa/<path:route>")
def spa(route: str = "") -> str:
    """One HTML shell for every route of the single-page app."""
    return render("Single-page app · Flask", spa=True)


@app.get("/account")
@login_required(scope="snsapi_userinfo")  # one consent screen, then the profile
def account() -> str:
    return render("Your account · Flask")


@app.get("/api/orders")
@login_required()  # a fetch without a login gets 401 JSON with a login_url
def orders() -> dict[str, object]:
    return {"openid": request.wechat.openid, "orders": []}  # type: ignore[attr-defined]


@wechat.on_login
def remember(user: User, is_new: bool) -> None:
    """Once per login: where an app upserts its own user row. Here: a line in the file
    EXAMPLE_USERS_FILE names, when set."""
    path = os.environ.get("EXAMPLE_USERS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as users:
            users.write(json.dumps({"user": user.key, "new": is_new}) + "\n")


@app.get("/api/me")
def me() -> dict[str, object]:
    """JSON endpoint: never redirected to OAuth, reports the user if any."""
    return {"openid": request.wechat.openid, "is_wechat": request.wechat.is_wechat_browser}  # type: ignore[attr-defined]


@app.post("/wechat/verify")
def push() -> tuple[bytes, int, dict[str, str]]:
    """Messages pushed to the verify path, checked (and decrypted) by the middleware."""
    message = request.wechat.message  # type: ignore[attr-defined]
    body = echo_reply(message) if message is not None else b""
    return body, 200, {"Content-Type": REPLY_CONTENT_TYPE}
