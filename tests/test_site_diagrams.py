"""The documentation site draws its diagrams offline.

docs/flows.md holds four Mermaid sequence diagrams. Material renders them with a global
``mermaid``, or else loads it from unpkg.com, which CI and readers behind a firewall
cannot reach; scripts/site_hooks.py puts a pinned copy (npm's ``mermaid``) into the site.
The proof builds the site as a reader gets it (``mkdocs build --strict``), serves it on
loopback, opens the flows page in a real headless Chromium that may fetch nothing but
loopback, and finds every diagram drawn as an SVG. The screenshot is kept in
test-artifacts/site/flows.png.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .e2e.conftest import CHROMIUM_ARGS, LAUNCH_TIMEOUT_MS, PLAYWRIGHT_MISSING, chromium_path

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
MKDOCS = Path(sys.executable).parent / "mkdocs"
ARTIFACTS = ROOT / "test-artifacts" / "site"
BUILD_TIMEOUT = 300.0  # seconds; a first build also runs `npm pack` once
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


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built with --strict as CI builds it."""
    folder = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}{done.stderr}"
    if not (folder / "javascripts" / "mermaid.min.js").is_file():
        reason = [line for line in done.stderr.splitlines() if "unpkg" in line]
        pytest.skip(f"the site has no mermaid of its own: {' '.join(reason)}")
    return folder


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site on a loopback static server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_site_carries_its_own_mermaid_and_lists_it_after_materials_bundle(
    site: Path,
) -> None:
    html = (site / "flows" / "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r'<script src="([^"]+)"', html)
    bundle = next(i for i, src in enumerate(scripts) if "assets/javascripts/bundle" in src)
    assert scripts.index("../javascripts/mermaid.min.js") > bundle
    assert html.count('class="mermaid"') == _diagrams_in(ROOT / "docs" / "flows.md") == 4


def test_every_diagram_of_the_flows_page_is_drawn_without_leaving_loopback(served: str) -> None:
    try:
        from playwright.sync_api import Route, sync_playwright
    except ImportError:
        pytest.fail(PLAYWRIGHT_MISSING, pytrace=False)
    expected = _diagrams_in(ROOT / "docs" / "flows.md")
    elsewhere: list[str] = []

    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", loopback_only)
            page.add_init_script(KEEP_SHADOW_ROOTS)
            page.goto(f"{served}/flows/")
            page.wait_for_function(
                f"() => window.__shadowRoots.filter((r) => r.querySelector('svg')).length"
                f" >= {expected}",
                timeout=DRAW_TIMEOUT_MS,
            )
            drawn = page.evaluate(DRAWN)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "flows.png"), full_page=True)
        finally:
            browser.close()
    assert [diagram["kind"] for diagram in drawn] == ["sequence"] * expected
    assert all(diagram["width"] > 300 for diagram in drawn)
    assert "/wechat/oauth-callback" in drawn[0]["text"]
    assert "/connect/qrconnect" in drawn[1]["text"]
    assert "/wechat/relay/redeem" in drawn[2]["text"]
    assert "rejected=TICKET" in drawn[3]["text"]
    assert not [url for url in elsewhere if "unpkg.com" in url]
