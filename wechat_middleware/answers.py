"""The answers the middleware gives itself: plain text, a small explaining page, a
redirect, and the session cookie they may carry.

Pure: each returns a :class:`Respond` (status, headers, body). Every answer is
``Cache-Control: no-store`` (it is about this browser), never redirects by surprise
(a failed login shows a page with a link, so nothing loops), and escapes what it shows.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

from .rules import Rules
from .session import Session
from .static import Script
from .urls import location

Headers = list[tuple[str, str]]
NO_STORE = ("Cache-Control", "no-store")


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the request ourselves; the app is not called."""

    status: int
    headers: Headers
    body: bytes


def text(status: int, message: str, extra: Headers | None = None) -> Respond:
    headers: Headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("X-Content-Type-Options", "nosniff"),
        NO_STORE,
    ]
    # "replace": an echoed value may hold a lone surrogate, which UTF-8 cannot encode.
    return Respond(status, headers + (extra or []), message.encode("utf-8", "replace"))


def json_answer(status: int, body: str, extra: Headers | None = None) -> Respond:
    """A JSON answer (``body`` already serialized) that no cache keeps."""
    headers: Headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Content-Type-Options", "nosniff"),
        NO_STORE,
    ]
    return Respond(status, headers + (extra or []), body.encode("utf-8"))


def json_error(status: int, reason: str, extra: Headers | None = None) -> Respond:
    return json_answer(status, json.dumps({"error": reason}, ensure_ascii=False), extra)


def script(helper: Script, if_none_match: str) -> Respond:
    """The browser helper, cached by browsers and revalidated by its ETag."""
    headers: Headers = [
        ("ETag", helper.etag),
        ("Cache-Control", "public, max-age=300"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    if helper.etag in if_none_match:
        return Respond(304, headers, b"")
    headers.append(("Content-Type", "application/javascript; charset=utf-8"))
    return Respond(200, headers, helper.body)


def set_cookie(rules: Rules, session: Session, secure: bool) -> tuple[str, str]:
    value = rules.codec.dumps(session)
    attributes = rules.cookie_attributes + "; Secure" if secure else rules.cookie_attributes
    return ("Set-Cookie", f"{rules.cookie_prefix}{value}; {attributes}")


def redirect(
    rules: Rules, target: str, session: Session | None = None, *, secure: bool = False
) -> Respond:
    """302 to ``target`` (an absolute URL we built, or a checked local path)."""
    headers: Headers = [("Location", target), NO_STORE]
    if session is not None:
        headers.append(set_cookie(rules, session, secure))
    return Respond(302, headers, b"")


def see_other(rules: Rules, target: str, session: Session, *, secure: bool) -> Respond:
    """303 to ``target`` (a URL we built): a relay sending the browser back to a target."""
    return Respond(303, [("Location", target), NO_STORE, set_cookie(rules, session, secure)], b"")


def back_to(rules: Rules, next_url: str, session: Session, *, secure: bool) -> Respond:
    """302 to the local page a login started from, with the session to keep."""
    return redirect(rules, location(rules.config.public_url, next_url), session, secure=secure)


def page(
    rules: Rules,
    status: int,
    message: str,
    next_url: str,
    session: Session | None,
    *,
    secure: bool,
    extra: Headers | None = None,
) -> Respond:
    """A small HTML page that explains and links back, never redirecting by itself."""
    link = html.escape(location(rules.config.public_url, next_url), quote=True)
    body = (
        "<!doctype html><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(message)}</title><p>{html.escape(message)}</p>"
        f'<p><a href="{link}">Continue</a></p>'
    ).encode()
    headers: Headers = [("Content-Type", "text/html; charset=utf-8"), NO_STORE]
    if session is not None:
        headers.append(set_cookie(rules, session, secure))
    return Respond(status, headers + (extra or []), body)
