"""``wechat-middleware doctor``: check, in order, what a signed page depends on.

Each step says OK, WARN, FAIL or SKIP (after an earlier failure), in plain words: the
configuration the middleware needs, the bounds on logins it sets, the origin URLs are
built on (``WECHAT_PUBLIC_URL`` or ``WECHAT_ALLOWED_HOSTS``), the store (a value
written, read back and deleted; on Redis, the scripts and publish/subscribe it runs
allowed), WeChat's API host, then an access token and a jsapi
ticket through the same path the app uses (a valid stored one is reused; nothing is
forced). With a website app (desktop QR login), a last step says what linking its users
to the Official Account's needs: no API tells whether the two are bound to one Open
Platform account. Under the configuration step it lists every setting the environment
can set, with the value the app sees (a secret's hidden) and whether it is the default.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from .errors import MEANINGS, ConfigError, StoreError, WeChatError, explain
from .protocol import OAUTH_EXCHANGES_PER_MINUTE, SCOPE_BASE
from .redaction import hide_password
from .settings import settings_of, unknown_names

if TYPE_CHECKING:
    from .config import WeChatConfig
    from .tokens import Kind
    from .wechat import WeChat


@dataclass(frozen=True)
class Check:
    """One line of ``doctor``'s report."""

    name: str
    status: Literal["OK", "WARN", "FAIL", "SKIP"]  # SKIP: after an earlier step failed
    detail: str
    lines: tuple[str, ...] = ()  # what else it shows, a line each (the settings)


class _CheckFailed(Exception):
    """A doctor step failed; the message says why in plain words."""


class _CheckWarned(Exception):
    """A doctor step passed with something the user should know; the message says what."""


class _Doctor:
    """The steps, in the order a signed page depends on them; each returns what it saw."""

    def __init__(self) -> None:
        self.config: WeChatConfig | None = None
        self.wechat: WeChat | None = None
        self.lines: dict[str, tuple[str, ...]] = {}  # a step's lines beneath it

    def steps(self) -> Iterator[tuple[str, Callable[[], str]]]:
        """The steps in order; lazily, as a WeCom app (known once the config is read)
        has one more. Names no setting reads come first: a misspelt required one is
        what the config step then fails on."""
        from .config import WeChatConfig

        unknown = tuple(unknown_names(settings_of(WeChatConfig), os.environ))
        if unknown:
            self.lines["setting names"] = unknown
            yield "setting names", lambda: _warn(f"{len(unknown)} WECHAT_* name(s) unknown")
        yield "config", self.check_config
        yield "login limits", self.check_login_limits
        yield "origin", self.check_origin
        yield "store", self.check_store
        yield "API host", self.check_api_host
        if self.config is not None and self.config.token_hub:
            yield "token hub", self.check_hub
        if self.config is not None and (self.config.relay_for or self.config.oauth_relay):
            yield "OAuth relay", self.check_relay
        yield "access token", lambda: self.check_credential("access_token")
        yield "jsapi ticket", lambda: self.check_credential("jsapi_ticket")
        if self.config is not None and self.config.is_wecom:
            yield "app ticket", lambda: self.check_credential("agent_ticket")
        if self.config is not None and self.config.web_app_id:
            yield "account link", self.check_account_link

    def check_config(self) -> str:
        """What ``WeChat.from_env()`` checks when the app starts, and what it only needs
        for some paths (the server-check token)."""
        from .config import WeChatConfig

        config = self.config = WeChatConfig.from_env()
        self.lines["config"] = settings_listing(config, os.environ)
        config.require_middleware_settings()
        if config.is_wecom:
            summary = f"WeCom corp {config.app_id}, app {config.agent_id}, API {config.api_base}"
        else:
            summary = f"app {config.app_id}, API {config.api_base}, {config.token_endpoint} "
            summary += "token endpoint"
        if not config.token:
            raise _CheckWarned(
                summary + "; WECHAT_TOKEN is not set, so the verify path answers 403 (set it "
                "to the dashboard's server-configuration Token if you use message pushes)"
            )
        return summary

    def check_login_limits(self) -> str:
        """The bounds on OAuth code exchanges (SECURITY.md finding 4), as a visitor meets
        them: over either, the callback answers 429 without calling WeChat."""
        assert self.config is not None
        per_client, total = self.config.login_rate_per_client, self.config.login_rate_total
        wechats = OAUTH_EXCHANGES_PER_MINUTE
        client = "no bound per client"
        if per_client:
            client = f"{per_client:,} a minute per client (an IPv4 address or an IPv6 /64)"
        everyone = f"{total:,} in all" if total else "no bound in all"
        if not self.config.is_wecom:
            own = "WeChat's own limit" if total == wechats else f"WeChat's own is {wechats:,}"
            everyone += f" ({own} on sns/oauth2/access_token)"
        summary = (
            f"OAuth logins: {client}, {everyone}; over either, the callback answers 429. "
            "Loopback and private addresses (a proxy that does not pass the client's on) "
            "count only in all"
        )
        if not per_client:
            raise _CheckWarned(
                summary + "; without a per-client bound one client can spend everyone's "
                "logins: set WECHAT_LOGIN_RATE_PER_CLIENT (default 20)"
            )
        return summary

    def check_origin(self) -> str:
        """Which origin signatures and OAuth ``redirect_uri`` are built on (SECURITY.md,
        Host-header spoofing): ``WECHAT_PUBLIC_URL``, else the Host header of a request
        for a host this site serves. Beneath it, what to register in the dashboard."""
        assert self.config is not None
        config = self.config
        refused, self.lines["origin"] = dashboard(config)
        if config.public_url:
            summary = (
                f"URLs are built on WECHAT_PUBLIC_URL={config.public_url}; the Host is not used"
            )
            if refused:
                raise _CheckWarned(f"{summary}; {refused}")
            return summary
        django = "; under Django, its ALLOWED_HOSTS decides instead"
        if config.allowed_hosts is None:
            raise _CheckWarned(
                "no WECHAT_PUBLIC_URL or WECHAT_ALLOWED_HOSTS: only this machine's names "
                "(localhost, 127.0.0.1, [::1]) get signatures and logins, any other Host a "
                "400; set WECHAT_PUBLIC_URL to the public URL, or WECHAT_ALLOWED_HOSTS to "
                "the hosts you serve" + django
            )
        hosts = ", ".join(config.allowed_hosts) or "none"
        summary = f"URLs are built on a Host header of WECHAT_ALLOWED_HOSTS: {hosts}"
        if "*" in config.allowed_hosts:
            raise _CheckWarned(
                summary + ": any Host gets a signature and an OAuth redirect_uri on itself; "
                "list the hosts you serve, or set WECHAT_PUBLIC_URL" + django
            )
        return summary + django

    def check_store(self) -> str:
        """The store, as the app opens it; Redis must also allow the lock scripts and
        publish/subscribe (a managed Redis may deny them by ACL or rename them)."""
        from .stores import default_store_url
        from .wechat import WeChat

        assert self.config is not None
        where = hide_password(self.config.store or default_store_url())
        try:
            wechat = self.wechat = WeChat(self.config)
            key = wechat.tokens.keys.probe(uuid.uuid4().hex)
            value = uuid.uuid4().hex
            wechat.store.set(key, value, 60)
            read = wechat.store.get(key)
            wechat.store.delete(key)
            # Opening checked them already, unless Redis was unreachable at that moment.
            check_commands = getattr(wechat.store, "check", None)
            if check_commands is not None:
                check_commands()
        except (ConfigError, StoreError) as exc:
            raise _CheckFailed(f"{where}: {exc}") from None
        if read != value:
            raise _CheckFailed(f"{where}: a test value written to the store did not read back")
        done = f"{where}: wrote, read back and deleted a test value"
        if check_commands is not None:
            done += "; Lua scripts (EVALSHA) and publish/subscribe allowed"
        return done

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

    def check_hub(self) -> str:
        """A follower's token hub: it answers, takes this host's key, serves this AppID."""
        assert self.config is not None and self.wechat is not None
        hub, app_id = self.config.token_hub, self.config.app_id
        try:
            self.wechat.tokens.client.fetch_access_token("stable", False)
        except WeChatError as exc:
            if exc.errcode == 40013:
                raise _CheckFailed(f"the hub at {hub} serves another AppID than {app_id}") from None
            if exc.errcode == (40001 if self.config.is_wecom else 40125):
                raise _CheckFailed(
                    f"the hub at {hub} refused WECHAT_HUB_KEY: give one of its "
                    "WECHAT_HUB_CLIENTS keys"
                ) from None
            raise _CheckFailed(f"no token from the hub at {hub}: {exc}") from None
        return f"{hub} answers, takes this host's key and serves {app_id}"

    def check_relay(self) -> str:
        """A relay: the origins it serves. A target: the relay answers, lists this
        site's origin (``WECHAT_PUBLIC_URL``'s) and takes its key. Both: http:// warned."""
        from .relay import RelayError
        from .urls import origin_of, parse_origin

        assert self.config is not None
        config = self.config
        origins = config.relay_for or (config.oauth_relay,)
        plain = [o for o in origins if o and o.startswith("http:") and not _local(o)]
        if config.relay_for:
            summary = f"a relay for {', '.join(config.relay_for)}; WECHAT_RELAY_KEY is set"
        else:
            assert self.wechat is not None and self.wechat.relay is not None
            if not config.public_url:
                raise _CheckWarned(
                    f"logins go through {config.oauth_relay}; set WECHAT_PUBLIC_URL so doctor "
                    "can ask the relay whether this site is listed"
                )
            target = parse_origin(origin_of(config.public_url)) or config.public_url
            try:
                answer = self.wechat.relay.check(target)
            except RelayError as exc:
                raise _CheckFailed(f"{config.oauth_relay}: {exc}") from None
            if not answer.get("listed"):
                raise _CheckFailed(
                    f"the relay at {config.oauth_relay} does not list {target}: add it to "
                    "the relay's WECHAT_RELAY_FOR"
                )
            if answer.get("key") != "ok":
                raise _CheckFailed(
                    f"the relay at {config.oauth_relay} refuses this WECHAT_RELAY_KEY: give "
                    "both sides the same key"
                )
            summary = f"{config.oauth_relay} answers, lists {target} and takes this key"
        if plain:
            raise _CheckWarned(
                summary + f"; {', '.join(plain)} is plain http://: use https:// in production"
            )
        return summary

    def check_credential(self, kind: Kind) -> str:
        """The app's own path (TokenManager): a valid stored value is reused, nothing forced."""
        assert self.wechat is not None
        stored = self.wechat.tokens.cached(kind)
        credential = self.wechat.tokens.get(kind)
        minutes = max(0, round((credential.expires_at - self.wechat.clock()) / 60))
        source = "from the store" if stored else "fetched from WeChat"
        return f"{source}, valid for {minutes} more minutes"

    def check_account_link(self) -> str:
        """What the unionid that links desktop QR logins to logins in WeChat needs
        (docs/wechat-protocol.md sections 5.3, 5.9 and 9)."""
        assert self.config is not None
        needs = (
            f"a desktop QR login (website app {self.config.web_app_id}) and a login in "
            "WeChat are the same person when their unionid is: both apps must be bound to "
            "one Open Platform account; in WeChat the unionid comes with snsapi_userinfo, "
            "and after a snsapi_base login only for a follower of the Official Account "
            "(cgi-bin/user/info)"
        )
        if self.config.scope == SCOPE_BASE:
            raise _CheckWarned(
                needs + "; with WECHAT_SCOPE=snsapi_base, mark the routes that need the "
                "link snsapi_userinfo"
            )
        return needs

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
            status: Literal["OK", "WARN", "FAIL"] = "OK"
            try:
                detail = step()
            except _CheckWarned as warned:
                status, detail = "WARN", str(warned)
            except (_CheckFailed, ConfigError, StoreError, WeChatError) as exc:
                app_id = run.config.app_id if run.config else ""
                meanings = run.wechat.client.meanings if run.wechat else MEANINGS
                status, detail = "FAIL", explain(exc, app_id, meanings)
            checks.append(Check(name, status, detail, run.lines.pop(name, ())))
    finally:
        run.close()
    return checks


def _warn(text: str) -> str:
    raise _CheckWarned(text)


#: The dashboard's names (as it shows them, and in English), for what doctor lists.
OAUTH_DOMAIN = "网页授权域名 (OAuth domain)"
JS_DOMAIN = "JS接口安全域名 (JS safe domain)"
IP_WHITELIST = "IP白名单 (IP whitelist)"
WEB_APP_DOMAIN = "授权回调域 (the website app's callback domain, Open Platform)"
WECOM_DOMAIN = "可信域名 (trusted domain: web authorization and JS-SDK)"
WECOM_IPS = "企业可信IP (trusted IPs)"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def dashboard(config: WeChatConfig) -> tuple[str, tuple[str, ...]]:
    """What WeChat would refuse in the OAuth callback URL sent (``redirect_uri``), or
    ``""``; and what to register in the dashboard for it, a line each, the value last
    (to copy). An Official Account's OAuth callbacks and JS-SDK pages are served on the
    default ports only: 80 for http, 443 for https, and its domains are entered without
    one (docs/wechat-protocol.md section 4.2 [OA-ERR5]; for ``redirect_uri`` a WeChat
    staff answer, developers.weixin.qq.com/community/develop/doc/00086833d108989ff59b9d39851400).
    A WeCom app's trusted domain is entered as the browser has it, port included."""
    site = config.public_url
    callback_site = config.oauth_relay or site
    if not site or not callback_site:
        hosts = [h for h in config.served_hosts if h not in ("*", ".localhost")]
        return "", (
            f"redirect_uri: {{the request's scheme and Host}}{config.callback_path} "
            "(set WECHAT_PUBLIC_URL for doctor to check it)",
            f"the domains to register: the hosts you serve ({', '.join(hosts) or 'none listed'})",
        )
    parts, page = urlsplit(callback_site), urlsplit(site)
    refused = ""
    if not config.is_wecom:
        if parts.port not in (None, _DEFAULT_PORTS[parts.scheme]):
            refused = (
                f"WeChat sends OAuth callbacks to {parts.scheme}:// on port "
                f"{_DEFAULT_PORTS[parts.scheme]} only, not {parts.port}: serve the site on "
                "the default port (a proxy in front) and drop the port from the URL"
            )
        elif _is_address(parts.hostname or ""):
            refused = (
                f"{parts.hostname} is an IP address: the dashboard takes a domain name "
                "(only a sandbox test account takes an address)"
            )
    domain = parts.netloc if config.is_wecom else (parts.hostname or "")
    js_domain = page.netloc if config.is_wecom else (page.hostname or "")
    lines = [f"redirect_uri: {callback_site}{config.callback_path}"]
    if config.is_wecom:
        lines.append(f"{WECOM_DOMAIN}: {domain}")
        ips = WECOM_IPS
    else:
        lines += [f"{OAUTH_DOMAIN}: {domain}", f"{JS_DOMAIN}: {js_domain}"]
        if config.web_app_id:
            lines.append(f"{WEB_APP_DOMAIN}: {domain}")
        ips = IP_WHITELIST
    if config.token_hub:
        lines.append(f"{ips}: the hub's outgoing address (this host asks the hub, not WeChat)")
    else:
        lines.append(
            f"{ips}: this host's outgoing address, which doctor cannot know offline; "
            "ask from this host, e.g. curl -s https://ifconfig.me (a refused token call, "
            "errcode 40164, names it too)"
        )
    return refused, tuple(lines)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _local(origin: str) -> bool:
    """An origin on this machine (a test or local setup): http:// is fine there."""
    host = urlsplit(origin.replace("*.", "x.")).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1") or host.endswith(".localhost")


def settings_listing(config: WeChatConfig, environ: Mapping[str, str]) -> tuple[str, ...]:
    """Every setting the environment can set, by the name the app reads, with the value
    the app sees (a secret's hidden) and ``(default)`` where the environment left it."""
    table = [spec for spec in settings_of(type(config)) if spec.env]
    names = [spec.name(config.is_wecom) for spec in table]
    width = max(map(len, names))
    return tuple(
        f"{name:<{width}}  {spec.shown(getattr(config, spec.attr))}"
        + ("" if (environ.get(name) or "").strip() else "  (default)")
        for spec, name in zip(table, names, strict=True)
    )
