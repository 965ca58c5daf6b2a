"""One worker process of the cold-start test: N threads sign at the same moment.

    python cold_child.py --impl ours|wechatpy --base http://127.0.0.1:PORT
        --app-id ID --app-secret SECRET --threads 40 [--store URL | --redis URL]

Builds its client, starts the threads (they wait on a barrier), prints ``ready`` and
waits for ``go`` on stdin, so every process of the test starts at once; then prints one
JSON line: how many threads got a signature, the errors, and a few signatures for the
parent to check against the fake. ``ours`` runs under the project's Python,
``wechatpy`` under the peer virtualenv's.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def ours(args: argparse.Namespace) -> Callable[[str], dict[str, Any]]:
    from wechat_middleware import WeChat, WeChatConfig

    wechat = WeChat(
        WeChatConfig(
            app_id=args.app_id,
            app_secret=args.app_secret,
            api_base=args.base,
            open_base=args.base,
            store=args.store,
        )
    )

    def sign(url: str) -> dict[str, Any]:
        return dict(wechat.jssdk.get_signature_by_url(url))

    return sign


def wechatpy(args: argparse.Namespace) -> Callable[[str], dict[str, Any]]:
    from wechatpy import WeChatClient  # type: ignore[import-not-found]
    from wechatpy.session.memorystorage import MemoryStorage  # type: ignore[import-not-found]
    from wechatpy.utils import random_string  # type: ignore[import-not-found]

    base = args.base.rstrip("/")

    class FakeHostClient(WeChatClient):  # type: ignore[misc]
        """wechatpy's client with its API host moved to the fake.

        Its API calls go to ``API_BASE_URL``; ``fetch_access_token`` has the token URL
        written out, so it is overridden with the same request to the fake's host.
        """

        API_BASE_URL = base + "/cgi-bin/"

        def fetch_access_token(self) -> Any:
            return self._fetch_access_token(
                url=base + "/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                },
            )

    if args.redis:
        import redis
        from wechatpy.session.redisstorage import RedisStorage  # type: ignore[import-not-found]

        session: Any = RedisStorage(redis.Redis.from_url(args.redis), prefix="bench")
    else:
        session = MemoryStorage()
    client = FakeHostClient(args.app_id, args.app_secret, session=session, timeout=10)

    def sign(url: str) -> dict[str, Any]:
        ticket = client.jsapi.get_jsapi_ticket()
        nonce, timestamp = random_string(), int(time.time())
        signature = client.jsapi.get_jsapi_signature(nonce, ticket, timestamp, url)
        return {"url": url, "nonceStr": nonce, "timestamp": timestamp, "signature": signature}

    return sign


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=("ours", "wechatpy"), required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--app-secret", required=True)
    parser.add_argument("--threads", type=int, default=40)
    parser.add_argument("--store", default="memory://")
    parser.add_argument("--redis", default="")
    parser.add_argument("--worker", type=int, default=0)
    args = parser.parse_args()
    sign = ours(args) if args.impl == "ours" else wechatpy(args)

    barrier = threading.Barrier(args.threads + 1)
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        barrier.wait()
        try:
            signature = sign(f"http://127.0.0.1/page?worker={args.worker}&thread={i}")
            with lock:
                results.append(signature)
        except Exception as exc:  # report every failure, never hang the parent
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join(timeout=60)
    print(
        json.dumps(
            {
                "ok": len(results),
                "errors": errors,
                "seconds": time.perf_counter() - started,
                "samples": results[:3],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
