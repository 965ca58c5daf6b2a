"""Every code block on the documentation site (and the README, its front door) is run
by a test, as written.

The samples are the first code a user copies; a broken one costs trust at once:

* Python blocks run here against FakeWeChat (or FakeWeCom), each in the environment a
  reader would have set; a block that needs more (a Django project, a second file, a
  live server, a hub) is claimed in ``CLAIMED`` by the test that gives it that, and the
  generic runner leaves it to that test;
* templates (``html``) are rendered by Jinja in a page behind the middleware;
* shell blocks are checked by bash, their ``wechat-middleware`` commands by the command
  line's own parser, and the framework pages' and Getting started's are run verbatim in
  fresh virtualenvs (tests/integration/test_site_in_fresh_venvs.py);
* the nginx block's headers are the ones a proxy test sends (tests/test_frictions.py);
* Mermaid diagrams are drawn in Chromium (tests/e2e/test_site.py).

``text`` blocks are what a command or a log prints, not code to run.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wechat_middleware.testing import FakeWeChat, WeChatBrowser
from wechat_middleware.testing.browser import fake_wecom_env
from wechat_middleware.testing.fake_wecom import FakeWeCom

from .support.site import ROOT, Block, block_with, blocks, page, page_names

PYTHON = blocks("python")
WECOM_MARK = "# WeCom\n"  # the first line of a block for a WeCom app
DJANGO_SETTINGS_MARK = "# settings.py (of `django-admin startproject`)"

DJANGO_PROJECT = "test_site_samples.py::test_django_page_makes_a_working_project"
README_DJANGO = "test_site_samples.py::test_readme_django_sample_logs_a_wechat_visitor_in"
PYTEST_SAMPLE = (
    "test_site_samples.py::test_testing_pages_pytest_sample_passes_against_the_flask_page"
)
FRESH_VENV = "integration/test_site_in_fresh_venvs.py::test_getting_started_in_a_fresh_venv"
WECHATPY = (
    "test_hub.py::test_wechatpy_pointed_at_the_hub_gets_its_token_and_ticket_and_signs_as_we_do"
)

#: Blocks a dedicated test runs, by a text only they contain: (page, marker) -> the test.
CLAIMED: dict[tuple[str, str], str] = {
    ("docs/frameworks/django.md", DJANGO_SETTINGS_MARK): DJANGO_PROJECT,
    ("docs/frameworks/django.md", "class Orders(WeChatLoginRequiredMixin"): DJANGO_PROJECT,
    ("docs/frameworks/django.md", "urlpatterns = ["): DJANGO_PROJECT,
    ("docs/proxy.md", "SECURE_PROXY_SSL_HEADER"): DJANGO_PROJECT,
    ("README.md", DJANGO_SETTINGS_MARK): README_DJANGO,
    ("README.md", "def me(request):"): README_DJANGO,
    ("docs/testing.md", "def test_wechat_user_logs_in"): PYTEST_SAMPLE,
    ("docs/getting-started.md", 'phone.get("http://127.0.0.1:8000/")'): FRESH_VENV,
    ("docs/several-hosts.md", "class HubClient"): WECHATPY,
}


def claimed(block: Block) -> str | None:
    """The test that runs ``block``, if a dedicated one does."""
    for (name, marker), test in CLAIMED.items():
        if block.page == name and marker in block.code:
            return test
    return None


RUN_HERE = [block for block in PYTHON if claimed(block) is None]


@pytest.mark.parametrize("block", RUN_HERE, ids=[block.id for block in RUN_HERE])
def test_python_block_runs(
    block: Block, fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code = block.code
    if code.startswith(WECOM_MARK):
        run_wecom_block(code, monkeypatch, tmp_path)
        return
    for name, value in {
        "WECHAT_APP_ID": fake_wechat.app_id,
        "WECHAT_APP_SECRET": fake_wechat.app_secret,
        "WECHAT_SECRET_KEY": "readme-secret-key-0123456789abcdef",
        "WECHAT_API_BASE": fake_wechat.api_base,
        "WECHAT_OPEN_BASE": fake_wechat.open_base,
        "WECHAT_STORE": f"sqlite:///{tmp_path}/readme.sqlite3",
    }.items():
        monkeypatch.setenv(name, value)
    code = code.replace("https://example.com/", "http://127.0.0.1/")

    def application(environ: object, start_response: object) -> list[bytes]:
        return [b""]

    namespace: dict[str, object] = {"__name__": "readme", "application": application}
    exec(compile(code, block.id, "exec"), namespace)


FLASK_PAGE = ["docs/frameworks/flask.md"]


def test_testing_pages_pytest_sample_passes_against_the_flask_page(tmp_path: Path) -> None:
    """Copied verbatim: the Flask page's app as myproject/app.py, the testing page's
    pytest sample beside it."""
    project = tmp_path / "myproject"
    project.mkdir()
    (project / "__init__.py").write_text("")
    (project / "app.py").write_text(block_with("init_app(app, wechat)", FLASK_PAGE).code)
    (tmp_path / "test_app.py").write_text(
        block_with("def test_wechat_user_logs_in", ["docs/testing.md"]).code
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app.py"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_starlette_pages_sample_loads_the_jssdk_script_and_signs_only_its_own_urls(
    fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from wechat_middleware.testing import fake_wechat_env

    for name, value in fake_wechat_env(fake_wechat).items():
        monkeypatch.setenv(name, value)
    block = block_with('Route("/wx-sign", sign)', ["docs/frameworks/starlette.md"])
    namespace: dict[str, object] = {"__name__": "site"}
    exec(compile(block.code, block.id, "exec"), namespace)
    with TestClient(namespace["app"]) as client:  # type: ignore[arg-type]
        html = client.get("/", headers={"User-Agent": "Mozilla/5.0 Chrome/124"}).text
        signed = client.get("/wx-sign", params={"url": "http://testserver/spa/"}).json()
        foreign = client.get("/wx-sign", params={"url": "https://evil.example/"})
    script = f"<script src='{fake_wechat.jssdk_url}'></script>"
    assert script in html and html.index(script) < html.index("wx.config(")
    assert fake_wechat.check_jsapi_signature(
        signed["url"], signed["nonceStr"], signed["timestamp"], signed["signature"]
    )
    assert foreign.status_code == 400 and "error" in foreign.json()


def test_readme_samples_log_a_wechat_visitor_in_on_each_framework(
    monkeypatch: pytest.MonkeyPatch, fake_wechat: FakeWeChat
) -> None:
    """The README's Flask, Starlette and FastAPI samples, as written: a phone in WeChat
    is logged in where they mark it, and the page is signed."""
    from wechat_middleware.testing import fake_wechat_env

    for name, value in fake_wechat_env(fake_wechat).items():
        monkeypatch.setenv(name, value)

    def app_of(marker: str) -> Any:
        block = block_with(marker, ["README.md"])
        namespace: dict[str, Any] = {"__name__": "readme"}
        exec(compile(block.code, block.id, "exec"), namespace)
        return namespace["app"]

    with WeChatBrowser() as phone:
        flask = phone.wsgi(app_of("from flask import"))
        assert flask.get("/me").json()["openid"] == fake_wechat.default_openid
        assert "wechatMiddleware.ready()" in flask.get("/").text
    with WeChatBrowser() as phone:
        starlette = phone.asgi(app_of("from starlette.applications"))
        assert fake_wechat.default_openid in starlette.get("/").text
    with WeChatBrowser() as phone:
        fastapi = phone.asgi(app_of("from fastapi import"))
        assert fastapi.get("/api/me", headers={"Accept": "application/json"}).status == 401
        signed = fastapi.get("/api/sign?url=http://testserver/a").json()
        assert fake_wechat.check_jsapi_signature(
            signed["url"], signed["nonceStr"], signed["timestamp"], signed["signature"]
        )


def test_no_page_installs_from_an_index_the_package_is_not_on() -> None:
    for name in page_names():
        text = page(name)
        assert 'pip install "wechat-middleware[' not in text, name
        assert "pip install 'wechat-middleware[" not in text, name
        assert "./wechat_middleware[" not in text, name  # the clone's folder may have any name
    assert 'pip install ".[flask]"' in page("README.md")
    assert 'pip install ".[flask]"' in page("docs/getting-started.md")


def test_the_testing_extra_brings_the_client_starlettes_test_client_needs() -> None:
    """wechat_browser.asgi(app) drives Starlette's TestClient, which imports httpx2 (or
    httpx): the documented `[starlette,testing]` install must bring it."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(dep.startswith(("httpx2", "httpx")) for dep in extras["testing"])
    assert "[starlette,testing]" in page("docs/testing.md")


def run_wecom_block(code: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Run a WeCom block as written, in the environment ``wecom_env`` sets (a FakeWeCom)."""
    fake = FakeWeCom().start()
    for name in [name for name in os.environ if name.startswith("WECHAT_")]:
        monkeypatch.delenv(name)
    env = fake_wecom_env(fake, store=f"sqlite:///{tmp_path}/site-wecom.sqlite3")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, Any] = {"__name__": "site", "fake": fake}
    try:
        exec(compile(code, "docs/wecom.md", "exec"), namespace)
    except BaseException:
        fake.close()
        raise
    namespace["fake"] = fake
    return namespace


WECOM_PAGE = ["docs/wecom.md"]


def test_wecom_pages_flask_sample_logs_in_members_and_answers_pushes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The WeCom page's Flask sample, copied verbatim: a member logs in silently, the
    consent route brings the private fields, and a push gets a sealed reply."""
    from urllib.parse import urlencode

    from wechat_middleware.testing.fake_wecom import WeComMember

    code = block_with('@app.post("/wechat/verify")  # WeCom\'s pushes', WECOM_PAGE).code
    namespace = run_wecom_block(code, monkeypatch, tmp_path)
    fake = namespace["fake"]
    try:
        fake.add_member(WeComMember(userid="lisi", mobile="13800000000"))
        with WeChatBrowser(user_agent="wxwork", userid="lisi") as browser:
            phone = browser.wsgi(namespace["app"])
            assert phone.get("/me").json()["userid"] == "lisi"
            assert phone.get("/contact").json()["mobile"] == "13800000000"
            xml = "<xml><MsgType><![CDATA[event]]></MsgType></xml>"
            params, body = fake.seal(xml, timestamp=int(fake.now()), nonce="1")
            answer = phone.post("/wechat/verify?" + urlencode(params), body)
        assert answer.status == 200
        assert "got event" in fake.open_reply(answer.content)
    finally:
        fake.close()


def test_wecom_pages_fastapi_sample_knows_a_member(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code = block_with("def me(user: WeComUser = Depends", WECOM_PAGE).code
    namespace = run_wecom_block(code, monkeypatch, tmp_path)
    fake = namespace["fake"]
    try:
        with WeChatBrowser(user_agent="wxwork") as browser:
            phone = browser.asgi(namespace["app"])
            assert phone.get("/me").json() == {"userid": fake.default_userid, "member": True}
    finally:
        fake.close()


# -- Django: a stock `django-admin startproject`, with what the pages add -------------------------

DJANGO_CHECK = """
import json, os, django
from urllib.parse import parse_qs, urlsplit
os.environ["DJANGO_SETTINGS_MODULE"] = "myproject.settings"
django.setup()
from django.template import engines
from django.test import Client
from wechat_middleware.testing.user_agents import IOS_WECHAT_UA
client = Client(HTTP_USER_AGENT=IOS_WECHAT_UA)
orders = client.get("/orders", HTTP_ACCEPT="application/json")
me = client.get("/me", HTTP_ACCEPT="text/html")
proxied = client.get(
    me["Location"], HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_HOST="shop.example.com"
)
callback = parse_qs(urlsplit(proxied["Location"]).query)["redirect_uri"][0]
page = engines["django"].from_string("{% load wechat %}{{ wechat.openid }}")
print(json.dumps([orders.status_code, json.loads(orders.content), me.status_code,
                  me["Location"], callback, page.render({}, None)]))
"""


def start_django_project(tmp_path: Path, fake_wechat: FakeWeChat) -> tuple[Path, dict[str, str]]:
    """``django-admin startproject myproject`` in ``tmp_path``, and the environment of a
    deployment pointed at the fake (the secrets, the fake's URLs)."""
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "myproject", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env.update(
        WECHAT_APP_ID=fake_wechat.app_id,
        WECHAT_APP_SECRET=fake_wechat.app_secret,
        WECHAT_SECRET_KEY="readme-secret-key-0123456789abcdef",
        WECHAT_API_BASE=fake_wechat.api_base,
        WECHAT_OPEN_BASE=fake_wechat.open_base,
        WECHAT_STORE="memory://",
        PYTHONPATH=str(tmp_path),
    )
    return tmp_path / "myproject", env


def run_in(folder: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *command], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )


def test_django_page_makes_a_working_project(fake_wechat: FakeWeChat, tmp_path: Path) -> None:
    """A stock ``django-admin startproject``, the Django page's additions to its settings,
    its views and URLs copied verbatim (plus what a deployment sets: its hosts, and the
    proxy page's two settings): ``manage.py check`` passes (the admin keeps its
    middleware and templates), the views answer as the page says, and the proxy
    settings sign the public URL."""
    django_page = ["docs/frameworks/django.md"]
    project, env = start_django_project(tmp_path, fake_wechat)
    settings = (project / "settings.py").read_text()
    settings += "\n" + block_with(DJANGO_SETTINGS_MARK, django_page).code
    settings += "\n" + block_with("SECURE_PROXY_SSL_HEADER", ["docs/proxy.md"]).code
    settings += '\nALLOWED_HOSTS = ["testserver", "shop.example.com"]\n'
    (project / "settings.py").write_text(settings)
    (project / "views.py").write_text(block_with("class Orders(", django_page).code)
    (project / "urls.py").write_text(block_with("urlpatterns = [", django_page).code)
    check = run_in(tmp_path, env, "manage.py", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout and "E408" not in check.stderr
    done = run_in(tmp_path, env, "-c", DJANGO_CHECK)
    assert done.returncode == 0, done.stdout + done.stderr
    status, body, me_status, location, callback, rendered = json.loads(
        done.stdout.strip().splitlines()[-1]
    )
    assert status == 401 and body["login_url"] == "/wechat/login?next=/&scope=snsapi_base"
    assert me_status == 302 and location == "/wechat/login?next=/me&scope=snsapi_userinfo"
    assert callback == "https://shop.example.com/wechat/oauth-callback"
    assert rendered == ""  # the tag library loads; no request, no openid
    assert "proxy headers arrive" not in done.stderr


README_DJANGO_CHECK = """
import os, django
os.environ["DJANGO_SETTINGS_MODULE"] = "myproject.settings"
django.setup()
from django.test import Client
from wechat_middleware.testing.user_agents import IOS_WECHAT_UA
me = Client(HTTP_USER_AGENT=IOS_WECHAT_UA).get("/me", HTTP_ACCEPT="text/html")
print(me.status_code, me["Location"])
"""


def test_readme_django_sample_logs_a_wechat_visitor_in(
    fake_wechat: FakeWeChat, tmp_path: Path
) -> None:
    """The README's Django settings and view in a stock project: ``manage.py check``
    passes, and a visitor in WeChat is sent to log in with consent."""
    project, env = start_django_project(tmp_path, fake_wechat)
    settings = (project / "settings.py").read_text()
    settings += "\n" + block_with(DJANGO_SETTINGS_MARK, ["README.md"]).code
    (project / "settings.py").write_text(settings + 'ALLOWED_HOSTS = ["testserver"]\n')
    (project / "views.py").write_text(block_with("def me(request):", ["README.md"]).code)
    (project / "urls.py").write_text(
        'from django.urls import path\nfrom . import views\nurlpatterns = [path("me", views.me)]\n'
    )
    check = run_in(tmp_path, env, "manage.py", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    done = run_in(tmp_path, env, "-c", README_DJANGO_CHECK)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["302", "/wechat/login?next=/me&scope=snsapi_userinfo"]


# -- templates, shell commands ---------------------------------------------------------------------

HTML = blocks("html")


@pytest.mark.parametrize("block", HTML, ids=[block.id for block in HTML])
def test_template_block_renders_in_a_flask_page(
    block: Block, fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The templates on the site, rendered by Jinja in a Flask page behind the
    middleware, give what they promise: the helper's tags, or the logout form's URL."""
    from flask import Flask, render_template_string

    from wechat_middleware import WeChat
    from wechat_middleware.integrations.flask import init_app
    from wechat_middleware.testing import fake_wechat_env

    app = Flask(__name__)
    init_app(app, WeChat.from_env(fake_wechat_env(fake_wechat)))
    app.get("/page")(lambda: render_template_string(block.code))
    with WeChatBrowser() as phone:
        html = phone.wsgi(app).get("/page").text
    assert "{{" not in html and "{%" not in html
    if "jssdk_tags" in block.code:
        assert '<script src="/wechat/jssdk/wechat.js' in html
    if "logout_url" in block.code:
        assert 'action="/wechat/logout?next=/page"' in html


SHELL = [block for block in blocks() if block.lang in ("bash", "sh")]


@pytest.mark.parametrize("block", SHELL, ids=[block.id for block in SHELL])
def test_shell_block_is_valid_bash_and_its_commands_parse(block: Block) -> None:
    """Every shell block is valid bash, and every ``wechat-middleware`` command in it is
    accepted by the command line's own parser (usage errors would exit 2)."""
    from wechat_middleware.cli import build_parser

    syntax = subprocess.run(["bash", "-n"], input=block.code, capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    for line in block.code.splitlines():
        command = line.split("#", 1)[0].strip()
        if command.startswith("wechat-middleware "):
            build_parser().parse_args(shlex.split(command)[1:])
