"""The JS-SDK endpoints a single-page app talks to: which config to sign, and why a
signature was rejected.

Pure: parsing the config request and diagnosing a report are decisions on plain data.
The browser helper (``static/wechat.js``) asks ``{jssdk_path}/config?url=...`` for the
URL WeChat will check (docs/wechat-protocol.md section 4.4: the landing URL on iOS,
the current URL elsewhere) and, when ``wx.error`` fires, posts what it knows to
``{jssdk_path}/report``; :func:`diagnose` turns that into one line a developer can act
on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .errors import WECOM_MEANINGS, error_for, explain
from .protocol import WECHAT_UA_MARKER
from .urls import MAX_PAGE_URL_LENGTH, check_page_url, is_http_url, origin_of

MAX_APIS = 64  # WeChat's JS-SDK has about 40 APIs
MAX_OPEN_TAGS = 16
MAX_REPORT_BYTES = 4096
MAX_REPORT_DEPTH = 4  # an object holding a list (realAuthUrl), with room to spare
# A JSON string (to its end if unclosed: one pass, never a retry) or a bracket.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_IOS = re.compile(r"iPhone|iPad|iPod", re.IGNORECASE)
# WeCom's client names its errcode in a link, as in "agentConfig:fail_ticket no available
# more info at https://open.work.weixin.qq.com/devtool/query?e=42012".
_WECOM_ERRCODE = re.compile(r"open\.work\.weixin\.qq\.com/devtool/query\?e=(\d{1,9})")


@dataclass(frozen=True, slots=True)
class ConfigRequest:
    """A valid ``GET {jssdk_path}/config``: what to sign and what ``wx.config`` asks for."""

    url: str
    apis: tuple[str, ...]
    open_tags: tuple[str, ...]
    debug: bool


def parse_config_request(query: dict[str, list[str]], site: str | None) -> ConfigRequest | str:
    """The request, or why it is refused (a sentence for the JSON ``error``).

    ``site`` is this site's public origin (``WECHAT_PUBLIC_URL``, else the scheme and
    host the request came with; ``None`` when its Host is unusable).
    """
    if site is None:
        return "bad Host header"
    urls = query.get("url")
    if not urls or len(urls) != 1 or not urls[0]:
        return "url is required: the page URL to sign (location.href)"
    url = urls[0]
    if len(url) > MAX_PAGE_URL_LENGTH:
        return f"url is longer than {MAX_PAGE_URL_LENGTH} characters"
    if not url.isascii() or "\ufffd" in url:
        return "url must be ASCII, as location.href is (percent-encoded)"
    try:
        url = check_page_url(url)
    except ValueError as exc:
        return str(exc)
    if origin_of(url) != origin_of(site):
        return foreign_origin_reason(url, site)
    apis = _names(query, "apis", MAX_APIS)
    if isinstance(apis, str):
        return apis
    tags = _names(query, "open_tags", MAX_OPEN_TAGS)
    if isinstance(tags, str):
        return tags
    debug = query.get("debug", ["0"])[0] in ("1", "true")
    return ConfigRequest(url, apis, tags, debug)


def foreign_origin_reason(url: str, site: str) -> str:
    """Why a URL of another origin is not signed, with the likely fix."""
    page, ours = origin_of(url), origin_of(site)
    page_host = page.partition("://")[2]
    our_host = ours.partition("://")[2]
    if page_host == our_host:
        return (
            f"the page is {page} but this server sees {ours}: behind a proxy, set "
            f"WECHAT_PUBLIC_URL={page} or pass the proxy headers (ProxyFix, "
            "uvicorn --proxy-headers)"
        )
    return f"{page} is not this site ({ours}): only this site's pages are signed"


def _names(query: dict[str, list[str]], field: str, limit: int) -> tuple[str, ...] | str:
    raw = ",".join(query.get(field, []))
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    if len(names) > limit:
        return f"{field}: at most {limit} names"
    bad = next((name for name in names if not _NAME.fullmatch(name)), None)
    if bad is not None:
        return f"{field}: {bad[:64]!r} is not an API or tag name"
    return names


# -- reports -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """What the helper posts when ``wx.error`` fires (every field bounded text)."""

    url: str
    signed_url: str
    err_msg: str
    ua: str
    landing_url: str
    ticket_id: str
    #: The URL WeChat checked, when its client says (``realAuthUrl``), without the fragment.
    checked_url: str = ""
    #: A ``WeixinOpenTagsError`` (``wx.config`` passed, the open tags did not): the tags
    #: the page asked for (``openTagList``); ``None`` for a ``wx.error`` report.
    open_tags: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    kind: str  # a short name, for grouping log lines
    text: str  # the sentence for the log
    ticket_rejected: bool = False  # our current ticket itself was refused


def parse_report(body: bytes) -> Report | str:
    """The report in ``body``, or why it is refused."""
    if len(body) > MAX_REPORT_BYTES:
        return f"a report is at most {MAX_REPORT_BYTES} bytes"
    try:
        raw = body.decode("utf-8")
        # The parser recurses once per level, and 2,000 levels fit in 4 KiB: a report
        # nested deeper than its own shape needs is refused before it is parsed.
        if _nesting(raw) > MAX_REPORT_DEPTH:
            return f"a report is a JSON object, nested at most {MAX_REPORT_DEPTH} deep"
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "a report is a JSON object"
    if not isinstance(data, dict):
        return "a report is a JSON object"

    def text(name: str) -> str:
        value = data.get(name)
        return value[:MAX_PAGE_URL_LENGTH] if isinstance(value, str) else ""

    # Newer clients put the URL they checked beside errMsg: {"realAuthUrl": [url, ...],
    # "errMsg": "config:invalid signature"} (docs/wechat-protocol.md section 4.6).
    checked = data.get("realAuthUrl")
    listed = checked if isinstance(checked, list) else []
    checked_url = next((u for u in listed if isinstance(u, str) and is_http_url(u)), "")
    tags = data.get("open_tags")
    open_tags = None
    if isinstance(tags, list):
        named = (tag for tag in tags[:MAX_OPEN_TAGS] if isinstance(tag, str))
        open_tags = tuple(tag for tag in named if _NAME.fullmatch(tag))
    return Report(
        text("url").split("#", 1)[0],
        text("signed_url"),
        text("errMsg")[:300],
        text("ua")[:512],
        text("landing_url").split("#", 1)[0],
        text("ticket_id")[:32],
        checked_url[:MAX_PAGE_URL_LENGTH].split("#", 1)[0],
        open_tags,
    )


def _nesting(text: str) -> int:
    """How deep ``[`` and ``{`` nest in JSON ``text``, outside its strings."""
    depth = deepest = 0
    for token in _STRING_OR_BRACKET.findall(text):
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def diagnose(report: Report, site: str | None, ticket_id: str | None) -> Diagnosis:
    """Why WeChat rejected the page's ``wx.config``, in the order the causes are common.

    ``site`` is this site's public origin; ``ticket_id`` the short id of the ticket
    this server signs with now (``None`` when none is held).
    """
    err = report.err_msg
    page = origin_of(report.url) if report.url else ""
    facts = (
        f"page {report.url[:200]!r}, signed {report.signed_url[:200]!r}, "
        f"landing {report.landing_url[:200]!r}, errMsg {err[:120]!r}"
    )
    if report.open_tags is not None:
        return Diagnosis("open-tags", f"{_open_tags_advice(report.open_tags)} ({facts})")
    if "invalid url domain" in err:
        host = page.partition("://")[2].split(":")[0]
        return Diagnosis(
            "domain",
            f"WeChat does not allow the JS-SDK on {host or 'this domain'}: add it to the "
            "Official Account's JS interface safe domains (ports other than 80/443 are "
            f"refused) ({facts})",
        )
    if site is not None and page and page != origin_of(site):
        return Diagnosis("origin", foreign_origin_reason(report.url, site) + f" ({facts})")
    if report.err_msg.startswith("config endpoint:"):
        return Diagnosis("endpoint", f"the config endpoint refused the page: {err} ({facts})")
    linked = _WECOM_ERRCODE.search(err)
    errcode = int(linked.group(1)) if linked else 0
    if errcode in WECOM_MEANINGS and WECOM_MEANINGS[errcode].advice:
        error = error_for(errcode, err, WECOM_MEANINGS)
        return Diagnosis("errcode", f"{explain(error, meanings=WECOM_MEANINGS)} ({facts})")
    checked = report.checked_url  # what WeChat checked, when it says: no guess needed
    if checked and report.signed_url and report.signed_url != checked:
        return Diagnosis(
            "checked",
            f"WeChat checked {checked[:200]!r} but {report.signed_url[:200]!r} was signed: "
            "sign the URL WeChat checks (the landing URL on iOS, location.href without "
            f"its fragment elsewhere) ({facts})",
        )
    ios = bool(_IOS.search(report.ua)) and WECHAT_UA_MARKER in report.ua
    expected = checked or (report.landing_url if ios else report.url)
    if expected and report.signed_url and report.signed_url != expected:
        if ios:
            return Diagnosis(
                "landing",
                "iOS WeChat checks the landing URL (the first URL of this page), but "
                "another URL was signed: sign the landing URL, or load the helper "
                f"script (request.wechat.jssdk_tags) that does ({facts})",
            )
        return Diagnosis(
            "current",
            "WeChat checks the current URL, but another URL was signed: sign "
            f"location.href without its fragment after each route change ({facts})",
        )
    if "invalid signature" in err:
        if ticket_id is not None and report.ticket_id and report.ticket_id != ticket_id:
            return Diagnosis(
                "old-ticket",
                "the page was signed with an older ticket than this server's (a cached "
                f"page, or a worker with a stale copy) ({facts})",
            )
        if ticket_id is not None and report.ticket_id == ticket_id:
            return Diagnosis(
                "ticket",
                "WeChat rejected a signature of the right URL made with the current "
                f"ticket: the ticket is stale and will be fetched again ({facts})",
                ticket_rejected=True,
            )
    return Diagnosis("unknown", f"unknown cause ({facts})")


def _open_tags_advice(asked: tuple[str, ...]) -> str:
    """Why WeChat refuses open tags once ``wx.config`` passed (the ``WeixinOpenTagsError``
    event; docs/wechat-protocol.md section 4.5 [OPENTAG]); the rest of the JS-SDK works."""
    if not asked:
        return (
            "open tags failed (WeixinOpenTagsError) and the page asked for none: list "
            "them in openTagList, wechatMiddleware.ready(apis, {openTagList: "
            "['wx-open-launch-weapp']})"
        )
    return (
        f"open tags {', '.join(asked)} failed (WeixinOpenTagsError) though wx.config "
        "passed: they need a verified service account (认证服务号; a subscription account "
        "has none), the page's domain among its JS safe domains (JS接口安全域名), the "
        "tags in openTagList of this page's configuration, WeChat 7.0.12 or later and "
        "a page outside an iframe; the rest of the JS-SDK works"
    )
