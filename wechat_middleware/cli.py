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
import hashlib
import json
import logging
import os
import re
import shlex
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from .errors import ConfigError, StoreError, WeChatError
from .flow import MAX_CLOCK_SKEW, fresh_timestamp
from .jssdk import public
from .signing import check_server_signature, server_signature, string_to_sign

if TYPE_CHECKING:
    from .config import WeChatConfig
    from .tokens import Kind
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

# --------------------------------------------------------------------------- plain words

_REJECTED = (
    "WeChat rejected the access token: another deployment of this app may be fetching "
    "tokens too (share one store, or use WECHAT_TOKEN_ENDPOINT=stable)"
)
_CONFIRM = "ask the administrator to confirm it in WeChat, or add it to the IP whitelist"
_ADVICE: dict[int, str] = {
    40013: "the app id is wrong: WeChat knows no app WECHAT_APP_ID={app_id}; copy the AppID "
    "from the WeChat dashboard (Settings > Basic configuration)",
    40125: "the app secret is wrong: WECHAT_APP_SECRET is not the AppSecret of {app_id} "
    "(WeChat dashboard: Settings > Basic configuration; after a reset only the new one works)",
    40164: "{ip} is not on the IP whitelist: add it in the WeChat dashboard "
    "(Settings > Basic configuration > IP whitelist)",
    89501: "{ip} is waiting for the administrator's confirmation: " + _CONFIRM,
    89503: "calls from {ip} need the administrator's confirmation: " + _CONFIRM,
    45009: "WeChat's daily quota for this call is used up: wait until tomorrow, and share "
    "tokens through one store so that workers do not each fetch their own",
    45011: "calls to WeChat are too frequent: wait a minute and try again",
    40001: _REJECTED,
    40014: _REJECTED,
    42001: _REJECTED,
    48001: "this API is not authorised for the account: the JS-SDK needs an Official "
    "Account with the JS interface permission",
}


def explain(exc: Exception, app_id: str = "") -> str:
    """What went wrong and what to do, for the person running the app.

    The errcode decides the advice; WeChat's errmsg ("invalid ip 1.2.3.4 ipv6 ...,
    not in whitelist rid: ...") is only read for the IP address WeChat saw.
    """
    if not isinstance(exc, WeChatError):
        return str(exc)
    if exc.errcode == -1:
        return f"WeChat could not be reached or answered garbage: {exc.errmsg}"
    advice = _ADVICE.get(exc.errcode)
    if advice is None:
        return f"WeChat answered errcode {exc.errcode}: {exc.errmsg}"
    seen = re.search(r"invalid ip ([0-9A-Fa-f.:]+)", exc.errmsg)
    ip = f"this server's IP {seen.group(1).rstrip(',')}" if seen else "this server's IP"
    return advice.format(app_id=app_id, ip=ip) + f" (errcode {exc.errcode})"


def _hide_password(url: str) -> str:
    """A store URL as it may be printed: ``redis://:***@host:6379/0``."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", url, flags=re.I)


@contextmanager
def _library_log_quiet() -> Iterator[None]:
    """Keep the library's warnings off the terminal while a command explains failures
    itself; an application that configured logging (a handler on the root) still gets them.
    """
    if logging.getLogger().handlers:
        yield
        return
    logger = logging.getLogger("wechat_middleware")
    handler = logging.NullHandler()  # a handler, so logging's last resort stays silent
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while a long-running command waits.

    A background job (``cmd &``) ignores SIGINT, and supervisors stop with SIGTERM:
    both must end the command as cleanly as Ctrl-C does.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


def wait_until_interrupted(done: Callable[[], bool] = lambda: False) -> None:
    """Sleep in short steps until Ctrl-C or SIGTERM (or ``done()``).

    A signal may be delivered to any thread; Python runs its handler in the main
    thread only when that thread runs again, so the main thread never blocks for long.
    """
    while not done():
        time.sleep(0.2)


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
    from .demo import run

    return run(args.host, args.port, args.check)


def _fake_server(args: argparse.Namespace) -> int:
    from .testing.browser import fake_wechat_env
    from .testing.fake_wechat import HEADER_OPENID, FakeWeChat

    fake = FakeWeChat(host=args.host, port=args.port)
    try:
        fake.start()
    except OSError as exc:
        return _fail("fake-server", f"cannot listen on {args.host}:{args.port}: {exc}", EXIT_FAILED)
    # SIGTERM is handled from before the first line is printed: a supervisor (or a
    # test) that stops the command as soon as it read the output gets a clean stop.
    with stop_on_sigterm():
        try:
            print(f"FakeWeChat at {fake.base_url} (Ctrl-C stops)")
            print(
                "Point an app at it (these are the fake's own made-up credentials; "
                "memory:// keeps no token past the fake's life):"
            )
            for name, value in fake_wechat_env(fake).items():
                print(f"export {name}={shlex.quote(value)}")
            print(
                f"Its authorize page logs visitors in as {fake.default_openid}; "
                f"the request header {HEADER_OPENID} picks another openid.",
                flush=True,
            )
            wait_until_interrupted()
        except KeyboardInterrupt:
            print("FakeWeChat stopped")
        finally:
            fake.stop()
    return EXIT_OK


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
        with _library_log_quiet():
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
        return _fail("sign", explain(exc, wechat.config.app_id), EXIT_WECHAT)
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
    return f"<ticket sha256:{hashlib.sha256(ticket.encode()).hexdigest()[:12]}>"


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


@dataclass(frozen=True)
class Check:
    """One line of ``doctor``'s report."""

    name: str
    status: Literal["OK", "WARN", "FAIL", "SKIP"]  # SKIP: after an earlier step failed
    detail: str


class _CheckFailed(Exception):
    """A doctor step failed; the message says why in plain words."""


class _CheckWarned(Exception):
    """A doctor step passed with something the user should know; the message says what."""


class _Doctor:
    """The steps, in the order a signed page depends on them; each returns what it saw."""

    def __init__(self) -> None:
        self.config: WeChatConfig | None = None
        self.wechat: WeChat | None = None

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("config", self.check_config),
            ("store", self.check_store),
            ("API host", self.check_api_host),
            ("access token", lambda: self.check_credential("access_token")),
            ("jsapi ticket", lambda: self.check_credential("jsapi_ticket")),
        ]

    def check_config(self) -> str:
        """What ``WeChat.from_env()`` checks when the app starts, and what it only needs
        for some paths (the server-check token)."""
        from .config import WeChatConfig

        config = self.config = WeChatConfig.from_env()
        config.require_middleware_settings()
        summary = f"app {config.app_id}, API {config.api_base}, {config.token_endpoint} token "
        summary += "endpoint"
        if not config.token:
            raise _CheckWarned(
                summary + "; WECHAT_TOKEN is not set, so the verify path answers 403 (set it "
                "to the dashboard's server-configuration Token if you use message pushes)"
            )
        return summary

    def check_store(self) -> str:
        from .stores import default_store_url
        from .wechat import WeChat

        assert self.config is not None
        where = _hide_password(self.config.store or default_store_url())
        try:
            wechat = self.wechat = WeChat(self.config)
            key = wechat.tokens.keys.probe(uuid.uuid4().hex)
            value = uuid.uuid4().hex
            wechat.store.set(key, value, 60)
            read = wechat.store.get(key)
            wechat.store.delete(key)
        except (ConfigError, StoreError) as exc:
            raise _CheckFailed(f"{where}: {exc}") from None
        if read != value:
            raise _CheckFailed(f"{where}: a test value written to the store did not read back")
        return f"{where}: wrote, read back and deleted a test value"

    def check_api_host(self) -> str:
        assert self.config is not None
        parts = urlsplit(self.config.api_base)
        host, timeout = parts.hostname or "", self.config.timeout
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except socket.gaierror:
            why = "the name does not resolve (DNS)"
        except ConnectionRefusedError:
            why = "connection refused"
        except TimeoutError:
            why = f"no answer within {timeout:g}s"
        except OSError as exc:
            why = exc.strerror or str(exc)
        else:
            return f"{host}:{port} accepts connections"
        raise _CheckFailed(f"cannot reach {host}:{port}: {why}")

    def check_credential(self, kind: Kind) -> str:
        """The app's own path (TokenManager): a valid stored value is reused, nothing forced."""
        assert self.wechat is not None
        stored = self.wechat.tokens.cached(kind)
        credential = self.wechat.tokens.get(kind)
        minutes = max(0, round((credential.expires_at - self.wechat.clock()) / 60))
        source = "from the store" if stored else "fetched from WeChat"
        return f"{source}, valid for {minutes} more minutes"

    def close(self) -> None:
        if self.wechat is not None:
            self.wechat.close()


def doctor() -> list[Check]:
    """Run every step in order; after a failure the remaining steps are skipped."""
    run = _Doctor()
    checks: list[Check] = []
    try:
        for name, step in run.steps():
            if checks and checks[-1].status not in ("OK", "WARN"):
                checks.append(Check(name, "SKIP", "fix the failure above first"))
                continue
            try:
                checks.append(Check(name, "OK", step()))
            except _CheckWarned as warned:
                checks.append(Check(name, "WARN", str(warned)))
            except (_CheckFailed, ConfigError, StoreError, WeChatError) as exc:
                app_id = run.config.app_id if run.config else ""
                checks.append(Check(name, "FAIL", explain(exc, app_id)))
    finally:
        run.close()
    return checks


def _doctor(args: argparse.Namespace) -> int:
    with _library_log_quiet():
        checks = doctor()
    for check in checks:
        print(f"{check.status:<4}  {check.name}: {check.detail}")
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
        "run the Flask example against the built-in fake WeChat server",
        "Serve examples/flask_app against FakeWeChat (run it from a checkout of the\n"
        "repository: the example is not part of the installed package), or against\n"
        "the real WeChat when WECHAT_APP_ID and WECHAT_APP_SECRET are set.",
    )
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=port_number, default=8000, help="0 picks a free port")
    demo.add_argument(
        "--check", action="store_true", help="walk the login once as WeChat's browser and exit"
    )

    fake = _command(
        commands,
        "fake-server",
        _fake_server,
        "run the fake WeChat server in the foreground",
        "Run FakeWeChat (WeChat's token, ticket and OAuth API) until Ctrl-C, and print\n"
        "the WECHAT_* variables that point an app at it. Example:\n"
        "  wechat-middleware fake-server --port 9000",
    )
    fake.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    fake.add_argument("--port", type=port_number, default=0, help="default: 0, a free port")

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
