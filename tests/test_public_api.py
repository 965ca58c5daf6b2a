"""The public API, one way each: what the docs import, and how its pieces behave alike.

docs/request.md: ``WeChat``, ``WeChatConfig``, ``WeChatContext`` and
``WeChatUser`` come from the package root; every integration's ``get_wechat`` is the
request's ``WeChatContext``; markup a context builds goes into templates as it is.
"""

from __future__ import annotations

import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import wechat_middleware
from wechat_middleware import WeChat, WeChatConfig, WeChatContext, WeChatUser, WeComUser
from wechat_middleware.asgi import WeChatMiddleware
from wechat_middleware.integrations import flask as flask_glue
from wechat_middleware.integrations import starlette as starlette_glue

from .conftest import MakeWeChat


def test_the_root_exports_what_the_readme_imports() -> None:
    for name in ("WeChat", "WeChatConfig", "WeChatContext", "WeChatUser", "WeComUser"):
        assert name in wechat_middleware.__all__
    assert WeChatContext.__module__ == "wechat_middleware.context"
    assert {WeChat, WeChatConfig, WeChatUser, WeComUser}  # importable from the root


def test_markup_from_a_context_needs_no_safe_filter(make_wechat: MakeWeChat) -> None:
    """``config_json``, ``signature_json`` and ``jssdk_tags`` all carry ``__html__``."""
    context = WeChatContext(make_wechat(), page_url="https://example.com/page")
    for markup in (
        context.config_json(["chooseImage"]),
        context.signature_json(),
        context.jssdk_tags(["chooseImage"]),
    ):
        assert isinstance(markup, str)
        assert markup.__html__() == str(markup)  # type: ignore[attr-defined]


def test_login_url_and_logout_url_are_both_methods_back_to_next_or_this_page(
    make_wechat: MakeWeChat,
) -> None:
    context = WeChatContext(make_wechat(), page_url="https://example.com/orders?id=1")
    assert context.login_url() == "/wechat/login?next=/orders%3Fid%3D1"
    assert context.logout_url() == "/wechat/logout?next=/orders%3Fid%3D1"
    assert context.logout_url("/bye") == "/wechat/logout?next=/bye"
    assert context.login_url("/me", scope="snsapi_userinfo").startswith("/wechat/login?next=/me")


def test_flask_get_wechat_is_the_requests_context(make_wechat: MakeWeChat) -> None:
    app = Flask(__name__)
    flask_glue.init_app(app, make_wechat())

    @app.get("/")
    def home() -> dict[str, object]:
        context = flask_glue.get_wechat()
        from flask import request

        return {"same": context is request.wechat}  # type: ignore[attr-defined]

    assert app.test_client().get("/").json == {"same": True}


def test_starlette_get_wechat_is_the_requests_context(make_wechat: MakeWeChat) -> None:
    async def home(request: Request) -> JSONResponse:
        return JSONResponse({"same": starlette_glue.get_wechat(request) is request.state.wechat})

    app = Starlette(routes=[Route("/", home)])
    app.add_middleware(WeChatMiddleware, wechat=make_wechat())
    with TestClient(app) as client:
        assert client.get("/").json() == {"same": True}


def test_get_wechat_without_the_middleware_says_how_to_add_it() -> None:
    app = Flask(__name__)

    @app.get("/")
    def home() -> str:
        flask_glue.get_wechat()
        return ""

    app.testing = True
    with pytest.raises(RuntimeError, match=r"init_app\(app, wechat\)"):
        app.test_client().get("/")


def test_the_old_flask_spellings_still_work_with_a_deprecation_warning(
    make_wechat: MakeWeChat,
) -> None:
    """Kept for one release (docs/login.md): ``wechat.init_app`` and
    ``wechat.login_required``."""
    app = Flask(__name__)
    wechat = make_wechat()
    with pytest.warns(DeprecationWarning, match="integrations.flask"):
        wechat.init_app(app)
    with pytest.warns(DeprecationWarning, match="integrations.flask"):
        marker = wechat.login_required()
    app.get("/")(marker(lambda: "secret"))
    answer = app.test_client().get("/", headers={"Accept": "application/json"})
    assert answer.status_code == 403  # outside WeChat, no QR login: open it in WeChat


def test_the_asgi_adapter_holds_no_framework_marker() -> None:
    """Starlette's marker has one home, ``integrations.starlette`` (the framework-free
    adapter does not import the glue: no import circle)."""
    from wechat_middleware import asgi

    assert not hasattr(asgi, "login_required")
    assert callable(starlette_glue.login_required)
