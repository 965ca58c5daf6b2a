"""The frictions a new user hit (issue 24), each shown fixed.

Behind a proxy: which order of ProxyFix and ``init_app`` signs the browser's URL, and
the one WARNING when the proxy's headers reach the middleware unapplied (WSGI and ASGI).
Logging: one start-up INFO line, and one line for one request while WeChat is
unreachable. Install hints that work as written, and the LICENSE pyproject names.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client

import wechat_middleware
from wechat_middleware import WeChat, proxied
from wechat_middleware.asgi import WeChatMiddleware as ASGIMiddleware
from wechat_middleware.integrations.flask import init_app
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import IOS_WECHAT_UA

from .conftest import MakeWeChat, fake_config
from .support.site import block_with, page, page_names

ROOT = Path(__file__).resolve().parent.parent
SHOP = "shop.example.com"
PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": SHOP, "X-Forwarded-For": "203.0.113.7"}
PROXY_WARNING = "proxy headers arrive that nothing applied"


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a new process as far as the one proxy warning goes."""
    monkeypatch.setattr(proxied, "_warned", proxied.threading.Event())


def proxy_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith(PROXY_WARNING)
    ]


def redirect_uri(location: str) -> str:
    """Where WeChat's authorize page would send the browser back to."""
    return parse_qs(urlsplit(location).query)["redirect_uri"][0]


def flask_app(wechat: WeChat, *, proxy_fix_first: bool) -> Flask:
    app = Flask(__name__)
    if proxy_fix_first:  # the natural reading of "ProxyFix before the middleware": wrong
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
        init_app(app, wechat)
    else:  # docs/proxy.md: init_app, then ProxyFix around it, so ProxyFix runs first
        init_app(app, wechat)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.get("/")(lambda: "home")
    return app


def test_proxyfix_wrapping_after_init_app_signs_the_browsers_url(
    make_wechat: MakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app = flask_app(make_wechat(allowed_hosts=(SHOP,)), proxy_fix_first=False)
    with caplog.at_level(logging.WARNING, "wechat_middleware"):
        answer = Client(app).get(
            "/", headers={**PROXIED, "User-Agent": IOS_WECHAT_UA, "Accept": "text/html"}
        )
    assert answer.status_code == 302
    assert redirect_uri(answer.headers["Location"]) == f"https://{SHOP}/wechat/oauth-callback"
    assert proxy_warnings(caplog) == []


def test_proxyfix_above_init_app_is_too_late_and_said_once(
    make_wechat: MakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app = flask_app(make_wechat(), proxy_fix_first=True)
    headers = {**PROXIED, "User-Agent": IOS_WECHAT_UA, "Accept": "text/html"}
    with caplog.at_level(logging.WARNING, "wechat_middleware"):
        answers = [Client(app).get("/", headers=headers) for _ in range(3)]
    # What the issue saw: signed for http://localhost, the browser being on https://shop...
    assert redirect_uri(answers[0].headers["Location"]).startswith("http://localhost/")
    [warning] = proxy_warnings(caplog)
    assert "X-Forwarded-Proto says https, the app sees http" in warning
    assert f"X-Forwarded-Host says {SHOP}" in warning
    assert "X-Forwarded-For says 203.0.113.7" in warning
    assert "after init_app" in warning and "WECHAT_PUBLIC_URL" in warning


def test_no_warning_with_a_public_url(
    make_wechat: MakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app = flask_app(make_wechat(public_url=f"https://{SHOP}"), proxy_fix_first=True)
    with caplog.at_level(logging.WARNING, "wechat_middleware"):
        answer = Client(app).get(
            "/", headers={**PROXIED, "User-Agent": IOS_WECHAT_UA, "Accept": "text/html"}
        )
    assert redirect_uri(answer.headers["Location"]) == f"https://{SHOP}/wechat/oauth-callback"
    assert proxy_warnings(caplog) == []


def test_no_warning_without_proxy_headers_nor_for_pages_that_pass_untouched(
    make_wechat: MakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app = flask_app(make_wechat(), proxy_fix_first=True)
    with caplog.at_level(logging.WARNING, "wechat_middleware"):
        Client(app).get("/", headers={"User-Agent": IOS_WECHAT_UA, "Accept": "text/html"})
        Client(app).get("/", headers={**PROXIED, "User-Agent": "Mozilla/5.0 Chrome/124"})
    assert proxy_warnings(caplog) == []


def starlette_app(wechat: WeChat) -> Starlette:
    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("home")

    app = Starlette(routes=[Route("/", home)])
    app.add_middleware(ASGIMiddleware, wechat=wechat)
    return app


def test_asgi_unapplied_headers_are_said_once(
    make_wechat: MakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"User-Agent": IOS_WECHAT_UA, "Accept": "text/html", "Forwarded": "proto=https"}
    app = starlette_app(make_wechat())
    with TestClient(app) as client, caplog.at_level(logging.WARNING, "wechat_middleware"):
        for _ in range(3):
            client.get("/", headers=headers, follow_redirects=False)
    [warning] = proxy_warnings(caplog)
    assert "Forwarded proto says https, the app sees http" in warning


def nginx_headers() -> dict[str, str]:
    """What the nginx block of docs/proxy.md sends for ``https://SHOP`` and a phone at
    203.0.113.7: its ``proxy_set_header`` lines, nginx's variables filled in."""
    variables = {"$host": SHOP, "$scheme": "https", "$proxy_add_x_forwarded_for": "203.0.113.7"}
    config = block_with("proxy_set_header", ["docs/proxy.md"], lang="nginx").code
    found = re.findall(r"proxy_set_header\s+(\S+)\s+(\S+);", config)
    return {name: variables[value] for name, value in found}


def test_uvicorns_proxy_headers_apply_them_and_nginx_passes_the_host(
    make_wechat: MakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    """``uvicorn --proxy-headers --forwarded-allow-ips='*'`` is this middleware of
    uvicorn's; it applies X-Forwarded-Proto and -For, not -Host: nginx passes the Host
    (``proxy_set_header Host $host``), as the nginx block of docs/proxy.md does."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    app = ProxyHeadersMiddleware(starlette_app(make_wechat(allowed_hosts=(SHOP,))), "*")
    headers = {**nginx_headers(), "User-Agent": IOS_WECHAT_UA, "Accept": "text/html"}
    assert set(nginx_headers()) == {"Host", "X-Forwarded-Proto", "X-Forwarded-For"}
    with TestClient(app) as client, caplog.at_level(logging.WARNING, "wechat_middleware"):
        answer = client.get("/", headers=headers, follow_redirects=False)
    assert redirect_uri(answer.headers["location"]) == f"https://{SHOP}/wechat/oauth-callback"
    assert proxy_warnings(caplog) == []


def test_rfc7239_addresses_with_brackets_and_ports_count_as_applied() -> None:
    assert proxied._same_address('"[2001:db8::1]:4711"'.strip('"'), "2001:db8::1")
    assert proxied._same_address("192.0.2.1:80", "192.0.2.1")
    assert proxied._same_host("a.com:443", "A.com")
    assert proxied._rfc7239('for=192.0.2.1;proto=https;host="a.com", for=10.0.0.1') == {
        "for": ["192.0.2.1", "10.0.0.1"],
        "proto": ["https"],
        "host": ["a.com"],
    }


# --- logging: the start-up line, one line for one request while WeChat is unreachable ---


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_building_the_middleware_logs_one_info_line_without_the_password(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    store = "redis://:hunter2@127.0.0.1:1/0"
    config = fake_config(fake_wechat, store=store, public_url=f"https://{SHOP}")
    wechat = WeChat(config, store=wechat_middleware.stores.open_store("memory://"))
    with caplog.at_level(logging.INFO, "wechat_middleware"):
        init_app(Flask(__name__), wechat)
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert f"wechat app {fake_wechat.app_id}" in line
    assert "store redis://:***@127.0.0.1:1/0" in line and "hunter2" not in line
    assert f"public URL https://{SHOP}" in line
    assert "/wechat/verify" in line and "/wechat/oauth-callback" in line


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_one_request_while_wechat_is_unreachable_logs_one_short_line(
    asgi: bool, make_wechat: MakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: two retry lines, the page's, the token's and the ticket's, each with
    urllib3's nested reprs. Now the fetch says why, once (the retries and the
    pages that quote it go to DEBUG)."""
    port = closed_port()
    wechat = make_wechat(api_base=f"http://127.0.0.1:{port}")
    wechat.client.backoff = 0.2  # the default: the retries outlast a page's wait

    async def page(request: object) -> PlainTextResponse:
        return PlainTextResponse(str(request.state.wechat.signature))  # type: ignore[attr-defined]

    headers = {"User-Agent": "Mozilla/5.0 Chrome/124", "Accept": "text/html"}  # a page
    with caplog.at_level(logging.INFO, "wechat_middleware"):
        if asgi:
            app = Starlette(routes=[Route("/", page)])
            app.add_middleware(ASGIMiddleware, wechat=wechat)
            with TestClient(app) as client:
                client.get("/", headers=headers)
        else:
            flask = Flask(__name__)
            init_app(flask, wechat)
            flask.get("/")(lambda: str(flask_glue_get().signature))
            Client(flask).get("/", headers=headers)
        deadline = time.monotonic() + 10
        while wechat.tokens.in_flight("jsapi_ticket") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)  # the flight's last line is written as it ends
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, lines
    assert re.fullmatch(
        rf"fetching the access_token failed: .*cannot connect to 127\.0\.0\.1:{port} "
        r"\(Connection refused\) \(backing off \d+s\)",
        lines[0],
    )
    assert "urllib3" not in lines[0] and "Max retries" not in lines[0]


def flask_glue_get() -> wechat_middleware.WeChatContext:
    from wechat_middleware.integrations.flask import get_wechat

    return get_wechat()


# --- install hints, the LICENSE ---------------------------------------------------


def pyproject() -> dict[str, Any]:
    import tomllib  # Python 3.11: as test_readme, the suite's other reader of it

    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"])


def extras() -> dict[str, list[str]]:
    return dict(pyproject()["optional-dependencies"])


def test_install_hints_in_messages_name_a_requirement_of_an_extra() -> None:
    """The package is not on PyPI: ``pip install 'wechat-middleware[crypto]'`` finds
    nothing (or someone else's package). A message names the dependency itself."""
    requirements = {req for deps in extras().values() for req in deps}
    hints = [
        (source.name, hint)
        for source in sorted((ROOT / "wechat_middleware").rglob("*.py"))
        for hint in re.findall(r"pip install '([^']+)'", source.read_text(encoding="utf-8"))
    ]
    assert {name for name, _ in hints} >= {"crypto.py", "factory.py", "fake_wecom_callbacks.py"}
    assert [(name, hint) for name, hint in hints if hint not in requirements] == []


#: What the framework pages install beside the package: servers and FastAPI, from PyPI.
SERVERS = {"build", "gunicorn", "uvicorn", "fastapi"}


def test_every_documented_install_works_from_a_clone_whatever_its_name() -> None:
    readme = "\n".join(page(name) for name in page_names())
    version = pyproject()["version"]
    requirements = {req for deps in extras().values() for req in deps}
    wheel = f"dist/wechat_middleware-{version}-py3-none-any.whl"
    commands = re.findall(r"pip install (\S+)", readme)
    assert len(commands) >= 8
    for target in commands:
        target = target.rstrip("`),;").strip("'\"")
        local = re.fullmatch(r"(\.|" + re.escape(wheel) + r")(?:\[([\w,]+)\])?", target)
        if local:
            assert set((local.group(2) or "").split(",")) - {""} <= set(extras()), target
        else:
            assert target in requirements | SERVERS, target


def test_the_license_is_the_mit_license_pyproject_names() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert pyproject()["license"] == {"text": "MIT"}
    assert text.startswith("MIT License") and "Copyright (c) wechat_middleware developers" in text


def test_flasks_get_wechat_is_typed_for_mypy_strict_and_documented() -> None:
    """``request.wechat`` is invisible to type checkers; ``get_wechat()`` is typed
    (its behaviour: tests/test_public_api.py)."""
    import typing

    from wechat_middleware.integrations import flask as flask_glue

    assert typing.get_type_hints(flask_glue.get_wechat)["return"] is wechat_middleware.WeChatContext
    text = page("docs/request.md")
    intro = text[: text.index("| attribute |")]
    assert "`get_wechat()` (Flask)" in intro and "mypy --strict" in intro
    assert "`get_wechat()`" in page("docs/frameworks/flask.md")
