"""Command line: ``wechat-middleware`` / ``python -m wechat_middleware``.

Every command reads the app's configuration from the ``WECHAT_*`` environment, like
``WeChat.from_env()``, so what the command sees is what the app sees. Nothing printed
contains the app's secrets, a token or a ticket; ``fake-server`` and ``demo`` print the
fake WeChat's own made-up credentials, which is what they are for.

The long-running commands (``demo``, ``fake-server``) stop cleanly on SIGTERM as on
Ctrl-C, so they behave the same in a terminal, a background job or a supervisor.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .doctor import doctor
from .errors import ConfigError, StoreError, WeChatError, explain
from .flow import MAX_CLOCK_SKEW, fresh_timestamp
from .jssdk import public
from .running import library_log_quiet, stop_on_sigterm, wait_until_interrupted
from .signing import check_server_signature, credential_id, server_signature, string_to_sign

if TYPE_CHECKING:
    from http.server import HTTPServer

    from .testing.fake_wechat import FakeWeChat
    from .testing.fake_wecom import FakeWeCom
    from .wechat import WeChat

EXIT_OK = 0
EXIT_FAILED = 1  # verify: invalid signature; doctor: a check failed
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_WECHAT = 4  # WeChat or the store failed

_EXIT_CODES = (
    "exit codes: 0 success, 1 a check failed, 2 usage, 3 configuration error, "
    "4 WeChat or store error"
)


def nonce_value(raw: str) -> str:
    """argparse type: a nonceStr as WeChat's pages carry it."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,32}", raw):
        raise argparse.ArgumentTypeError("a nonce is 1-32 letters and digits")
    return raw


def timestamp_value(raw: str) -> int:
    """argparse type: whole seconds since the epoch."""
    if not re.fullmatch(r"[0-9]{1,12}", raw):
        raise argparse.ArgumentTypeError("a timestamp is whole seconds, e.g. 1700000000")
    return int(raw)


def port_number(raw: str) -> int:
    """argparse type: a TCP port, 0 (pick a free one) to 65535."""
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {raw!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 (any free port) to 65535, not {port}")
    return port


def _fail(command: str, message: str, code: int) -> int:
    print(f"wechat-middleware {command}: {message}", file=sys.stderr)
    return code


# --------------------------------------------------------------------------- commands


def _demo(args: argparse.Namespace) -> int:
    # The demo serves the repository's examples, which the installed package leaves out.
    if not os.path.isfile("examples/demo.py"):
        message = (
            "run it from a checkout of wechat_middleware (examples/ is not in the current "
            "directory, and is not part of the installed package); `bash scripts/demo` "
            "does this for you"
        )
        return _fail("demo", message, EXIT_USAGE)
    sys.path.insert(0, os.getcwd())
    code: int = importlib.import_module("examples.demo").run(
        args.host, args.port, args.check, args.app
    )
    return code


def _fake_server(args: argparse.Namespace) -> int:
    import tempfile

    from .testing.fake_wechat import FakeWeChat
    from .testing.fake_wecom import FakeWeCom

    fake: FakeWeChat | FakeWeCom = (FakeWeCom if args.wecom else FakeWeChat)(
        host=args.host, port=args.port
    )
    try:
        fake.start()
    except OSError as exc:
        return _fail("fake-server", f"cannot listen on {args.host}:{args.port}: {exc}", EXIT_FAILED)
    # One SQLite file for this fake's life, in a private directory: every worker of
    # `gunicorn -w 4` shares it (memory:// would give each its own token and ticket),
    # and no token of this fake outlives it to be served to the next one.
    with tempfile.TemporaryDirectory(prefix="wechat-fake-") as state:
        store = "sqlite:///" + os.path.join(state, "tokens.sqlite3")
        # SIGTERM is handled from before the first line is printed: a supervisor (or a
        # test) that stops the command as soon as it read the output gets a clean stop.
        with stop_on_sigterm():
            try:
                name = type(fake).__name__
                print(f"{name} at {fake.base_url} (Ctrl-C stops)")
                print(_fake_lines(fake, store), flush=True)
                wait_until_interrupted()
            except KeyboardInterrupt:
                print(f"{name} stopped")
            finally:
                fake.stop()
    return EXIT_OK


def _fake_lines(fake: FakeWeChat | FakeWeCom, store: str) -> str:
    """What points an app at ``fake``: its made-up credentials as ``export`` lines, and
    who its login pages log in."""
    from .testing.browser import fake_wechat_env, fake_wecom_env
    from .testing.fake_records import HEADER_OPENID, HEADER_USERID, FakeUser, new_openid
    from .testing.fake_wechat import FakeWeChat

    intro = "Point an app at it (these are the fake's own made-up credentials):"
    if not isinstance(fake, FakeWeChat):
        return "\n".join(
            [
                intro,
                *_exports(fake_wecom_env(fake, store=store)),
                f"Its authorize page logs members in as userid {fake.default_userid}; "
                f"the request header {HEADER_USERID} picks another member.",
            ]
        )
    # A user bound to an Open Platform account: the desktop QR login links to it.
    user = fake.add_user(FakeUser(openid=fake.default_openid, unionid=new_openid()))
    web_app = {"WECHAT_WEB_APP_ID": fake.web_app_id, "WECHAT_WEB_APP_SECRET": fake.web_app_secret}
    return "\n".join(
        [
            intro,
            *_exports(fake_wechat_env(fake, store=store)),
            "Desktop QR login (a website app, 网站应用) also needs:",
            *_exports(web_app),
            f"Its authorize page logs visitors in as {user.openid} (unionid {user.unionid}, "
            f"the same on the QR login); the request header {HEADER_OPENID} picks another "
            "openid.",
        ]
    )


def _exports(env: dict[str, str]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def _hub(args: argparse.Namespace) -> int:
    from .hub import from_env

    try:
        hub = from_env()
    except ConfigError as exc:
        return _fail("hub", f"configuration: {exc}", EXIT_CONFIG)
    except StoreError as exc:
        return _fail("hub", f"store: {exc}", EXIT_WECHAT)
    try:
        server = wsgi_server(args.host, args.port, hub)
    except OSError as exc:
        hub.wechat.close()
        return _fail("hub", f"cannot listen on {args.host}:{args.port}: {exc}", EXIT_FAILED)
    with stop_on_sigterm():
        try:
            host, port = str(server.server_address[0]), server.server_address[1]
            names = ", ".join(name for name, _ in hub.clients)
            print(f"token hub for {hub.wechat!r} at http://{host}:{port} (clients: {names})")
            print("a development server; in production: gunicorn wechat_middleware.hub:app")
            print("Ctrl-C stops", flush=True)
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            hub.wechat.close()
    print("hub stopped")
    return EXIT_OK


def wsgi_server(host: str, port: int, app: Any) -> HTTPServer:
    """A threaded development server from the standard library (werkzeug's would be
    framework glue in a core module). It writes no request lines: they hold the query,
    and the clients' keys with it; the hub logs each call itself, by client name."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Threaded(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    return make_server(host, port, app, Threaded, Quiet)


def _open_wechat(command: str) -> WeChat | int:
    """The app's ``WeChat`` for the API (no middleware settings needed), or the exit
    code after saying what is wrong."""
    from .config import WeChatConfig
    from .wechat import WeChat

    try:
        return WeChat(WeChatConfig.from_env())
    except ConfigError as exc:
        return _fail(command, f"configuration: {exc}", EXIT_CONFIG)
    except StoreError as exc:
        return _fail(command, f"store: {exc}", EXIT_WECHAT)


def _sign(args: argparse.Namespace) -> int:
    from .urls import check_page_url

    try:
        url = check_page_url(args.url)
    except ValueError as exc:
        return _fail("sign", f"{exc}: {args.url[:200]!r}", EXIT_USAGE)
    apis = [name.strip() for name in args.api.split(",") if name.strip()]
    wechat = _open_wechat("sign")
    if isinstance(wechat, int):
        return wechat
    try:
        with library_log_quiet():
            ticket = wechat.tokens.jsapi_ticket()
            if args.nonce is None and args.timestamp is None:
                signature = wechat.jssdk.get_signature_by_url(url)
            else:
                signature = public(
                    wechat.jssdk.gen_signature(
                        ticket, url, nonce=args.nonce, timestamp=args.timestamp
                    )
                )
    except (WeChatError, StoreError) as exc:
        return _fail(
            "sign", explain(exc, wechat.config.app_id, wechat.client.meanings), EXIT_WECHAT
        )
    finally:
        wechat.close()
    if url != args.url:
        print(f"signed {url} (a browser never sends what follows #)", file=sys.stderr)
    # What was hashed, so it can be compared with what a page got: same URL, nonce and
    # timestamp give the same signature only with the same ticket (shown as a digest).
    print(f"signed URL:   {url}", file=sys.stderr)
    print(
        "string hashed: "
        + string_to_sign(mask_ticket(ticket), signature["nonceStr"], signature["timestamp"], url),
        file=sys.stderr,
    )
    config = {
        "debug": False,
        "appId": signature["appId"],
        "timestamp": signature["timestamp"],
        "nonceStr": signature["nonceStr"],
        "signature": signature["signature"],
        "jsApiList": apis,
    }
    print(json.dumps(config, indent=2, ensure_ascii=False))
    return EXIT_OK


def mask_ticket(ticket: str) -> str:
    """The ticket as it may be printed: a digest tells two tickets apart, nothing more."""
    return f"<ticket sha256:{credential_id(ticket)}>"


def _verify(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("WECHAT_TOKEN")
    if not token:
        return _fail("verify", "give --token or set WECHAT_TOKEN", EXIT_USAGE)
    if not check_server_signature(token, args.timestamp, args.nonce, args.signature):
        expected = server_signature(token, args.timestamp, args.nonce)
        print(f"invalid: expected {expected}, got {args.signature}")
        return EXIT_FAILED
    if not fresh_timestamp(args.timestamp, time.time()):
        print(
            "invalid: timestamp too old (clock skew?): the signature matches, but the "
            f"timestamp is more than {MAX_CLOCK_SKEW} s from this machine's clock, and the "
            "middleware refuses such requests as possible replays"
        )
        return EXIT_FAILED
    print("valid: the signature matches the token, timestamp and nonce")
    return EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    with library_log_quiet():
        checks = doctor()
    for check in checks:
        print(f"{check.status:<4}  {check.name}: {check.detail}")
        for line in check.lines:
            print(f"        {line}")
    failed = any(check.status == "FAIL" for check in checks)
    warned = sum(check.status == "WARN" for check in checks)
    if failed:
        print("a check failed")
    elif warned:
        print(f"all checks passed, with {warned} warning{'s' if warned > 1 else ''}")
    else:
        print("all checks passed")
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------- parser


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: Callable[[argparse.Namespace], int],
    summary: str,
    description: str,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="wechat-middleware",
        description="WeChat JS-SDK signing and web OAuth middleware: tools.",
        epilog=_EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _command(
        commands,
        "demo",
        _demo,
        "run an example app against the built-in fake WeChat server",
        "Serve examples/flask_app (or examples/django_app with --app django) against\n"
        "FakeWeChat (run it from a checkout of the repository: the examples are not part\n"
        "of the installed package), or against the real WeChat when WECHAT_APP_ID and\n"
        "WECHAT_APP_SECRET are set.",
    )
    demo.add_argument(
        "--app", choices=("django", "flask"), default="flask", help="which example to serve"
    )
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument(
        "--port",
        type=port_number,
        help="default 8000, with --check any free port; 0 picks a free port",
    )
    demo.add_argument(
        "--check", action="store_true", help="walk the login once as WeChat's browser and exit"
    )

    fake = _command(
        commands,
        "fake-server",
        _fake_server,
        "run the fake WeChat server in the foreground",
        "Run FakeWeChat (WeChat's token, ticket and OAuth API, and a website app's QR\n"
        "login) or, with --wecom, FakeWeCom until Ctrl-C, and print the WECHAT_*\n"
        "variables that point an app at it. Example:\n"
        "  wechat-middleware fake-server --port 9000",
    )
    fake.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    fake.add_argument("--port", type=port_number, default=0, help="default: 0, a free port")
    fake.add_argument(
        "--wecom", action="store_true", help="run FakeWeCom (a WeCom self-built app) instead"
    )

    sign = _command(
        commands,
        "sign",
        _sign,
        "print the wx.config JSON for a page URL",
        "Sign URL with the app's credentials and store from the WECHAT_* environment,\n"
        "and print the argument of wx.config(...); the signed URL and the string hashed\n"
        "(ticket masked) go to stderr. With --nonce and --timestamp from a page's\n"
        "wx.config, the signature must equal the page's if the URL is right. Example:\n"
        "  wechat-middleware sign 'https://shop.example.com/page?id=1' "
        "--api updateAppMessageShareData,chooseImage",
    )
    sign.add_argument("url", metavar="URL", help="the page URL exactly as the browser shows it")
    sign.add_argument(
        "--api", default="", metavar="LIST", help="comma-separated jsApiList, e.g. chooseImage"
    )
    sign.add_argument(
        "--nonce",
        type=nonce_value,
        help="sign with this nonceStr (e.g. the page's), to compare signatures",
    )
    sign.add_argument(
        "--timestamp",
        type=timestamp_value,
        help="sign with this timestamp (e.g. the page's), to compare signatures",
    )

    verify = _command(
        commands,
        "verify",
        _verify,
        "check a server-check signature",
        "Check the signature WeChat sends to the verify URL: sha1 of the sorted token,\n"
        "timestamp and nonce; the timestamp must be within 5 minutes of this machine's\n"
        "clock, as the middleware requires. Example:\n"
        "  wechat-middleware verify --token T --timestamp 1700000000 --nonce 42 "
        "--signature 0a1b...",
    )
    verify.add_argument("--token", help="the dashboard's Token (default: $WECHAT_TOKEN)")
    verify.add_argument("--timestamp", required=True)
    verify.add_argument("--nonce", required=True)
    verify.add_argument("--signature", required=True)

    hub = _command(
        commands,
        "hub",
        _hub,
        "serve the token hub (WeChat's token and ticket endpoints for every system)",
        "Serve WeChat's token and ticket endpoints for the app of the WECHAT_* environment\n"
        "to the clients of WECHAT_HUB_CLIENTS (name:key,...), who give their key as the\n"
        "secret. A development server; in production:\n"
        "  gunicorn -w 1 --threads 16 -b 0.0.0.0:8080 wechat_middleware.hub:app\n"
        "Example:\n"
        "  WECHAT_HUB_CLIENTS=shop:$KEY wechat-middleware hub --host 0.0.0.0 --port 8080",
    )
    hub.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    hub.add_argument("--port", type=port_number, default=8080, help="default: 8080; 0 any")

    _command(
        commands,
        "doctor",
        _doctor,
        "check the configuration, the store and WeChat",
        "Check what the app needs, with its WECHAT_* environment: the configuration,\n"
        "the store (write, read and delete a value), WeChat's API host, an access token\n"
        "and a jsapi ticket through the same path the app uses (a valid stored token is\n"
        "reused; nothing is force-refreshed). Each step prints OK, WARN, FAIL or SKIP.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the exit code (``--help`` and usage errors included)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    result: int = args.run(args)
    return result
