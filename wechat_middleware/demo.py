"""``python -m wechat_middleware demo``: an example app against FakeWeChat, locally.

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
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .flow import MAX_CLOCK_SKEW
from .signing import server_signature
from .stores import default_store_url

if TYPE_CHECKING:
    from .testing import FakeWeChat


@dataclass(frozen=True)
class Upstream:
    """What the demo talks to: the fake (which can check signatures) or real WeChat."""

    description: str
    fake: FakeWeChat | None


@contextmanager
def demo_environment(environ: MutableMapping[str, str]) -> Iterator[Upstream]:
    """Point the WECHAT_* variables at a running FakeWeChat (or keep real credentials)."""
    real = environ.get("WECHAT_APP_ID") and environ.get("WECHAT_APP_SECRET")
    if real and not environ.get("WECHAT_API_BASE"):
        environ.setdefault("WECHAT_SECRET_KEY", secrets.token_urlsafe(32))
        yield Upstream("real WeChat (credentials from the environment)", None)
        return
    from .testing import FakeWeChat, fake_wechat_env

    with FakeWeChat() as fake:
        env = fake_wechat_env(fake, store=environ.get("WECHAT_STORE") or default_store_url())
        environ.update(env)
        yield Upstream(f"FakeWeChat at {fake.base_url}", fake)


#: Each example's WSGI module, file and callable.
EXAMPLES = {
    "flask": ("examples.flask_app.app", "examples/flask_app/app.py", "app"),
    "django": ("examples.django_app.wsgi", "examples/django_app/wsgi.py", "application"),
}


def load_example(name: str = "flask") -> Any:
    """Import an example's WSGI app from the current checkout."""
    module, file, attribute = EXAMPLES[name]
    root = Path.cwd()
    if not (root / file).is_file():
        raise SystemExit(
            f"wechat-middleware demo: run it from a checkout of wechat_middleware "
            f"({file} is not in the current directory, and the examples are not part "
            "of the installed package); `bash scripts/demo` does this for you"
        )
    sys.path.insert(0, str(root))
    return getattr(importlib.import_module(module), attribute)


def self_check(base_url: str, fake: FakeWeChat | None) -> bool:
    """Walk the OAuth flow as WeChat's browser and check the page's signature.

    Against the fake, the signature is checked the way WeChat's browser checks it:
    with the tickets the fake issued. A signature made with a ticket of another WeChat
    (a store still holding an earlier fake's ticket) fails here as it would on a phone.
    """
    import json

    from .testing import WeChatBrowser

    page_url = base_url + "/?a=1&b=2"
    with WeChatBrowser() as browser:
        page = browser.get(page_url)
    config = re.search(r'id="wx-config" type="application/json">(.*?)</script>', page.text)
    openid = re.search(r'<span id="openid">([^<]*)</span>', page.text)
    if page.status != 200 or not config or not openid:
        print(f"self-check failed: HTTP {page.status} after {page.urls}")
        return False
    signature = json.loads(config.group(1))
    if not signature or not openid.group(1) or signature["url"] != page_url:
        print(f"self-check failed: not logged in, or no signature for {page_url}: {signature}")
        return False
    print(f"logged in as {openid.group(1)!r}; wx.config signature for {signature['url']}")
    if fake is None:
        print("(real WeChat: open the page in WeChat to see wx.config's verdict)")
        return True
    if not fake.check_jsapi_signature(
        signature["url"], signature["nonceStr"], signature["timestamp"], signature["signature"]
    ):
        print("self-check failed: config:invalid signature (WeChat would reject this signature)")
        return False
    print("JS-SDK: the fake WeChat accepts the signature (config:ok)")
    return True


def run(host: str, port: int, check: bool, example: str = "flask") -> int:
    from werkzeug.serving import make_server

    from .running import stop_on_sigterm, wait_until_interrupted

    # SIGTERM stops the demo cleanly from the start, like Ctrl-C.
    with stop_on_sigterm(), demo_environment(os.environ) as upstream:
        app = load_example(example)
        server = make_server(host, port, app, threaded=True)
        base_url = f"http://{host}:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            print(f"wechat_middleware demo: the {example.title()} example at {base_url}/")
            print(f"upstream: {upstream.description}")
            print(f"store: {os.environ.get('WECHAT_STORE', default_store_url())}")
            if check:
                return 0 if self_check(base_url, upstream.fake) else 1
            print(verify_hint(base_url, os.environ.get("WECHAT_TOKEN", "")))
            print(
                "\nOpen it as WeChat's browser (browser devtools: a custom User-Agent "
                "containing 'MicroMessenger'), or follow the login with curl (the cookie\n"
                "jar keeps the session, as a browser does):\n"
                f"  curl -sL -c jar.txt -b jar.txt -A 'MicroMessenger/8.0.47' "
                f"-H 'Accept: text/html' '{base_url}/?a=1&b=2'\n"
                "That is a 302 to the OAuth authorize page, back to the callback, and the\n"
                "page logged in, with a JS-SDK signature for exactly that URL in\n"
                '<script id="wx-config">.\n'
                "A desktop User-Agent sees the page without the login. Ctrl-C stops.",
                flush=True,
            )
            wait_until_interrupted(lambda: not thread.is_alive())
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
    return 0


def verify_hint(base_url: str, token: str) -> str:
    """How to try the server-check path: the token and a signed request for now."""
    if not token:
        return "\nWECHAT_TOKEN is not set: the verify path answers 403."
    timestamp, nonce = str(int(time.time())), secrets.token_hex(4)
    signature = server_signature(token, timestamp, nonce)
    return (
        f"\nWECHAT_TOKEN={token} (the server-check token; the dashboard's 'Token').\n"
        f"Try the server check (valid for {MAX_CLOCK_SKEW // 60} minutes, once: a replay "
        "is refused):\n"
        f"  curl -s '{base_url}/wechat/verify?signature={signature}"
        f"&timestamp={timestamp}&nonce={nonce}&echostr=hello'"
    )
