"""``python -m wechat_middleware demo``: the Flask example against FakeWeChat, locally.

Nothing leaves the machine unless real credentials are in the environment
(WECHAT_APP_ID and WECHAT_APP_SECRET without WECHAT_API_BASE): then the example talks
to the real WeChat and the fake is not started.
"""

from __future__ import annotations

import importlib
import os
import re
import secrets
import sys
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .stores import default_store_url


@contextmanager
def demo_environment(environ: MutableMapping[str, str]) -> Iterator[str]:
    """Point the WECHAT_* variables at a running FakeWeChat (or keep real credentials)."""
    real = environ.get("WECHAT_APP_ID") and environ.get("WECHAT_APP_SECRET")
    if real and not environ.get("WECHAT_API_BASE"):
        environ.setdefault("WECHAT_SECRET_KEY", secrets.token_urlsafe(32))
        yield "real WeChat (credentials from the environment)"
        return
    from .testing import FakeWeChat, fake_wechat_env

    with FakeWeChat() as fake:
        env = fake_wechat_env(fake, store=environ.get("WECHAT_STORE") or default_store_url())
        environ.update(env)
        yield f"FakeWeChat at {fake.base_url}"


def load_example() -> Any:
    """Import ``examples/flask_app/app.py`` from the current checkout."""
    root = Path.cwd()
    if not (root / "examples" / "flask_app" / "app.py").is_file():
        raise SystemExit(
            "demo: run it from a checkout of wechat_middleware (examples/flask_app/app.py "
            "not found in the current directory); `bash scripts/demo` does this for you"
        )
    sys.path.insert(0, str(root))
    return importlib.import_module("examples.flask_app.app").app


def self_check(base_url: str) -> bool:
    """Walk the OAuth flow as WeChat's browser and check the page's signature."""
    import json

    from .testing import WeChatBrowser

    with WeChatBrowser() as browser:
        page = browser.get(base_url + "/?a=1&b=2")
    config = re.search(r'id="wx-config" type="application/json">(.*?)</script>', page.text)
    openid = re.search(r'<span id="openid">([^<]*)</span>', page.text)
    if page.status != 200 or not config or not openid:
        print(f"self-check failed: HTTP {page.status} after {page.urls}")
        return False
    signature = json.loads(config.group(1))
    print(f"logged in as {openid.group(1)!r}; wx.config signature for {signature['url']}")
    return bool(openid.group(1)) and signature["url"] == base_url + "/?a=1&b=2"


def run(host: str, port: int, check: bool) -> int:
    from werkzeug.serving import make_server

    with demo_environment(os.environ) as upstream:
        app = load_example()
        server = make_server(host, port, app, threaded=True)
        base_url = f"http://{host}:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        print(f"wechat_middleware demo: the Flask example at {base_url}/ using {upstream}")
        print(f"store: {os.environ.get('WECHAT_STORE', default_store_url())}")
        try:
            if check:
                return 0 if self_check(base_url) else 1
            print(
                "\nOpen it as WeChat's browser (browser devtools: a custom User-Agent "
                "containing 'MicroMessenger'), or try:\n"
                f"  curl -si -A 'MicroMessenger/8.0.47' -H 'Accept: text/html' "
                f"'{base_url}/?a=1&b=2'\n"
                "Expect a 302 to the OAuth authorize page, then back to /?a=1&b=2 logged in,\n"
                'with a JS-SDK signature for exactly that URL in <script id="wx-config">.\n'
                "A desktop User-Agent sees the page without the login. Ctrl-C stops."
            )
            thread.join()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
    return 0
