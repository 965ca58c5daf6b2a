"""Every Python snippet in the README runs as written (against FakeWeChat).

The snippets are the first code a user copies; a broken one costs trust at once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wechat_middleware.testing import FakeWeChat, WeChatBrowser
from wechat_middleware.testing.browser import fake_wecom_env
from wechat_middleware.testing.fake_wecom import FakeWeCom

README = Path(__file__).resolve().parent.parent / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 5


WECOM_MARK = "# WeCom\n"  # the first line of a snippet for a WeCom app
DJANGO_SETTINGS_MARK = "# settings.py (of `django-admin startproject`)"


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(
    code: str, fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if code.startswith(WECOM_MARK):
        run_wecom_snippet(code, monkeypatch, tmp_path)
        return
    if code.startswith(DJANGO_SETTINGS_MARK):  # additions to a project's settings.py:
        return  # test_readme_django_samples_make_a_working_project runs them in one
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
    exec(compile(code, str(README), "exec"), namespace)


def snippet_with(marker: str) -> str:
    """The one README snippet containing ``marker``."""
    found = [code for code in SNIPPETS if marker in code]
    assert len(found) == 1, f"{len(found)} snippets contain {marker!r}"
    return found[0]


def test_readme_pytest_sample_passes_against_the_readme_flask_sample(tmp_path: Path) -> None:
    """Copied verbatim: the Flask sample as myproject/app.py, the pytest sample beside it."""
    project = tmp_path / "myproject"
    project.mkdir()
    (project / "__init__.py").write_text("")
    (project / "app.py").write_text(snippet_with("init_app(app, wechat)  # request.wechat"))
    (tmp_path / "test_app.py").write_text(snippet_with("def test_wechat_user_logs_in"))
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


def test_readme_starlette_sample_loads_the_jssdk_script(
    fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from wechat_middleware.testing import fake_wechat_env

    for name, value in fake_wechat_env(fake_wechat).items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(snippet_with("from starlette.applications"), str(README), "exec"), namespace)
    with TestClient(namespace["app"]) as client:  # type: ignore[arg-type]
        page = client.get("/", headers={"User-Agent": "Mozilla/5.0 Chrome/124"}).text
        signed = client.get("/wx-sign", params={"url": "http://testserver/spa/"}).json()
        foreign = client.get("/wx-sign", params={"url": "https://evil.example/"})
    script = f"<script src='{fake_wechat.jssdk_url}'></script>"
    assert script in page and page.index(script) < page.index("wx.config(")
    assert fake_wechat.check_jsapi_signature(
        signed["url"], signed["nonceStr"], signed["timestamp"], signed["signature"]
    )
    assert foreign.status_code == 400 and "error" in foreign.json()


def test_readme_installs_from_a_clone_not_from_an_index_it_is_not_on() -> None:
    text = README.read_text(encoding="utf-8")
    assert 'pip install "wechat-middleware[' not in text
    assert "pip install 'wechat-middleware[" not in text
    assert "./wechat_middleware[" not in text  # the clone's folder may have any name
    assert 'pip install ".[flask]"' in text


def test_the_testing_extra_brings_the_client_starlettes_test_client_needs() -> None:
    """wechat_browser.asgi(app) drives Starlette's TestClient, which imports httpx2 (or
    httpx): the documented `[starlette,testing]` install must bring it."""
    import tomllib

    extras = tomllib.loads((README.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(dep.startswith(("httpx2", "httpx")) for dep in extras["testing"])
    assert "[starlette,testing]" in README.read_text(encoding="utf-8")


def run_wecom_snippet(code: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Run a WeCom snippet as written, in the environment ``wecom_env`` sets (a FakeWeCom)."""
    fake = FakeWeCom().start()
    for name in [name for name in os.environ if name.startswith("WECHAT_")]:
        monkeypatch.delenv(name)
    env = fake_wecom_env(fake, store=f"sqlite:///{tmp_path}/readme-wecom.sqlite3")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, Any] = {"__name__": "readme", "fake": fake}
    try:
        exec(compile(code, str(README), "exec"), namespace)
    except BaseException:
        fake.close()
        raise
    namespace["fake"] = fake
    return namespace


def test_readme_wecom_flask_sample_logs_in_members_and_answers_pushes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The README's WeCom Flask sample, copied verbatim: a member logs in silently, the
    consent route brings the private fields, and a push gets a sealed reply."""
    from urllib.parse import urlencode

    from wechat_middleware.testing.fake_wecom import WeComMember

    namespace = run_wecom_snippet(
        snippet_with('@app.post("/wechat/verify")  # WeCom\'s pushes'), monkeypatch, tmp_path
    )
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


def test_readme_wecom_fastapi_sample_knows_a_member(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    namespace = run_wecom_snippet(
        snippet_with("def me(user: WeComUser = Depends"), monkeypatch, tmp_path
    )
    fake = namespace["fake"]
    try:
        with WeChatBrowser(user_agent="wxwork") as browser:
            phone = browser.asgi(namespace["app"])
            assert phone.get("/me").json() == {"userid": fake.default_userid, "member": True}
    finally:
        fake.close()


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


def test_readme_django_samples_make_a_working_project(
    fake_wechat: FakeWeChat, tmp_path: Path
) -> None:
    """A stock ``django-admin startproject``, the README's additions to its settings
    and its views copied verbatim (plus what a deployment sets: its hosts, URLs):
    ``manage.py check`` passes (the admin still has its middleware and templates), the
    views answer as the README says, and the proxy settings sign the public URL."""
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "myproject", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    project = tmp_path / "myproject"
    settings = (project / "settings.py").read_text()
    settings += "\n" + snippet_with(DJANGO_SETTINGS_MARK)
    settings += "\n" + snippet_with("SECURE_PROXY_SSL_HEADER")
    settings += '\nALLOWED_HOSTS = ["testserver", "shop.example.com"]\n'
    (project / "settings.py").write_text(settings)
    (project / "views.py").write_text(snippet_with("class Orders(WeChatLoginRequiredMixin"))
    (project / "urls.py").write_text(
        "from django.contrib import admin\nfrom django.urls import path\nfrom . import views\n"
        'urlpatterns = [path("admin/", admin.site.urls), path("me", views.me), '
        'path("orders", views.Orders.as_view())]\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env.update(
        WECHAT_APP_SECRET=fake_wechat.app_secret,
        WECHAT_SECRET_KEY="readme-secret-key-0123456789abcdef",
        WECHAT_API_BASE=fake_wechat.api_base,
        WECHAT_OPEN_BASE=fake_wechat.open_base,
        WECHAT_STORE="memory://",
        PYTHONPATH=str(tmp_path),
    )
    check = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout and "E408" not in check.stderr
    done = subprocess.run(
        [sys.executable, "-c", DJANGO_CHECK],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    status, body, me_status, location, callback, rendered = json.loads(
        done.stdout.strip().splitlines()[-1]
    )
    assert status == 401 and body["login_url"] == "/wechat/login?next=/&scope=snsapi_base"
    assert me_status == 302 and location == "/wechat/login?next=/me&scope=snsapi_userinfo"
    assert callback == "https://shop.example.com/wechat/oauth-callback"
    assert rendered == ""  # the tag library loads; no request, no openid
    assert "proxy headers arrive" not in done.stderr
