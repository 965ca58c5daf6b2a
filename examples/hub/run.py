"""The token hub in one process: FakeWeChat with an IP whitelist, a hub on the one
whitelisted address, and two follower hosts that WeChat itself would refuse.

    python examples/hub/run.py

Hosts are source addresses on loopback (Linux routes all of 127/8 to it): the hub
calls WeChat from 127.0.0.2, the followers leave from 127.0.0.3 and 127.0.0.4.
"""

from __future__ import annotations

import threading

from wechat_middleware import WeChat, WeChatConfig
from wechat_middleware.cli import wsgi_server
from wechat_middleware.errors import WeChatError
from wechat_middleware.hub import make_hub
from wechat_middleware.stores import open_store
from wechat_middleware.testing import FakeWeChat

KEY = "follower-key-0123456789"  # WECHAT_HUB_CLIENTS=hosts:<this>, WECHAT_HUB_KEY=<this>


def main() -> None:
    with FakeWeChat(ip_whitelist={"127.0.0.2"}) as fake:
        app = {"app_id": fake.app_id, "app_secret": fake.app_secret, "api_base": fake.api_base}
        # The hub: WECHAT_HUB_CLIENTS and WECHAT_SOURCE_ADDRESS; in production
        # `gunicorn wechat_middleware.hub:app` with a Redis WECHAT_STORE.
        hub_wechat = WeChat(WeChatConfig(**app, source_address="127.0.0.2"))
        server = wsgi_server("127.0.0.1", 0, make_hub(hub_wechat, {"hosts": KEY}))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        hub_url = f"http://127.0.0.1:{server.server_address[1]}"
        print(f"hub at {hub_url}")

        followers = []
        for address in ("127.0.0.3", "127.0.0.4"):
            # A follower: WECHAT_TOKEN_HUB and WECHAT_HUB_KEY (and its own store).
            config = WeChatConfig(**app, token_hub=hub_url, hub_key=KEY, source_address=address)
            followers.append(WeChat(config, store=open_store("memory://")))
            signature = followers[-1].jssdk.get_signature_by_url("https://shop.example.com/p")
            print(f"follower {address} signed with the hub's ticket: {signature['signature']}")
        token, ticket = fake.calls("cgi-bin/stable_token"), fake.calls("cgi-bin/ticket/getticket")
        print(f"WeChat saw {token} token call and {ticket} ticket call, both from the hub")
        try:  # what a follower would get from WeChat itself
            followers[0].client.get_stable_access_token()
        except WeChatError as exc:
            print(f"a follower asking WeChat itself: {exc.errcode} {exc.errmsg.split(' rid')[0]}")
        for follower in followers:
            follower.close()
        server.shutdown()
        hub_wechat.close()


if __name__ == "__main__":
    main()
