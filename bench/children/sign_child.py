"""One JS-SDK signature implementation behind a line protocol, for interleaved rounds.

    python sign_child.py --impl ours|ours-jssdk|wechatpy --target-seconds 0.2 --clock cpu

Prints ``ready <calls-per-round> <check>`` once warm (``check`` is the signature of
fixed inputs, so the parent can see every implementation computes the same thing),
then answers each ``run`` line with the seconds per call of one round; ``quit`` or
end of input stops it. Run under the project's Python for ``ours`` and under the peer
virtualenv's Python for ``wechatpy``: the same script, the same timing loop.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from _timing import CLOCKS, calibrate, set_clock, time_calls  # type: ignore[import-not-found]

# A ticket of WeChat's usual shape and a typical shared-page URL.
TICKET = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
URL = "https://shop.example.com/products/42?from=timeline&isappinstalled=0"
CHECK_NONCE, CHECK_TIMESTAMP = "Wm3WZYTPz0wzccnW", 1414587457


def ours() -> tuple[Callable[[], object], str]:
    from wechat_middleware.signing import jsapi_signature, make_nonce

    def sign() -> str:
        return jsapi_signature(TICKET, make_nonce(), int(time.time()), URL)

    return sign, jsapi_signature(TICKET, CHECK_NONCE, CHECK_TIMESTAMP, URL)


def ours_jssdk() -> tuple[Callable[[], object], str]:
    """The library method a page's signature goes through (nonce, time, dict)."""
    from wechat_middleware.jssdk import JSSDK

    jssdk = JSSDK(None, app_id="wx0123456789abcdef")  # type: ignore[arg-type] # unused here

    def sign() -> object:
        return jssdk.gen_signature(TICKET, URL)

    from wechat_middleware.signing import jsapi_signature

    return sign, jsapi_signature(TICKET, CHECK_NONCE, CHECK_TIMESTAMP, URL)


def wechatpy() -> tuple[Callable[[], object], str]:
    from wechatpy import WeChatClient  # type: ignore[import-not-found]
    from wechatpy.utils import random_string  # type: ignore[import-not-found]

    jsapi = WeChatClient("wx0123456789abcdef", "secret").jsapi

    def sign() -> str:
        # What a wechatpy app does per page: its nonce helper, a timestamp, the signer.
        return str(jsapi.get_jsapi_signature(random_string(), TICKET, int(time.time()), URL))

    return sign, str(jsapi.get_jsapi_signature(CHECK_NONCE, TICKET, CHECK_TIMESTAMP, URL))


IMPLS = {"ours": ours, "ours-jssdk": ours_jssdk, "wechatpy": wechatpy}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=sorted(IMPLS), required=True)
    parser.add_argument("--target-seconds", type=float, default=0.2)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args()
    set_clock(args.clock)
    fn, check = IMPLS[args.impl]()
    time_calls(fn, 5_000)  # warm caches and the allocator
    number = calibrate(fn, args.target_seconds)
    print(f"ready {number} {check}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "run":
            print(repr(time_calls(fn, number)), flush=True)
        elif command in ("quit", ""):
            break


if __name__ == "__main__":
    main()
