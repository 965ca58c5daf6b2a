"""The framework glue: Flask's request.wechat and template variable, FastAPI's dependency."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from flask import Flask, Request, render_template_string, request
from starlette.testclient import TestClient

from wechat_middleware.asgi import WeChatMiddleware
from wechat_middleware.context import WeChatContext
from wechat_middleware.integrations.flask import init_app
from wechat_middleware.integrations.starlette import get_wechat
from wechat_middleware.testing.user_agents import DESKTOP_UA

from .conftest import MakeWeChat


def test_flask_request_wechat_keeps_a_custom_request_class(make_wechat: MakeWeChat) -> None:
    class MyRequest(Request):
        marker = "custom"

    app = Flask(__name__)
    app.request_class = MyRequest
    init_app(app, make_wechat())

    @app.get("/")
    def home() -> str:
        assert isinstance(request.wechat, WeChatContext)  # type: ignore[attr-defined]
        return f"{request.marker}:{request.wechat.is_wechat_browser}"  # type: ignore[attr-defined]

    reply = app.test_client().get("/", headers={"User-Agent": DESKTOP_UA})
    assert reply.get_data(as_text=True) == "custom:False"


def test_flask_templates_see_wechat(make_wechat: MakeWeChat) -> None:
    app = Flask(__name__)
    init_app(app, make_wechat())

    @app.get("/")
    def home() -> str:
        return render_template_string("{{ wechat.signature.url }}|{{ wechat.openid }}")

    reply = app.test_client().get("/?q=1", headers={"User-Agent": DESKTOP_UA})
    assert reply.get_data(as_text=True) == "http://localhost/?q=1|None"


def test_fastapi_dependency_gives_the_context(make_wechat: MakeWeChat) -> None:
    app = FastAPI()
    app.add_middleware(WeChatMiddleware, wechat=make_wechat())

    @app.get("/api/me")
    def me(wechat: WeChatContext = Depends(get_wechat)) -> dict[str, object]:  # noqa: B008
        return {"openid": wechat.openid, "in_wechat": wechat.is_wechat_browser}

    with TestClient(app) as client:
        reply = client.get("/api/me", headers={"User-Agent": DESKTOP_UA})
    assert reply.json() == {"openid": None, "in_wechat": False}


def test_config_json_is_safe_inside_a_script_element(make_wechat: MakeWeChat) -> None:
    app = Flask(__name__)
    init_app(app, make_wechat())

    @app.get("/")
    def home() -> str:
        return request.wechat.config_json(["a</script><script>alert(1)//", "\u2028"])  # type: ignore[attr-defined]

    body = (
        app.test_client()
        .get("/?x=<b>&y=\u2029", headers={"User-Agent": DESKTOP_UA})
        .get_data(as_text=True)
    )
    assert "<" not in body and ">" not in body and "\u2028" not in body
    assert '"jsApiList":["a\\u003c/script\\u003e' in body
