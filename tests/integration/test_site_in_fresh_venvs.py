"""A new user following only the site: each framework page, from a fresh clone, in a
fresh virtualenv, gets its sample running.

For each page the test does what the page says, with the page's own blocks: the
install commands run verbatim in a copy of the clone (under another folder name) with
a new venv first on PATH; the app blocks are saved where the page says; the fake WeChat
runs as Getting started says (``wechat-middleware fake-server`` from that venv, its
``export`` lines taken as the environment); the page's run command starts the app,
its port moved off 8000 so that nothing already listening there is hit. Then a phone in
WeChat (``WeChatBrowser``) opens the app: it logs in through the fake and the page
answers as the page promises. Nothing here imports the package from this checkout's venv
into the app: the app runs on what the page installed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from wechat_middleware.testing import WeChatBrowser

from ..support.servers import free_port
from ..support.site import ROOT, block_with, blocks

pytestmark = pytest.mark.slow

PIP_TIMEOUT = 600.0  # seconds for one page's installs (a registry on a slow day)
START_TIMEOUT = 60.0  # seconds for a server to listen
DOCUMENTED_PORT = "8000"


def clone_of_this_checkout(into: Path) -> Path:
    """The repository's files (committed or new, not ignored) under a folder name that
    is not the project's: the install must not depend on it."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    clone = into / "a-clone-named-otherwise"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    return clone


@dataclass
class Reader:
    """A new user's shell: a fresh venv first on PATH, the variables pasted so far."""

    venv: Path
    env: dict[str, str]
    visitor: str = ""  # the openid the fake's authorize page logs a phone in as

    @classmethod
    def new(cls, folder: Path) -> Reader:
        venv = folder / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("WECHAT_", "PYTHON", "DJANGO_"))
        }
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
        env["VIRTUAL_ENV"] = str(venv)
        return cls(venv, env)

    def run(self, command: str, cwd: Path, timeout: float = PIP_TIMEOUT) -> str:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"$ {command}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        return done.stdout

    @contextmanager
    def serving(self, command: str, cwd: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
        """``command`` running (its output in ``cwd/server.log``) until ``port`` listens."""
        log = (cwd / "server.log").open("wb")
        process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_listening(port, process, cwd / "server.log")
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()

    @contextmanager
    def fake_wechat(self, cwd: Path) -> Iterator[None]:
        """``wechat-middleware fake-server``, as Getting started runs it, with the
        ``export`` lines it prints pasted into this shell."""
        port = free_port()
        command = block_with("wechat-middleware fake-server --port", GETTING_STARTED, "bash")
        line = command.code.split("#", 1)[0].strip().replace("9000", str(port))
        with self.serving(line, cwd, port):
            for name, value in exports(cwd / "server.log").items():
                self.env[name] = value
            said = re.search(r"logs visitors in as (\w+)", (cwd / "server.log").read_text())
            assert said, (cwd / "server.log").read_text()
            self.visitor = said.group(1)
            yield


GETTING_STARTED = ["docs/getting-started.md"]


def exports(log: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    deadline = time.monotonic() + START_TIMEOUT
    while "WECHAT_WEB_APP_SECRET" not in found and time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("export "):
                name, _, value = line[len("export ") :].partition("=")
                found[name] = shlex.split(value)[0]
        time.sleep(0.1)
    assert "WECHAT_APP_ID" in found, log.read_text(errors="replace")
    return found


def wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"nothing listened on {port} in {START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


def shell_lines(page: str, first_word: str) -> list[str]:
    """The page's shell commands that start with ``first_word``, comments cut."""
    lines = [
        line.split("  #", 1)[0].strip()
        for block in blocks("bash", [page])
        for line in block.code.splitlines()
    ]
    return [line for line in lines if line.split(" ", 1)[0] == first_word]


@dataclass(frozen=True)
class Sample:
    """What one framework page asks a reader to do."""

    page: str
    run_word: str  # the first word of the page's run command
    path: str  # what the phone opens

    @property
    def name(self) -> str:
        return Path(self.page).stem


SAMPLES = [
    Sample("docs/frameworks/flask.md", "flask", "/"),
    Sample("docs/frameworks/wsgi.md", "gunicorn", "/"),
    Sample("docs/frameworks/starlette.md", "uvicorn", "/"),
    Sample("docs/frameworks/fastapi.md", "uvicorn", "/api/me"),
    Sample("docs/frameworks/django.md", "python", "/orders"),
]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clone_of_this_checkout(tmp_path_factory.mktemp("clone"))


def install(reader: Reader, page: str, clone: Path, project: Path) -> None:
    """The page's install commands: pip in the clone, anything else in the project."""
    for line in blocks("bash", [page])[0].code.splitlines():
        command = line.split("  #", 1)[0].strip()
        if command:
            reader.run(command, clone if command.startswith("pip ") else project)


def write_app(sample: Sample, project: Path) -> None:
    """The page's code, where the page says to keep it."""
    if sample.name != "django":
        (project / "app.py").write_text(block_with("app", [sample.page]).code)
        return
    package = project / "myproject"
    settings = package / "settings.py"
    marker = "# settings.py (of `django-admin startproject`)"
    settings.write_text(settings.read_text() + "\n" + block_with(marker, [sample.page]).code)
    (package / "views.py").write_text(block_with("class Orders(", [sample.page]).code)
    (package / "urls.py").write_text(block_with("urlpatterns = [", [sample.page]).code)


def run_command(sample: Sample, port: int) -> str:
    (command,) = shell_lines(sample.page, sample.run_word)
    assert DOCUMENTED_PORT in command, command
    return command.replace(DOCUMENTED_PORT, str(port))


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.name for sample in SAMPLES])
def test_framework_page_sample_runs_in_a_fresh_venv(
    sample: Sample, clone: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    reader = Reader.new(tmp_path)
    install(reader, sample.page, clone, project)
    write_app(sample, project)
    port = free_port()
    with (
        reader.fake_wechat(tmp_path),
        reader.serving(run_command(sample, port), project, port),
        WeChatBrowser() as phone,
    ):
        page = phone.get(f"http://127.0.0.1:{port}{sample.path}")
    assert page.status == 200, page.text
    assert any("/connect/oauth2/authorize" in url for url in page.urls), page.urls
    assert reader.visitor in page.text


def test_getting_started_in_a_fresh_venv(clone: Path, tmp_path: Path) -> None:
    """Getting started, step by step: install, the app, the fake, doctor, the app's
    server, and the phone of step 3 (its block run as written, on the moved port)."""
    project = tmp_path / "project"
    project.mkdir()
    reader = Reader.new(tmp_path)
    (flask_install,) = [
        line for line in shell_lines(GETTING_STARTED[0], "pip") if ".[flask]" in line
    ]
    reader.run(flask_install, clone)
    (project / "app.py").write_text(block_with("init_app(app", [GETTING_STARTED[0]]).code)
    port = free_port()
    with reader.fake_wechat(tmp_path):
        commands = shell_lines(GETTING_STARTED[0], "wechat-middleware")
        (doctor,) = {line for line in commands if line.startswith("wechat-middleware doctor")}
        report = reader.run(doctor, project)
        assert "FAIL" not in report and "OK" in report, report
        (flask_run,) = shell_lines(GETTING_STARTED[0], "flask")
        with reader.serving(flask_run.replace(DOCUMENTED_PORT, str(port)), project, port):
            phone_block = block_with("WeChatBrowser()", [GETTING_STARTED[0]])
            script = project / "phone.py"
            script.write_text(phone_block.code.replace(DOCUMENTED_PORT, str(port)))
            printed = reader.run(f"python {script}", project, timeout=60)
    urls = re.findall(r"'([^']+)'", printed)
    assert urls[0] == f"http://127.0.0.1:{port}/" and urls[-1] == urls[0], printed
    assert any("/connect/oauth2/authorize" in url for url in urls), printed
    assert any("/wechat/oauth-callback" in url for url in urls), printed
