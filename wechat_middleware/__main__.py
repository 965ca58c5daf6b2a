"""Command line: ``python -m wechat_middleware demo``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from . import WeChat, WeChatConfig
    from .stores import default_store_url
    from .testing import FakeWeChat

    with FakeWeChat() as fake:
        config = WeChatConfig(
            app_id=fake.app_id,
            app_secret=fake.app_secret,
            api_base=fake.api_base,
            open_base=fake.open_base,
            store=default_store_url(),
        )
        wechat = WeChat(config)
        signature = wechat.jssdk.get_signature_by_url(args.url)
        print(f"FakeWeChat is serving on {fake.base_url}")
        print(f"wx.config for {args.url}:")
        print(json.dumps(signature, indent=2))
        ok = fake.check_jsapi_signature(
            signature["url"], signature["nonceStr"], signature["timestamp"], signature["signature"]
        )
        print("FakeWeChat accepts the signature:", ok)
        wechat.close()
        return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wechat-middleware")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="sign a page URL against the built-in fake WeChat")
    demo.add_argument("--url", default="http://127.0.0.1:8000/?a=1&b=2")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
