"""The browser helper ``wechat.js`` in a real Chromium, with the official jweixin-1.6.0.js
(npm, unmodified) over FakeWeChat's native side (``window.WeixinJSBridge``).

The helper must sign the URL each platform checks: on iOS WeChat the landing URL, elsewhere
the current one, configuring again after route changes where needed, and settle ready()
on WeChat's verdict for the configuration it waits on. The bridge verifies
``preVerifyJSAPI`` the way the platform named by the User-Agent does
(tests/test_fake_jssdk.py), so a helper that signs the wrong URL fails here as it would on
that phone.

The app side is :class:`Site`, a small stdlib HTTP server written for these tests: it serves
a page, the helper (its settings filled in), ``/wechat/jssdk/config`` (a real signature over
the URL asked for, made with a ticket from the fake, for URLs on this site only) and
``/wechat/jssdk/report`` (kept for the test). The library's own endpoints are tested
elsewhere against the same helper.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from wechat_middleware.signing import jsapi_signature
from wechat_middleware.testing import FakeWeChat, Fault
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA, IOS_WECHAT_UA

from ..support.official_sdks import OfficialSDKs
from ..support.tickets import live_jsapi_ticket
from .conftest import OpenPage
from .test_jssdk_stand_in import CONFIG_CHECK, NONCE

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BASE = "/wechat/jssdk"
PLACEHOLDER = "__WECHAT_MIDDLEWARE_SETTINGS__"
LANDING = "/app/shop?from=timeline"
ROUTES = ["/app/shop/item/7", "/app/shop/item/8?tab=reviews", "/app/cart"]
SHARE = ["updateAppMessageShareData", "updateTimelineShareData"]
WAIT = 10.0  # seconds for anything the browser does
PAGE = (
    '<!doctype html><html><head><meta charset="utf-8"><title>SPA</title>{head}</head>'
    "<body><p>A single-page app</p>{body}</body></html>"
)
HELPER_TAG = f'<script src="{BASE}/wechat.js"></script>'


class Site:
    """The app: a page under /app/, the helper, its config endpoint and its report endpoint.

    ``ticket()`` is what /config signs with. ``configs`` and ``reports`` keep what the
    helper sent, in order.
    """

    def __init__(
        self,
        fake: FakeWeChat,
        ticket: Callable[[], str],
        script_in: str,
        own_jssdk: bool,
        jssdk_url: str,
    ) -> None:
        self.fake, self.ticket = fake, ticket
        # Where the page loads the helper, and whether it loads the JS-SDK itself, first.
        places = {"head": f'<script src="{jssdk_url}"></script>' if own_jssdk else ""}
        places["body"] = ""
        places[script_in] += HELPER_TAG
        self.page = PAGE.format(**places)
        self.configs: list[dict[str, str]] = []
        self.busy = 0  # how many /config requests answer 503 first (Retry-After: 1)
        self.reports: list[dict[str, Any]] = []
        self.lines: list[str] = []
        settings = json.dumps({"jssdkUrl": jssdk_url, "base": BASE, "wecom": None})
        helper = resources.files("wechat_middleware").joinpath("static/wechat.js")
        self.helper = helper.read_text(encoding="utf-8").replace(PLACEHOLDER, settings)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.site = self  # type: ignore[attr-defined]
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, target: str, body: bytes) -> tuple[int, str, str]:
        """(status, content type, body) for one request."""
        path, _, query = target.partition("?")
        if method == "GET" and path == f"{BASE}/wechat.js":
            return 200, "application/javascript; charset=utf-8", self.helper
        if method == "GET" and path == f"{BASE}/config":
            return self.config(dict(parse_qsl(query, keep_blank_values=True)))
        if method == "POST" and path == f"{BASE}/report":
            self.reports.append(json.loads(body))
            return 204, "text/plain", ""
        if method == "GET" and path.startswith("/app/"):
            return 200, "text/html; charset=utf-8", self.page
        if path == "/favicon.ico":
            return 204, "text/plain", ""
        return 404, "text/plain", "not found"

    def config(self, query: dict[str, str]) -> tuple[int, str, str]:
        self.configs.append(query)
        if self.busy > 0:  # the server is fetching the ticket from WeChat
            self.busy -= 1
            return 503, "application/json", json.dumps({"error": "fetching the ticket"})
        url = query.get("url", "")
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            return 400, "application/json", json.dumps({"error": f"not a page of this site: {url}"})
        ticket, timestamp = self.ticket(), int(time.time())
        apis, tags = (query.get(k, "") for k in ("apis", "open_tags"))
        answer = {
            "debug": query.get("debug") == "1",
            "appId": self.fake.app_id,
            "timestamp": timestamp,
            "nonceStr": NONCE,
            "signature": jsapi_signature(ticket, NONCE, timestamp, url),
            "jsApiList": [a for a in apis.split(",") if a],
            "openTagList": [t for t in tags.split(",") if t],
            "url": url,
            "ticketId": ticket_id(ticket),
        }
        return 200, "application/json", json.dumps(answer)

    # Its request log, for a failing test's report (tests/support/reports.py).
    log_title = "test site's requests"

    def log_size(self) -> int:
        return len(self.lines)

    def log(self, since: int = 0) -> str:
        return "\n".join(self.lines[since:])


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        site: Site = self.server.site  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.command == "POST" and self.headers.get("Content-Type") != "application/json":
            status, kind, text = 415, "text/plain", "a report is JSON"
        else:
            status, kind, text = site.answer(self.command, self.path, body)
        site.lines.append(f"{self.command} {self.path} -> {status}")
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if status == 503:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # Site.lines keeps the log


def ticket_id(ticket: str) -> str:
    return "t-" + hashlib.sha256(ticket.encode()).hexdigest()[:8]


@pytest.fixture
def native_side(fake_wechat: FakeWeChat) -> FakeWeChat:
    """The pages' bridge asks the same fake the Site signs with."""
    return fake_wechat


@pytest.fixture
def open_site(
    fake_wechat: FakeWeChat, official_sdks: OfficialSDKs
) -> Iterator[Callable[..., Site]]:
    """``open_site(ticket=..., script_in="body", own_jssdk=False)``: a running Site whose
    pages load the official jweixin, closed after the test.

    By default it signs with the fake's live ticket, fetched as an app would."""
    sites: list[Site] = []

    def live_ticket() -> str:
        return live_jsapi_ticket(fake_wechat)

    def open_one(
        ticket: Callable[[], str] = live_ticket, script_in: str = "body", own_jssdk: bool = False
    ) -> Site:
        sites.append(Site(fake_wechat, ticket, script_in, own_jssdk, official_sdks.jweixin_url))
        return sites[-1]

    yield open_one
    for site in sites:
        site.close()


# --------------------------------------------------------------------------- the page's view


def ready(page: Page, apis: list[str] | None = None, *, wait: float = WAIT, **options: Any) -> str:
    """``wechatMiddleware.ready(apis, options)``'s outcome: "ready <url>" or "error <message>"."""
    outcome: str = page.evaluate(
        """([apis, options, wait]) => Promise.race([
            wechatMiddleware.ready(apis, options).then(
                res => "ready " + res.url, err => "error " + err.message),
            new Promise(resolve => setTimeout(() => resolve("still waiting"), wait))
        ])""",
        [SHARE if apis is None else apis, options, wait * 1000],
    )
    return outcome


def navigate(page: Page, path: str) -> None:
    page.evaluate("path => history.pushState({path}, '', path)", path)


def back(page: Page) -> None:
    """``history.back()``, returning once the page got its popstate (as a router does)."""
    page.evaluate(
        """() => new Promise(resolve => {
            addEventListener("popstate", () => resolve(), {once: true});
            history.back();
        })"""
    )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT} s for {what}"
        time.sleep(0.02)


def signed_urls(site: Site) -> list[str]:
    return [config["url"] for config in site.configs]


def jssdk_scripts(page: Page, sdks: OfficialSDKs) -> int:
    """How many script elements of the page load the JS-SDK."""
    count: int = page.evaluate(
        "src => [...document.scripts].filter(script => script.src === src).length",
        sdks.jweixin_url,
    )
    return count


def open_at(open_page: OpenPage, url: str, user_agent: str) -> Page:
    page = open_page(user_agent=user_agent, mobile=True)
    page.goto(url, wait_until="load")
    return page


# --------------------------------------------------------------------------- signing the right URL


def test_android_signs_each_route_and_goes_back(
    open_page: OpenPage, open_site: Callable[..., Site], fake_wechat: FakeWeChat
) -> None:
    site = open_site()
    landing, routes = site.url(LANDING), [site.url(route) for route in ROUTES]
    page = open_at(open_page, landing, ANDROID_WECHAT_UA)

    assert ready(page) == f"ready {landing}"
    for path, url in zip(ROUTES, routes, strict=True):
        navigate(page, path)
        assert ready(page) == f"ready {url}"
    back(page)
    assert ready(page) == f"ready {routes[1]}"
    assert ready(page, ["chooseImage"]) == f"ready {routes[1]}"  # a new API, this route

    assert signed_urls(site) == [landing, *routes, routes[1], routes[1]]
    assert site.configs[-1]["apis"] == ",".join([*SHARE, "chooseImage"])  # the union
    assert fake_wechat.calls(CONFIG_CHECK) == 6  # each one verified by the stand-in
    assert page.evaluate("() => wechatMiddleware.signedUrl()") == routes[1]
    assert site.reports == []


def test_android_route_change_alone_configures_again(
    open_page: OpenPage, open_site: Callable[..., Site], fake_wechat: FakeWeChat
) -> None:
    site = open_site()
    page = open_at(open_page, site.url(LANDING), ANDROID_WECHAT_UA)
    assert ready(page).startswith("ready ")

    # Two route changes in one task: configured once, for where the page ended up.
    page.evaluate(
        "([a, b]) => { history.pushState({}, '', a); history.replaceState({}, '', b); }", ROUTES[:2]
    )

    wait_until(lambda: fake_wechat.calls(CONFIG_CHECK) == 2, "the second check")
    assert ready(page) == f"ready {site.url(ROUTES[1])}"  # that round's verdict, no third
    assert fake_wechat.calls(CONFIG_CHECK) == 2
    assert signed_urls(site) == [site.url(LANDING), site.url(ROUTES[1])]
    assert site.reports == []


def test_ios_signs_the_landing_url_on_every_route(
    open_page: OpenPage, open_site: Callable[..., Site], fake_wechat: FakeWeChat
) -> None:
    site = open_site()
    landing = site.url(LANDING)
    page = open_at(open_page, landing, IOS_WECHAT_UA)

    assert ready(page) == f"ready {landing}"
    for path in ROUTES:
        navigate(page, path)
        assert ready(page) == f"ready {landing}"
    back(page)
    assert ready(page) == f"ready {landing}"
    # A new API after the route changes: configured again, still for the landing URL,
    # which the stand-in (as iOS WeChat) accepts on this route.
    assert ready(page, ["chooseImage"]) == f"ready {landing}"

    assert signed_urls(site) == [landing, landing]
    assert fake_wechat.calls(CONFIG_CHECK) == 2
    assert page.evaluate("() => wechatMiddleware.landingUrl") == landing
    assert site.reports == []


@pytest.mark.parametrize("script_in", ["head", "body"])
def test_ready_calls_together_share_one_configuration(
    open_page: OpenPage,
    open_site: Callable[..., Site],
    fake_wechat: FakeWeChat,
    official_sdks: OfficialSDKs,
    script_in: str,
) -> None:
    site = open_site(script_in=script_in)
    page = open_at(open_page, site.url(LANDING), ANDROID_WECHAT_UA)

    outcomes = page.evaluate(
        """() => Promise.all([
            wechatMiddleware.ready(["updateAppMessageShareData"]),
            wechatMiddleware.ready(["chooseImage"], {openTagList: ["wx-open-launch-weapp"]})
        ]).then(all => all.map(res => res.url))"""
    )

    assert outcomes == [site.url(LANDING)] * 2
    assert len(site.configs) == 1 and fake_wechat.calls(CONFIG_CHECK) == 1
    assert site.configs[0]["apis"] == "updateAppMessageShareData,chooseImage"
    assert site.configs[0]["open_tags"] == "wx-open-launch-weapp"
    assert jssdk_scripts(page, official_sdks) == 1  # loaded once


def test_page_that_loads_the_jssdk_itself_gets_it_configured_without_report_fields(
    open_page: OpenPage, open_site: Callable[..., Site], official_sdks: OfficialSDKs
) -> None:
    site = open_site(script_in="head", own_jssdk=True)
    page = open_at(open_page, site.url(LANDING), ANDROID_WECHAT_UA)
    page.evaluate(
        """() => { const config = wx.config; window.configured = [];
            wx.config = cfg => { configured.push(Object.keys(cfg).sort()); config(cfg); }; }"""
    )

    assert ready(page) == f"ready {site.url(LANDING)}"

    # Once, after WeChat's verdict, with check: false (the helper asked the bridge itself).
    fields = ["appId", "check", "debug", "jsApiList", "nonceStr", "openTagList", "signature"]
    assert page.evaluate("() => window.configured") == [[*fields, "timestamp"]]  # no url, ticketId
    assert jssdk_scripts(page, official_sdks) == 1  # the page's own, not loaded again


# --------------------------------------------------------------------------- failures


def test_config_refused_for_a_foreign_origin_rejects_and_reports(
    open_page: OpenPage, open_site: Callable[..., Site]
) -> None:
    site = open_site()
    # The same server by another name: the page's URL is not one of this site's.
    foreign = site.url(LANDING).replace("127.0.0.1", "localhost")
    page = open_at(open_page, foreign, ANDROID_WECHAT_UA)

    expected = f"config endpoint: not a page of this site: {foreign}"
    assert ready(page) == f"error {expected}"

    wait_until(lambda: len(site.reports) == 1, "the report")
    assert site.reports == [
        {
            "url": foreign,
            "signed_url": foreign,
            "errMsg": expected,
            "ua": ANDROID_WECHAT_UA,
            "landing_url": foreign,
            "ticket_id": "",
        }
    ]


@pytest.mark.parametrize("platform", ["android", "ios"])
def test_invalid_signature_rejects_and_reports_once_per_page_url(
    open_page: OpenPage, open_site: Callable[..., Site], platform: str
) -> None:
    site = open_site(ticket=lambda: "not-the-live-ticket")
    user_agent = IOS_WECHAT_UA if platform == "ios" else ANDROID_WECHAT_UA
    landing, route = site.url(LANDING), site.url(ROUTES[0])
    page = open_at(open_page, landing, user_agent)

    assert ready(page) == "error config:invalid signature"
    assert ready(page) == "error config:invalid signature"  # tried again: not reported again
    navigate(page, ROUTES[0])
    assert ready(page) == "error config:invalid signature"
    navigate(page, LANDING)
    assert ready(page) == "error config:invalid signature"

    wait_until(lambda: len(site.reports) >= 2, "two reports")
    time.sleep(0.5)  # time enough for a report too many to arrive
    signed_on_route = landing if platform == "ios" else route
    common = {"errMsg": "config:invalid signature", "ua": user_agent, "landing_url": landing}
    common["ticket_id"] = ticket_id("not-the-live-ticket")
    # The URL the client checked (realAuthUrl, beside errMsg), passed on for the diagnosis.
    assert site.reports == [
        {"url": landing, "signed_url": landing, **common, "realAuthUrl": [landing]},
        {"url": route, "signed_url": signed_on_route, **common, "realAuthUrl": [signed_on_route]},
    ]


# --------------------------------------------------------------------------- WeChat's verdict
# jweixin-1.6.0 runs wx.ready handlers at once after its first configuration completed
# (``ready: 0 != state ? f() : push(f)``; the state never goes back to 0), so on Android,
# where each route is configured again, only the bridge's answer to that round's
# "preVerifyJSAPI" may settle ready() (docs/fake-beliefs.md, "The official SDKs").


def api_outcome(page: Page, api: str) -> str:
    """What ``wx.<api>()`` answers now: its errMsg."""
    outcome: str = page.evaluate(
        """api => new Promise(resolve => wx[api]({
            complete: res => resolve(res.errMsg)
        }))""",
        api,
    )
    return outcome


class SwitchableTicket:
    """The ticket the Site signs with, made wrong (as after WeChat revoked it) on demand."""

    def __init__(self, fake: FakeWeChat) -> None:
        self.fake, self.wrong = fake, False

    def __call__(self) -> str:
        return "a-ticket-wechat-no-longer-accepts" if self.wrong else live_jsapi_ticket(self.fake)


def test_a_refused_reconfiguration_after_a_route_change_rejects_on_android(
    open_page: OpenPage, open_site: Callable[..., Site], fake_wechat: FakeWeChat
) -> None:
    ticket = SwitchableTicket(fake_wechat)
    site = open_site(ticket=ticket)
    page = open_at(open_page, site.url(LANDING), ANDROID_WECHAT_UA)
    assert ready(page) == f"ready {site.url(LANDING)}"
    assert api_outcome(page, SHARE[0]) == f"{SHARE[0]}:ok"

    ticket.wrong = True
    for route in ROUTES:  # every following route waits for its own verdict: a refusal
        navigate(page, route)
        assert ready(page) == "error config:invalid signature"

    assert api_outcome(page, SHARE[0]) == f"{SHARE[0]}:permission denied"
    wait_until(lambda: len(site.reports) == len(ROUTES), "a report per route")
    assert [report["url"] for report in site.reports] == [site.url(r) for r in ROUTES]


def test_ready_waits_for_the_verdict_on_every_route_not_only_the_first(
    open_page: OpenPage, open_site: Callable[..., Site], fake_wechat: FakeWeChat
) -> None:
    site = open_site()
    page = open_at(open_page, site.url(LANDING), ANDROID_WECHAT_UA)
    assert ready(page).startswith("ready ")
    fake_wechat.inject(CONFIG_CHECK, Fault("latency", 2.0))  # WeChat takes its time

    navigate(page, ROUTES[0])  # the round (and so the check) may start before `started`
    started = time.monotonic()
    assert ready(page) == f"ready {site.url(ROUTES[0])}"

    assert time.monotonic() - started >= 1.0  # not before the bridge answered
    assert fake_wechat.calls(CONFIG_CHECK) == 2


@pytest.mark.parametrize("platform", ["android", "ios"])
def test_a_bridge_that_arrives_late_is_waited_for(
    open_page: OpenPage, open_site: Callable[..., Site], platform: str
) -> None:
    site = open_site()
    user_agent = IOS_WECHAT_UA if platform == "ios" else ANDROID_WECHAT_UA
    page = open_page(user_agent=user_agent, mobile=True, bridge_delay_ms=800)
    page.goto(site.url(LANDING), wait_until="load")

    assert ready(page) == f"ready {site.url(LANDING)}"
    navigate(page, ROUTES[0])
    expected = site.url(LANDING) if platform == "ios" else site.url(ROUTES[0])
    assert ready(page) == f"ready {expected}"
    assert page.evaluate("() => WeixinJSBridge.__fake.count('preVerifyJSAPI')") >= 1


def test_outside_wechat_ready_rejects_at_once_with_the_reason(
    open_page: OpenPage, open_site: Callable[..., Site]
) -> None:
    site = open_site()
    page = open_at(open_page, site.url(LANDING), "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")

    assert ready(page) == (
        "error not in WeChat's browser: the JS-SDK works only inside WeChat (or WeCom)"
    )


# --------------------------------------------------------------------------- open tags on iOS
# Open tags are granted for the URL the page is at when WeChat checks (community reports
# for iOS single-page apps; docs/fake-beliefs.md): after a route change iOS WeChat needs a
# new wx.config, still signed over the landing URL, before a tag renders.

TAG = "wx-open-launch-weapp"


def tag_ready(page: Page) -> bool:
    ok: bool = page.evaluate("tag => WeixinJSBridge.__fake.tagReady(tag)", TAG)
    return ok


@pytest.mark.parametrize("platform", ["android", "ios"])
def test_open_tags_are_configured_again_after_each_route_change(
    open_page: OpenPage, open_site: Callable[..., Site], fake_wechat: FakeWeChat, platform: str
) -> None:
    site = open_site()
    user_agent = IOS_WECHAT_UA if platform == "ios" else ANDROID_WECHAT_UA
    landing = site.url(LANDING)
    page = open_at(open_page, landing, user_agent)
    assert ready(page, [], openTagList=[TAG]).startswith("ready ")
    assert tag_ready(page)

    for step, route in enumerate(ROUTES, start=2):
        navigate(page, route)
        wait_until(lambda step=step: fake_wechat.calls(CONFIG_CHECK) == step, "a new check")
        signed = landing if platform == "ios" else site.url(route)
        assert ready(page, [], openTagList=[TAG]) == f"ready {signed}"
        assert tag_ready(page)
    assert site.reports == []


def test_open_tags_wechat_refuses_are_reported_with_a_diagnosis(
    open_page: OpenPage, open_site: Callable[..., Site]
) -> None:
    """WeChat's client (not jweixin, which has no such code) dispatches
    ``WeixinOpenTagsError`` on the document with ``e.detail.errMsg`` when the tags cannot
    be used though wx.config passed [OPENTAG]; the fake bridge does not, so the page
    dispatches it as the client would. The helper reports it once per page URL."""
    from wechat_middleware.spa import diagnose, parse_report

    site = open_site()
    landing = site.url(LANDING)
    page = open_at(open_page, landing, ANDROID_WECHAT_UA)
    assert ready(page, [], openTagList=[TAG]) == f"ready {landing}"
    for _ in range(2):
        page.evaluate(
            """() => document.dispatchEvent(new CustomEvent("WeixinOpenTagsError",
                {detail: {errMsg: "launch:fail_check fail"}}))"""
        )
    wait_until(lambda: len(site.reports) == 1, "the open-tag report")
    sent = site.reports[0]
    assert sent["open_tags"] == [TAG] and sent["errMsg"] == "launch:fail_check fail"
    assert sent["url"] == sent["signed_url"] == landing

    report = parse_report(json.dumps(sent).encode())
    assert not isinstance(report, str)
    diagnosis = diagnose(report, site.origin, sent["ticket_id"])
    assert diagnosis.kind == "open-tags" and "verified service account" in diagnosis.text
    time.sleep(0.3)
    assert len(site.reports) == 1


def test_on_ios_a_route_change_without_open_tags_needs_no_new_configuration(
    open_page: OpenPage, open_site: Callable[..., Site], fake_wechat: FakeWeChat
) -> None:
    site = open_site()
    page = open_at(open_page, site.url(LANDING), IOS_WECHAT_UA)
    assert ready(page, ["getNetworkType"]).startswith("ready ")

    navigate(page, ROUTES[0])
    assert ready(page, ["getNetworkType"]) == f"ready {site.url(LANDING)}"

    assert fake_wechat.calls(CONFIG_CHECK) == 1
    assert api_outcome(page, "getNetworkType") == "getNetworkType:ok"  # still granted


def test_a_busy_config_endpoint_is_asked_again_after_its_retry_after(
    open_page: OpenPage, open_site: Callable[..., Site]
) -> None:
    # While the server fetches the ticket from WeChat, /config answers 503 with
    # Retry-After (the page itself rendered without a signature): the helper asks again.
    site = open_site()
    site.busy = 2
    page = open_at(open_page, site.url(LANDING), ANDROID_WECHAT_UA)

    assert ready(page) == f"ready {site.url(LANDING)}"
    assert len(site.configs) == 3 and site.reports == []


def test_a_config_endpoint_busy_for_too_long_rejects_and_reports(
    open_page: OpenPage, open_site: Callable[..., Site]
) -> None:
    site = open_site()
    site.busy = 100
    page = open_at(open_page, site.url(LANDING), ANDROID_WECHAT_UA)

    assert ready(page, wait=2 * WAIT) == "error config endpoint: fetching the ticket"
    wait_until(lambda: len(site.reports) == 1, "the report")
    assert 2 <= len(site.configs) <= 11  # asked again within the helper's 10 s, then given up
