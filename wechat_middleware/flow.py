"""What to do with one request: the middleware's whole protocol, as a pure function.

``decide(view, rules, session, now)`` reads a small view of the request, the
:class:`~wechat_middleware.rules.Rules` built once from the config, the session its
cookie holds and the time, and returns an action: answer now (:class:`Respond`), pass
through to the app with plain data about the user and the page (:class:`PassThrough`),
or an I/O step a caller carries out with :mod:`wechat_middleware.steps`
(:class:`CompleteLogin`, :class:`ClaimServerCheck`). It touches no socket, store or
clock of its own, like h11: the adapters feed it and carry out what it returns, so
the adapters cannot disagree and a test of any decision needs no server. The actions
are data (:mod:`wechat_middleware.actions`); the request it reads is a
:class:`~wechat_middleware.view.RequestView`.
"""

from __future__ import annotations

import hmac
import json
import logging
from urllib.parse import parse_qs

from . import answers
from .actions import (
    Action,
    ClaimServerCheck,
    CompleteLogin,
    OpenMessage,
    PassThrough,
    ReceiveReport,
    RedeemTicket,
    SignConfig,
)
from .answers import Respond
from .errors import CryptoError
from .protocol import (
    ENCRYPT_TYPE_AES,
    ENCRYPTED_CHECK_FIELDS,
    MAX_CODE_LENGTH,
    SERVER_CHECK_FIELDS,
)
from .rules import Rules
from .session import (
    EMPTY,
    PendingLogin,
    Session,
    cookie_value,
    make_state,
    valid_state,
    valid_ticket,
)
from .signing import verify_server_check
from .spa import parse_config_request
from .urls import (
    authorize_url,
    base_url,
    host_refusal,
    origin_listed,
    origin_of,
    parse_origin,
    qrconnect_url,
    relay_return_url,
    relay_start_url,
    safe_next,
    site_url,
    wecom_login_url,
)
from .user import VIAS
from .view import RequestView

log = logging.getLogger("wechat_middleware")

MAX_QUERY_FIELDS = 32
MAX_ECHOSTR_LENGTH = 1024
#: Seconds a server-check timestamp may differ from our clock: our replay rule, not
#: WeChat's (docs/wechat-protocol.md section 1.4).
MAX_CLOCK_SKEW = 300


def session_of(cookie_header: str, rules: Rules) -> Session:
    """The session this browser's cookie holds (empty for anything not signed by us)."""
    if rules.cookie_prefix not in cookie_header:
        return EMPTY
    value = cookie_value(cookie_header, rules.cookie_prefix)
    return rules.codec.loads(value) if value else EMPTY


def decide(view: RequestView, rules: Rules, session: Session, now: float) -> Action:
    """The one decision for every request (docs/request.md)."""
    path = view.path
    if path in rules.special_paths:
        config = rules.config
        if path == config.verify_path:
            return _verify(view, rules, now)
        if path == config.callback_path:
            return _callback(view, rules, session, now)
        if path == config.login_path:
            return _login(view, rules, session, now)
        if path == config.logout_path:
            return _logout(view, rules, session, now)
        if config.relay_for and path in config.relay_paths:
            return _relay(view, rules, session, now, path)
        return _jssdk(view, rules, path)
    is_wechat = rules.is_wechat(view.user_agent)
    wants_html = is_page_request(view.method, view.accept, view.requested_with)
    if (
        rules.protect_all
        and session.user is None
        and wants_html
        and (is_wechat or rules.logs_in_outside_wechat)
        and not path.startswith(rules.config.exclude)
        and session.anonymous_until <= now
    ):
        if not session.too_many_attempts(now):
            via = _via(rules, is_wechat)
            scope = rules.config.scope
            return _start_login(view, rules, session, view.local(), now, scope, via)
        log.warning("not sending this browser to WeChat OAuth again: too many attempts")
    paused = session.anonymous_until > now
    return PassThrough(session.user, is_wechat, view, wants_html, paused)


def fresh_timestamp(timestamp: str, now: float) -> bool:
    """Whether a server-check ``timestamp`` is within ``MAX_CLOCK_SKEW`` of ``now``."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    return abs(int(timestamp) - now) <= MAX_CLOCK_SKEW


# -- the server check ------------------------------------------------------------------------


def _verify(view: RequestView, rules: Rules, now: float) -> Action:
    """The server check (GET) and message pushes (POST): WeChat's plainly signed ones,
    and the encrypted ones of WeCom and of an Official Account in safe mode."""
    if view.method not in ("GET", "HEAD", "POST"):
        return answers.text(405, "method not allowed", [("Allow", "GET, POST")])
    query = _parse_query(view.query)
    if rules.provider.encrypted_callbacks:
        return _verify_wecom(view, rules, now, query)
    fields = _fields(query, SERVER_CHECK_FIELDS)
    if fields is None or not verify_server_check(rules.config.token, fields):
        rules.bad_signatures.warning(
            "rejected a server-check request or push with an invalid signature"
        )
        return answers.text(403, "invalid signature")
    stale = _stale(fields["timestamp"], now)
    if stale is not None:
        return stale
    key = rules.keys.used_server_check(fields["timestamp"], fields["nonce"])
    assert query is not None
    if view.method == "POST":
        if _single(query, "encrypt_type") == ENCRYPT_TYPE_AES:
            # Safe mode: the query's signature covers no ciphertext; msg_signature does.
            msg_signature = _single(query, "msg_signature")
            if msg_signature is None:
                return answers.text(403, "invalid signature")
        else:
            msg_signature = None
        return OpenMessage(key, view, msg_signature, fields["timestamp"], fields["nonce"])
    echostr = query.get("echostr", [""])
    if len(echostr) != 1 or len(echostr[0]) > MAX_ECHOSTR_LENGTH:
        return answers.text(400, "bad echostr")
    return ClaimServerCheck(key, answers.text(200, echostr[0]))


def _verify_wecom(
    view: RequestView, rules: Rules, now: float, query: dict[str, list[str]] | None
) -> Action:
    """WeCom's URL check decrypts ``echostr`` and answers its plain text; its pushes
    are encrypted (docs/wecom-and-qrconnect.md section 1.6)."""
    fields = _fields(query, ENCRYPTED_CHECK_FIELDS)
    if fields is None or rules.crypto is None:
        if rules.crypto is None:
            log.warning(
                "a WeCom callback arrived but WECHAT_TOKEN and WECHAT_ENCODING_AES_KEY are "
                "not both set: it cannot be checked"
            )
        return answers.text(403, "invalid signature")
    timestamp, nonce = fields["timestamp"], fields["nonce"]
    key = rules.keys.used_server_check(timestamp, nonce)
    if view.method == "POST":
        stale = _stale(timestamp, now)  # the body's signature is checked with the body
        return stale or OpenMessage(key, view, fields["msg_signature"], timestamp, nonce)
    assert query is not None
    echostr = _single(query, "echostr")
    if echostr is None or len(echostr) > MAX_ECHOSTR_LENGTH:
        return answers.text(403, "invalid signature")
    try:
        plain = rules.crypto.verify_url(fields["msg_signature"], timestamp, nonce, echostr)
    except CryptoError as exc:
        rules.bad_signatures.warning("rejected a WeCom URL check: %s", exc)
        return answers.text(403, "invalid signature")
    return _stale(timestamp, now) or ClaimServerCheck(key, answers.text(200, plain))


def _fields(query: dict[str, list[str]] | None, names: tuple[str, ...]) -> dict[str, str] | None:
    """Each of ``names`` given exactly once, else ``None``."""
    fields = {}
    for name in names:
        values = query.get(name) if query is not None else None
        if not values or len(values) != 1:
            return None
        fields[name] = values[0]
    return fields


def _stale(timestamp: str, now: float) -> Respond | None:
    """403 for a correctly signed request whose timestamp is outside our window."""
    if fresh_timestamp(timestamp, now):
        return None
    log.warning(
        "rejected a correctly signed server-check request: its timestamp is more than "
        "%d s from this server's clock (clock skew, or a replayed request)",
        MAX_CLOCK_SKEW,
    )
    return answers.text(403, "timestamp too old (clock skew?)")


# -- the OAuth callback and the login path ----------------------------------------------------


def _callback(view: RequestView, rules: Rules, session: Session, now: float) -> Action:
    """Back from WeChat's authorize page with ``code`` and ``state``."""
    if view.method != "GET":
        return answers.text(405, "method not allowed", [("Allow", "GET")])
    secure = rules.secure(view.scheme)
    query = _parse_query(view.query) or {}
    state = _single(query, "state")
    code = _single(query, "code")
    done = session.completed_by(state, now) if state else None
    if done is not None:
        # This browser already completed this login: the back button, or WeChat
        # loading the callback again. Back to the page, still logged in.
        return answers.back_to(rules, done.next, session, secure=secure)
    pending = session.pending
    if (
        pending is None
        or state is None
        or not valid_state(state)
        or not hmac.compare_digest(state.encode(), pending.state.encode())
        or pending.expired(now)
    ):
        log.warning("OAuth callback with a missing, forged, replayed or expired state")
        cleared = session.without_pending() if pending is not None else None
        return answers.page(
            rules,
            400,
            "This login link is invalid or has expired.",
            pending.next if pending else "/",
            cleared,
            secure=secure,
        )
    ticket = _single(query, "relay_ticket")
    if ticket is not None:
        return _relay_ticket(view, rules, session, ticket, state, pending)
    if pending.target and code is None:
        # On the relay: declined (or nothing to hand over); the target says so itself.
        back = relay_return_url(pending.target, rules.config.callback_path, pending.target_state)
        return answers.see_other(rules, back, session.without_pending(), secure=secure)
    if code is None:
        log.info("the user declined the OAuth consent")
        declined = session.without_pending().pause_logins_until(now + rules.anonymous_pause)
        return answers.page(
            rules, 403, "Login was cancelled.", pending.next, declined, secure=secure
        )
    if len(code) > MAX_CODE_LENGTH or not code.isascii() or not code.isprintable():
        log.warning("OAuth callback with a malformed code")
        return _invalid_link(rules, pending, session, secure)
    return CompleteLogin(
        code, state, pending.next, session.without_pending(), secure, view.client, pending
    )


def _login(view: RequestView, rules: Rules, session: Session, now: float) -> Action:
    """``GET {login_path}?next=/page&scope=...``: start a login explicitly
    (``login_url()``, a marked route, a ``fetch`` answered 401). WeChat's browser goes
    to WeChat's OAuth; another browser to the website app's QR login when there is one,
    else to WeChat's OAuth too."""
    if view.method not in ("GET", "HEAD"):
        return answers.text(405, "method not allowed", [("Allow", "GET")])
    query = _parse_query(view.query) or {}
    scope = rules.own_scope(_single(query, "scope")) or rules.config.scope
    via = _via(rules, rules.is_wechat(view.user_agent))
    next_url = safe_next(_single(query, "next") or "/")
    if session.too_many_attempts(now):
        log.warning("not starting another login for this browser: too many attempts")
        return answers.page(
            rules,
            429,
            "Too many login attempts. Please wait a few minutes.",
            next_url,
            None,
            secure=rules.secure(view.scheme),
        )
    return _start_login(view, rules, session, next_url, now, scope, via)


def _start_login(
    view: RequestView,
    rules: Rules,
    session: Session,
    next_url: str,
    now: float,
    scope: str,
    via: str,
    relay: tuple[str, str] = ("", ""),
) -> Respond:
    """Remember the login in the cookie, and send the browser to log in: to the
    provider's page, or on a target of a relay to the relay (``relay``: on the relay, the
    target origin and its state this login is for)."""
    base = site_url(rules.config.public_url, view.scheme, view.host, rules.allowed_hosts)
    if base is None:
        return answers.text(400, host_refusal(view.host))
    state = make_state()
    # When the code exchange will not say which scope was granted, keep the one asked for.
    kept_scope = "" if rules.provider.says_granted_scope else scope
    started = session.with_login_started(state, next_url, now, via, kept_scope, relay)
    oauth_relay = rules.config.oauth_relay
    if oauth_relay:
        origin = parse_origin(origin_of(base))
        if origin is None:
            return answers.text(400, host_refusal(view.host))
        path = rules.config.relay_path
        target = relay_start_url(oauth_relay, path, origin, state, scope, via)
    else:
        target = _login_target(rules, via, base, scope, state)
    return answers.redirect(rules, target, started, secure=rules.secure(view.scheme))


def _login_target(rules: Rules, via: str, base: str, scope: str, state: str) -> str:
    """The provider's page a login starts at: its OAuth authorize page in the app's
    browser, its QR login page for a desktop browser."""
    config = rules.config
    redirect_uri = base + config.callback_path
    agent_id = config.agent_id
    if via == "qrconnect":
        if agent_id is not None:
            return wecom_login_url(config.login_base, config.app_id, agent_id, redirect_uri, state)
        if config.web_app_id is not None:
            return qrconnect_url(config.open_base, config.web_app_id, redirect_uri, state)
    return authorize_url(
        config.open_base, config.app_id, redirect_uri, scope, state, agent_id=agent_id
    )


def _via(rules: Rules, is_wechat: bool) -> str:
    """Inside the app's browser, its OAuth; outside, a QR login if there is one."""
    return "qrconnect" if not is_wechat and rules.desktop_login else "oauth"


def _logout(view: RequestView, rules: Rules, session: Session, now: float) -> Action:
    """``POST {logout_path}`` (a form): forget the user, back to a local ``next``.

    Refused when the browser says the form came from another site (``Origin``,
    ``Sec-Fetch-Site``, or without an ``Origin`` the ``Referer``): a page elsewhere
    must not log our users out. The user is not logged in again silently on the page
    they land on.
    """
    if view.method != "POST":
        return answers.text(405, "method not allowed", [("Allow", "POST")])
    site = base_url(rules.config.public_url, view.scheme, view.host)
    sender = view.origin or view.referer  # the Origin says it when sent; else the Referer
    if view.fetch_site in ("cross-site", "same-site") or (
        sender and (site is None or origin_of(sender) != origin_of(site))
    ):
        log.warning("refused a logout posted from another site (%r)", origin_of(sender)[:100])
        return answers.text(403, "cross-site logout refused")
    query = _parse_query(view.query) or {}
    next_url = safe_next(_single(query, "next") or "/")
    signed_out = Session(attempts=session.attempts).pause_logins_until(now + rules.anonymous_pause)
    answer = answers.back_to(rules, next_url, signed_out, secure=rules.secure(view.scheme))
    return Respond(303, answer.headers, answer.body)


# -- the OAuth relay (docs/several-domains.md) --------------------------------


def _invalid_link(rules: Rules, pending: PendingLogin, session: Session, secure: bool) -> Respond:
    """400 for a callback whose code or ticket cannot be right; the login is forgotten."""
    return answers.page(
        rules,
        400,
        "This login link is invalid.",
        pending.next,
        session.without_pending(),
        secure=secure,
    )


def _relay_ticket(
    view: RequestView,
    rules: Rules,
    session: Session,
    ticket: str,
    state: str,
    pending: PendingLogin,
) -> Respond | CompleteLogin:
    """A target's callback with a relay ticket (its state checked as for a code): the
    ticket is redeemed at the relay, server to server, for this site's origin."""
    secure = rules.secure(view.scheme)
    site = site_url(rules.config.public_url, view.scheme, view.host, rules.allowed_hosts)
    origin = parse_origin(origin_of(site)) if site else None
    if not rules.config.oauth_relay or origin is None or not valid_ticket(ticket):
        log.warning("OAuth callback with a relay ticket this site cannot redeem")
        return _invalid_link(rules, pending, session, secure)
    cleared = session.without_pending()
    return CompleteLogin(ticket, state, pending.next, cleared, secure, view.client, pending, origin)


def _relay(view: RequestView, rules: Rules, session: Session, now: float, path: str) -> Action:
    """A relay's endpoints: a target's browser starting a login, a target redeeming a
    ticket, a target's ``doctor`` asking whether it is listed."""
    start, redeem, _ = rules.config.relay_paths
    if path == redeem:
        if view.method != "POST":
            return answers.text(405, "method not allowed", [("Allow", "POST")])
        if not _relay_key_given(view, rules):
            log.warning("refused a relay ticket redeem without the right WECHAT_RELAY_KEY")
            return answers.json_error(401, "wrong relay key", [("WWW-Authenticate", "Bearer")])
        return RedeemTicket()
    if view.method not in ("GET", "HEAD"):
        return answers.text(405, "method not allowed", [("Allow", "GET")])
    query = _parse_query(view.query) or {}
    raw_target = _single(query, "target") or ""
    target = parse_origin(raw_target)
    listed = target is not None and origin_listed(target, rules.config.relay_for or ())
    if path != start:
        key = "ok" if _relay_key_given(view, rules) else "wrong" if view.authorization else "absent"
        return answers.json_answer(
            200 if target else 400, json.dumps({"target": target, "listed": listed, "key": key})
        )
    secure = rules.secure(view.scheme)
    if not listed or target is None:
        log.warning("relay: refused a login for %r, not in WECHAT_RELAY_FOR", raw_target[:100])
        return answers.page(
            rules, 400, "This site may not log in through here.", "/", None, secure=secure
        )
    state = _single(query, "state")
    raw_scope = _single(query, "scope")
    scope = rules.own_scope(raw_scope) if raw_scope else rules.config.scope
    via = _single(query, "via") or "oauth"
    if state is None or not valid_state(state) or scope is None or via not in VIAS:
        return answers.page(rules, 400, "This login link is invalid.", "/", None, secure=secure)
    return _start_login(view, rules, session, "/", now, scope, via, (target, state))


def _relay_key_given(view: RequestView, rules: Rules) -> bool:
    """``Authorization: Bearer {WECHAT_RELAY_KEY}``, compared in constant time."""
    key = rules.config.relay_key or ""
    given = view.authorization.encode("utf-8", "surrogateescape")
    return bool(key) and hmac.compare_digest(given, f"Bearer {key}".encode())


# -- the JS-SDK endpoints of single-page apps ----------------------------------------------------


def _jssdk(view: RequestView, rules: Rules, path: str) -> Action:
    """The helper script, the config endpoint and the report endpoint."""
    if path == rules.jssdk_script_path:
        if view.method not in ("GET", "HEAD"):
            return answers.text(405, "method not allowed", [("Allow", "GET")])
        return answers.script(rules.helper_script, view.if_none_match)
    site = site_url(rules.config.public_url, view.scheme, view.host, rules.allowed_hosts)
    if path == rules.jssdk_report_path:
        if view.method != "POST":
            return answers.text(405, "method not allowed", [("Allow", "POST")])
        return ReceiveReport(site)
    if view.method not in ("GET", "HEAD"):
        return answers.text(405, "method not allowed", [("Allow", "GET")])
    if site is None:
        return answers.json_error(400, host_refusal(view.host))
    request = parse_config_request(_parse_query(view.query) or {}, site)
    if isinstance(request, str):
        return answers.json_error(400, request)
    return SignConfig(request)


# -- reading the request ------------------------------------------------------------------------


def is_page_request(method: str, accept: str, requested_with: str) -> bool:
    """A browser navigating to a page (GET/HEAD asking for HTML, not the page's own
    XMLHttpRequest): what is sent to log in, and what will likely read a signature."""
    if method not in ("GET", "HEAD") or requested_with:
        return False
    return "text/html" in accept or "application/xhtml+xml" in accept


def _parse_query(query: str) -> dict[str, list[str]] | None:
    try:
        return parse_qs(
            query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS, errors="replace"
        )
    except ValueError:  # more fields than any WeChat request has
        return None


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values and len(values) == 1 and values[0] else None
