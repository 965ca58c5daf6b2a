"""The OAuth relay in one process: FakeWeChat, a relay on the account's OAuth domain
(127.0.0.1 here) and a target on another origin (localhost), each its own server.

    python examples/relay/run.py

A browser in WeChat asks the target for a page; it goes target -> relay -> WeChat ->
relay -> target, and the target redeems the relay's one-time ticket server to server.
"""

from __future__ import annotations

import threading
from typing import Any

import requests

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.cli import wsgi_server
from wechat_middleware.stores import open_store
from wechat_middleware.testing import FakeUser, FakeWeChat
from wechat_middleware.testing.browser import WeChatBrowser
from wechat_middleware.wsgi import WeChatMiddleware

# The same on the relay and its targets; make one with
# python -c 'import secrets; print(secrets.token_urlsafe(32))'
RELAY_KEY = "relay-key-0123456789abcdef0123456789"
USER = "oRelayUser0000000000000000001"


def page(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    user = environ["wechat"].user
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"logged in on the target as {user.openid if user else None}".encode()]


def serve(app: Any, host: str) -> tuple[Any, int]:
    server = wsgi_server(host, 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def main() -> None:
    with FakeWeChat() as fake:
        fake.add_user(FakeUser(openid=USER))
        app = {"app_id": fake.app_id, "app_secret": fake.app_secret, "api_base": fake.api_base}
        app |= {"open_base": fake.open_base, "store": "memory://"}
        relay_server, relay_port = serve(None, "127.0.0.1")
        target_server, target_port = serve(None, "127.0.0.1")
        relay_url = f"http://127.0.0.1:{relay_port}"
        target_url = f"http://localhost:{target_port}"
        # The relay: WECHAT_RELAY_FOR lists its targets' origins; WECHAT_RELAY_KEY.
        relay = WeChat(
            WeChatConfig(
                **app,
                secret_key="relay-cookie-key-0123456789abcdef",
                public_url=relay_url,
                relay_for=(target_url,),
                relay_key=RELAY_KEY,
            )
        )
        relay_server.set_app(WeChatMiddleware(page, relay))
        # A target: WECHAT_OAUTH_RELAY is the relay's origin; the same WECHAT_RELAY_KEY.
        target = WeChat(
            WeChatConfig(
                **app,
                secret_key="target-cookie-key-0123456789abcdef",
                public_url=target_url,
                oauth_relay=relay_url,
                relay_key=RELAY_KEY,
            ),
            store=open_store("memory://"),
        )
        target_server.set_app(WeChatMiddleware(page, target))
        print(f"relay at {relay_url}, target at {target_url}")
        with WeChatBrowser(openid=USER) as browser:
            answer = browser.get(f"{target_url}/account")
            for hop in answer.hops:
                print(f"  {hop.status} {hop.url.split('?')[0]}")
            print(answer.text)
        redeem = requests.post(f"{relay_url}/wechat/relay/redeem", json={}, timeout=5)
        print(f"redeeming without the relay key: {redeem.status_code}")
        for server in (relay_server, target_server):
            server.shutdown()
        relay.close()
        target.close()


if __name__ == "__main__":
    main()
