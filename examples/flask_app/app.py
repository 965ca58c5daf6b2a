"""Flask example: WeChat JS-SDK and OAuth with one line of setup.

Pages (templates/page.html): ``/`` and ``/second`` are rendered on the server; ``/spa/`` is a small
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
from jinja2 import ChoiceLoader, FileSystemLoader

from examples.messages import echo_reply
from wechat_middleware import WeChat
from wechat_middleware.integrations.flask import init_app, login_required
from wechat_middleware.messages import REPLY_CONTENT_TYPE
from wechat_middleware.user import User

HERE = Path(__file__).resolve().parent
STATIC = HERE.parent / "static"
SHARED = HERE.parent / "templates"
APIS = ["updateAppMessageShareData", "updateTimelineShareData"]

app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
# The page's own folder, then the cards the Django example's page shares (examples/templates).
app.jinja_loader = ChoiceLoader([FileSystemLoader(HERE / "templates"), FileSystemLoader(SHARED)])
wechat = WeChat.from_env()
init_app(app, wechat)

# The page (templates/page.html), compiled once: rendering is then cheap next to what the
# middleware does.
PAGE = app.jinja_env.get_template("page.html")


def render(title: str, page: str) -> str:
    context = request.wechat  # type: ignore[attr-defined]
    return PAGE.render(
        title=title,
        page=page,
        spa=page == "spa",
        apis=APIS,
        wechat=context,
        # Whether a browser outside WeChat can log in (a website app's QR login, WeCom's).
        qr_login=wechat.rules.desktop_login,
        framework="Flask",
        api_base=wechat.config.api_base,
    )


@app.get("/")
def home() -> str:
    return render("WeChat middleware · Flask", "home")


@app.get("/second")
def second() -> str:
    return render("Second page · Flask", "second")


@app.get("/spa/")
@app.get("/spa/<path:route>")
def spa(route: str = "") -> str:
    """One HTML shell for every route of the single-page app."""
    return render("Single-page app · Flask", "spa")


@app.get("/account")
@login_required(scope="snsapi_userinfo")  # one consent screen, then the profile
def account() -> str:
    return render("Your account · Flask", "account")


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
