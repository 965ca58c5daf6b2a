"""The examples without the middleware: the same routes, template and static files.

A real-server comparison is only fair against the same pages, so these twins serve
``/``, ``/second``, ``/api/me`` and ``/static/...`` like ``examples/flask_app`` and
``examples/starlette_app`` do, rendering the examples' own page templates (the Flask
example's ``templates/page.html``, the Starlette example's ``PAGE``) with a stand-in
context (no user, ``null`` signature) where the middleware would put its own.

The Starlette template is read from the example's source with :mod:`ast` instead of
importing the module: importing it would build a ``WeChat`` from the environment, which
a bare app must not need.

Run: ``gunicorn bench.load.bare_apps:flask_app`` or
``uvicorn bench.load.bare_apps:starlette_app``.
"""

from __future__ import annotations

import ast
import html
import os
from pathlib import Path

from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from wechat_middleware.render import HTML, jssdk_tags

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JSSDK_URL = os.environ.get("WECHAT_JSSDK_URL", "https://res.wx.qq.com/open/js/jweixin-1.6.0.js")


def example_constant(path: Path, name: str) -> str:
    """The string ``name`` is assigned at the top level of the module at ``path``: a
    string literal, or the first argument of a call (``PAGE = env.from_string("...")``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            given = node.value.args[0] if isinstance(node.value, ast.Call) else node.value
            value = ast.literal_eval(given)
            if isinstance(value, str):
                return value
    raise LookupError(f"{path} assigns no string {name}")


APIS = ["updateAppMessageShareData", "updateTimelineShareData"]  # the examples' own


class NoWeChat:
    """What the examples' templates read from the WeChat context, with nothing in it."""

    openid = None
    userid = None
    user = None
    is_wechat_browser = False
    jssdk_url = JSSDK_URL

    def login_url(self) -> str:
        return "/wechat/login?next=/"

    def logout_url(self) -> str:
        return "/wechat/logout?next=/"

    def signature_json(self) -> str:
        return "null"

    def jssdk_tags(self, js_api_list: list[str]) -> HTML:
        """The same tags the examples' pages carry (the helper script and its call)."""
        return jssdk_tags("/wechat/jssdk/wechat.js", js_api_list, (), False)


NO_WECHAT = NoWeChat()

# -- Flask --------------------------------------------------------------------------------

FLASK_DIR = EXAMPLES / "flask_app"
STATIC = EXAMPLES / "static"

flask_app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
flask_app.jinja_loader = ChoiceLoader(
    [FileSystemLoader(FLASK_DIR / "templates"), FileSystemLoader(EXAMPLES / "templates")]
)
# Compiled once, as the example does.
FLASK_PAGE = flask_app.jinja_env.get_template("page.html")


def _flask_render(title: str, page: str) -> str:
    return FLASK_PAGE.render(
        title=title,
        page=page,
        spa=False,
        apis=APIS,
        wechat=NO_WECHAT,
        qr_login=False,
        framework="Flask",
        api_base="",
    )


@flask_app.get("/")
def home() -> str:
    return _flask_render("WeChat middleware · Flask", "home")


@flask_app.get("/second")
def second() -> str:
    return _flask_render("Second page · Flask", "second")


@flask_app.get("/api/me")
def me() -> dict[str, object]:
    return {"openid": NO_WECHAT.openid, "is_wechat": NO_WECHAT.is_wechat_browser}


# -- Starlette ----------------------------------------------------------------------------

STARLETTE_DIR = EXAMPLES / "starlette_app"
STARLETTE_PAGE = example_constant(STARLETTE_DIR / "app.py", "PAGE")


def _render(title: str) -> HTMLResponse:
    return HTMLResponse(
        STARLETTE_PAGE.format(
            title=html.escape(title),
            openid=html.escape(NO_WECHAT.openid or ""),
            userid=html.escape(NO_WECHAT.userid or ""),
            nickname="",
            logout="",
            signature=NO_WECHAT.signature_json(),
            jssdk_tags=NO_WECHAT.jssdk_tags(APIS),
            spa_links="",
        )
    )


async def s_home(request: Request) -> HTMLResponse:
    return _render("WeChat middleware · Starlette")


async def s_second(request: Request) -> HTMLResponse:
    return _render("Second page · Starlette")


async def s_me(request: Request) -> JSONResponse:
    return JSONResponse({"openid": NO_WECHAT.openid, "is_wechat": NO_WECHAT.is_wechat_browser})


starlette_app = Starlette(
    routes=[
        Route("/", s_home),
        Route("/second", s_second),
        Route("/api/me", s_me),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
)
