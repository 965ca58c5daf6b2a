"""An OAuth relay and its target as deployed (issue #23): two example apps in real servers
on two host names, so a browser keeps a cookie jar for each.

The relay answers on ``127.0.0.1``, the account's OAuth domain (``FakeWeChat``'s
``oauth_domain``); the target on ``localhost``, which WeChat refuses as a ``redirect_uri``.
Each app keeps its own SQLite store and its own cookie key: all they share is
``WECHAT_RELAY_KEY``. Both URLs must be known before either starts (the relay lists the
target, the target names the relay), so their ports are chosen first.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from wechat_middleware.testing import FakeWeChat

from .servers import LOOPBACK, AppServer, app_environment, free_port, start_server

RELAY_HOST = LOOPBACK  # the account's registered OAuth domain
TARGET_HOST = "localhost"  # another host name: another cookie jar, refused by WeChat


@dataclass(frozen=True)
class RelayPair:
    """The running relay and target, and the origins the browser sees them at."""

    relay: AppServer
    target: AppServer
    relay_origin: str
    target_origin: str

    def target_url(self, path: str) -> str:
        return self.target_origin + path


def _start(kind: str, fake: FakeWeChat, workdir: Path, port: int, env: dict[str, str]) -> AppServer:
    workdir.mkdir(parents=True, exist_ok=True)
    environment = app_environment(fake, f"sqlite:///{workdir / 'store.sqlite3'}")
    return start_server(kind, {**environment, **env}, workdir, port=port)


@contextmanager
def relay_pair(
    kind: str, fake: FakeWeChat, workdir: Path, *, through_relay: bool = True, **env: str
) -> Iterator[RelayPair]:
    """The example app of ``kind`` as a relay on ``127.0.0.1`` and as its target on
    ``localhost``; ``through_relay=False`` leaves ``WECHAT_OAUTH_RELAY`` out of the
    target, which then logs in at WeChat directly. ``env`` adds to both apps'."""
    relay_port, target_port = free_port(), free_port()
    relay_origin = f"http://{RELAY_HOST}:{relay_port}"
    target_origin = f"http://{TARGET_HOST}:{target_port}"
    key = secrets.token_urlsafe(32)
    relay_env = {**env, "WECHAT_PUBLIC_URL": relay_origin}
    relay_env.update(WECHAT_RELAY_FOR=target_origin, WECHAT_RELAY_KEY=key)
    target_env = {**env, "WECHAT_PUBLIC_URL": target_origin}
    if through_relay:
        target_env.update(WECHAT_OAUTH_RELAY=relay_origin, WECHAT_RELAY_KEY=key)
    with ExitStack() as servers:
        relay = servers.enter_context(_start(kind, fake, workdir / "relay", relay_port, relay_env))
        target = servers.enter_context(
            _start(kind, fake, workdir / "target", target_port, target_env)
        )
        yield RelayPair(relay, target, relay_origin, target_origin)
