"""``wechat-middleware demo`` (``bash scripts/demo``): an example app against FakeWeChat.

It lives with the examples it serves, in the repository: the installed package has
neither, and the command says to run it from a checkout.

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
from typing import TYPE_CHECKING, Any

from wechat_middleware.flow import MAX_CLOCK_SKEW
from wechat_middleware.signing import server_signature
from wechat_middleware.stores import default_store_url

if TYPE_CHECKING:
    from wechat_middleware.testing import FakeWeChat


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
    from wechat_middleware.testing import FakeUser, FakeWeChat, fake_wechat_env

    with FakeWeChat() as fake:
        # The demo's user, with an avatar the fake serves (the page shows it offline).
        fake.add_user(FakeUser(openid=fake.default_openid, headimgurl=fake.avatar_url))
        env = fake_wechat_env(fake, store=environ.get("WECHAT_STORE") or default_store_url())
        # The fake's website app too: a desktop browser logs in with its QR login page.
        env.update(WECHAT_WEB_APP_ID=fake.web_app_id, WECHAT_WEB_APP_SECRET=fake.web_app_secret)
        environ.update(env)
        yield Upstream(f"FakeWeChat at {fake.base_url}", fake)


DEFAULT_PORT = 8000

#: Each example's WSGI module and callable (the command's ``--app`` choices).
EXAMPLES = {
    "flask": ("examples.flask_app.app", "app"),
    "django": ("examples.django_app.wsgi", "application"),
}


def load_example(name: str = "flask") -> Any:
    """Import an example's WSGI app (the command put the checkout on ``sys.path``)."""
    module, attribute = EXAMPLES[name]
    return getattr(importlib.import_module(module), attribute)


def self_check(base_url: str, fake: FakeWeChat | None) -> bool:
    """Walk the OAuth flow as WeChat's browser and check the page's signature.

    Against the fake, the signature is checked the way WeChat's browser checks it:
    with the tickets the fake issued. A signature made with a ticket of another WeChat
    (a store still holding an earlier fake's ticket) fails here as it would on a phone.
    """
    import json

    from wechat_middleware.testing import WeChatBrowser

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


def run(host: str, port: int | None, check: bool, example: str = "flask") -> int:
    """Serve the example on ``port``: by default 8000, and for ``check`` any free port
    (so a check runs beside a demo that holds 8000)."""
    from werkzeug.serving import make_server

    from wechat_middleware.running import stop_on_sigterm, wait_until_interrupted

    if port is None:
        port = 0 if check else DEFAULT_PORT
    # SIGTERM stops the demo cleanly from the start, like Ctrl-C.
    with stop_on_sigterm(), demo_environment(os.environ) as upstream:
        app = load_example(example)
        try:
            server = make_server(host, port, app, threaded=True)
        except (OSError, SystemExit) as exc:  # werkzeug exits when the port is in use
            why = exc.strerror if isinstance(exc, OSError) else "in use"
            print(
                f"wechat-middleware demo: cannot listen on {host}:{port} ({why}): is a demo "
                "already running there? Pick another port with --port, e.g. "
                f"--port {port + 1 if port < 65535 else 8001} (or --port 0 for any free one)",
                file=sys.stderr,
            )
            return 1
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
                "A desktop browser is sent to the fake's QR login page, whose Scan button "
                "stands in for a phone;\nlogged out, the page links back to it. Ctrl-C stops.",
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
