"""The documentation site: it builds under ``mkdocs build --strict`` offline, and reads
right in a browser.

The build runs the project's own ``mkdocs`` (the ``[docs]`` extra, in ``[dev]``) with a
``sitecustomize`` that refuses every network connection and name lookup, so a theme or
plugin that fetches something at build time fails here rather than in an offline CI
(scripts/site_hooks.py's ``npm pack`` of Mermaid is a child process: npm reaches its
registry, as the project's other npm packages do). The site is built once for the
module, served on loopback, and opened in Debian's headless Chromium (the e2e tests'
``browser``), which may fetch nothing beyond loopback:

* the home page has the site's title and its navigation, and the API page the headings,
  signatures and docstring text that mkdocstrings renders from the package;
* docs/flows.md's four Mermaid diagrams are drawn as SVG from the site's own pinned copy
  of Mermaid (Material would otherwise load it from unpkg.com).

Screenshots go to ``test-artifacts/site/``.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import yaml

from wechat_middleware import WeChat

from ..support.servers import REPO_ROOT
from .conftest import NAVIGATION_TIMEOUT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = REPO_ROOT / "test-artifacts" / "site"
BUILD_TIMEOUT = 300  # seconds; a first build also runs `npm pack` once
# Web fonts the Material theme links unless mkdocs.yml sets `theme.font: false`; the only
# requests beyond loopback a page may make (and they are refused).
FONT_HOSTS = {"fonts.googleapis.com", "fonts.gstatic.com"}

# Loaded before mkdocs by the interpreter (PYTHONPATH): every connection or name lookup
# is refused and written down, so the test sees what the build tried to reach.
OFFLINE_SITECUSTOMIZE = """
import os
import socket

_LOG = os.environ["SITE_BUILD_NETWORK_LOG"]


def _refuse(what):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{what}\\n")
    raise OSError(f"the documentation build must not use the network: {what}")


def _connect(self, address, *args):
    if self.family == socket.AF_UNIX:
        return _real_connect(self, address, *args)
    _refuse(f"connect {address!r}")


def _connect_ex(self, address, *args):
    if self.family == socket.AF_UNIX:
        return _real_connect_ex(self, address, *args)
    _refuse(f"connect {address!r}")


def _getaddrinfo(host, *args, **kwargs):
    _refuse(f"getaddrinfo {host!r}")


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
socket.getaddrinfo = _getaddrinfo
with open(_LOG, "a", encoding="utf-8") as log:
    log.write("guard loaded\\n")
"""


def mkdocs_command() -> str:
    """The ``mkdocs`` installed next to this interpreter (the project's virtualenv)."""
    command = Path(sys.executable).parent / "mkdocs"
    if not command.exists():
        pytest.fail(
            f"mkdocs is not installed next to {sys.executable}: install the project's "
            "`[docs]` extra (it is in `[dev]`): pip install -e '.[dev]'",
            pytrace=False,
        )
    return str(command)


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built with ``mkdocs build --strict`` from the repository, offline, with
    its own copy of Mermaid (scripts/site_hooks.py)."""
    work = tmp_path_factory.mktemp("site-build")
    site = work / "site"
    guard = work / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(OFFLINE_SITECUSTOMIZE, encoding="utf-8")
    network_log = work / "network.log"
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(guard), os.environ.get("PYTHONPATH")])),
        "SITE_BUILD_NETWORK_LOG": str(network_log),
    }
    result = subprocess.run(
        [mkdocs_command(), "build", "--strict", "--site-dir", str(site)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    attempts = network_log.read_text(encoding="utf-8").splitlines() if network_log.exists() else []
    assert attempts[:1] == ["guard loaded"], (
        "the offline guard (sitecustomize on PYTHONPATH) did not load in the mkdocs process"
    )
    assert result.returncode == 0, (
        f"mkdocs build --strict failed (exit {result.returncode}):\n{result.stderr[-8000:]}"
    )
    assert attempts[1:] == [], "the site build used the network:\n" + "\n".join(attempts[1:])
    if not (site / "javascripts" / "mermaid.min.js").is_file():
        reason = [line for line in result.stderr.splitlines() if "unpkg" in line]
        pytest.fail(
            f"the site has no Mermaid of its own ({' '.join(reason)}): install npm "
            "(`bash scripts/test` does), whose `npm pack` fetches it once",
            pytrace=False,
        )
    return site


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site_url(built_site: Path) -> Iterator[str]:
    """The built site, served by the standard library on a free loopback port."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_site_builds_strict_and_offline(built_site: Path) -> None:
    assert (built_site / "index.html").is_file()
    assert (built_site / "api" / "index.html").is_file()
    # Search works offline: its index is built, not fetched.
    assert (built_site / "search" / "search_index.json").is_file()


def nav_titles() -> list[str]:
    """The top level of mkdocs.yml's ``nav``, as a reader sees it."""

    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml names Python objects (``!!python/name:``); their values do not matter here.
    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)
    config = yaml.load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader)
    titles: list[str] = [title for entry in config["nav"] for title in entry]
    return titles


def docstring_sentence(obj: Any) -> str:
    """The opening clause of ``obj``'s docstring as the page shows it (no ``literal``
    marks), up to its first full stop or colon."""
    first = (inspect.getdoc(obj) or "").split("\n\n")[0]
    text = re.sub(r"``([^`]+)``", r"\1", " ".join(first.split()))
    return re.split(r"[.:](?:\s|$)", text)[0]


def test_the_home_and_api_pages_read_right(site_url: str, browser: Browser) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(NAVIGATION_TIMEOUT_MS)

    def refuse_outside(route: Any) -> None:
        outside.append(route.request.url)
        route.abort()

    context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), refuse_outside)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))

    # Home: the site's title in the header and the tab, and the whole nav.
    page.goto(site_url + "/", wait_until="load")
    assert "wechat_middleware" in page.title()
    header = page.locator(".md-header__title").first
    assert "wechat_middleware" in header.inner_text()
    nav = page.locator("nav.md-nav--primary").first
    nav_text = nav.inner_text()
    missing = [title for title in nav_titles() if title not in nav_text]
    assert not missing, f"the nav lacks {missing}; it reads:\n{nav_text}"
    assert nav.get_by_role("link", name="API reference").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "home.png"))

    # The API page: the classes' headings, a rendered signature, docstring text.
    page.goto(site_url + "/api/", wait_until="load")
    assert page.locator("h1").first.inner_text().strip().startswith("API reference")
    for name in ("WeChat", "WeChatConfig"):
        heading = page.locator(f'[id="wechat_middleware.{name}"]')
        assert heading.count() == 1, f"no heading for {name}"
        assert heading.inner_text().split()[0] == name
    from_env = page.locator('[id="wechat_middleware.WeChat.from_env"]')
    assert from_env.count() == 1, "no heading for WeChat.from_env"
    # The signature follows its heading, as rendered code.
    signature = " ".join(from_env.locator("xpath=following-sibling::div[1]").inner_text().split())
    assert signature.startswith("from_env("), signature
    assert "environ: Mapping[str, str] | None = None" in signature, signature
    assert "**overrides: Any" in signature, signature
    assert signature.endswith("-> WeChat"), signature
    body = " ".join(page.locator("article").inner_text().split())
    for obj in (WeChat, WeChat.from_env):
        sentence = docstring_sentence(obj)
        assert sentence and sentence in body, f"{sentence!r} is not on the API page"
    # Docstrings are rST; none of its markup may reach the reader as text.
    leaked = sorted(set(re.findall(r":(?:class|meth|func|mod|attr|data|exc):", body)))
    assert not leaked, f"rST roles shown as text on the API page: {leaked}"
    # WeChat's example is a code block, not prose.
    examples = page.locator('[id="wechat_middleware.WeChat"] ~ div pre').all_inner_texts()
    assert any("wechat = WeChat.from_env()" in text for text in examples), examples
    page.locator('[id="wechat_middleware.WeChat"]').scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "api.png"))
    context.close()

    assert not errors, "the pages threw:\n" + "\n".join(errors)
    unexpected = [url for url in outside if urlsplit(url).hostname not in FONT_HOSTS]
    assert not unexpected, "the pages asked for more than loopback:\n" + "\n".join(unexpected)


# -- the diagrams --------------------------------------------------------------------------

DRAW_TIMEOUT_MS = 20_000
# Material draws each diagram into a closed shadow root: keep a reference to each one
# for the test (the page's own code and its rendering are unchanged).
KEEP_SHADOW_ROOTS = """
(() => {
  const attach = Element.prototype.attachShadow;
  window.__shadowRoots = [];
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    window.__shadowRoots.push(root);
    return root;
  };
})();
"""
DRAWN = """
() => window.__shadowRoots
  .map((root) => root.querySelector("svg"))
  .filter((svg) => svg !== null)
  .map((svg) => ({
    kind: svg.getAttribute("aria-roledescription") || "",
    text: svg.textContent,
    width: svg.getBoundingClientRect().width,
  }))
"""


def _diagrams_in(page: Path) -> int:
    return len(re.findall(r"^```mermaid$", page.read_text(encoding="utf-8"), re.M))


def _diagrams_in(page: Path) -> int:
    return len(re.findall(r"^```mermaid$", page.read_text(encoding="utf-8"), re.M))


def test_the_site_carries_its_own_mermaid_and_lists_it_after_materials_bundle(
    built_site: Path,
) -> None:
    html = (built_site / "flows" / "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r'<script src="([^"]+)"', html)
    bundle = next(i for i, src in enumerate(scripts) if "assets/javascripts/bundle" in src)
    assert scripts.index("../javascripts/mermaid.min.js") > bundle
    assert html.count('class="mermaid"') == _diagrams_in(REPO_ROOT / "docs" / "flows.md") == 4


def test_every_diagram_of_the_flows_page_is_drawn_without_leaving_loopback(
    site_url: str, browser: Browser
) -> None:
    expected = _diagrams_in(REPO_ROOT / "docs" / "flows.md")
    elsewhere: list[str] = []

    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.route("**/*", loopback_only)
        page.add_init_script(KEEP_SHADOW_ROOTS)
        page.goto(f"{site_url}/flows/")
        page.wait_for_function(
            f"() => window.__shadowRoots.filter((r) => r.querySelector('svg')).length"
            f" >= {expected}",
            timeout=DRAW_TIMEOUT_MS,
        )
        drawn = page.evaluate(DRAWN)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "flows.png"), full_page=True)
    finally:
        page.close()
    assert [diagram["kind"] for diagram in drawn] == ["sequence"] * expected
    assert all(diagram["width"] > 300 for diagram in drawn)
    assert "/wechat/oauth-callback" in drawn[0]["text"]
    assert "/connect/qrconnect" in drawn[1]["text"]
    assert "/wechat/relay/redeem" in drawn[2]["text"]
    assert "rejected=TICKET" in drawn[3]["text"]
    assert not [url for url in elsewhere if "unpkg.com" in url]
