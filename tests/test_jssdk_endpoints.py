"""The JS-SDK endpoints of single-page apps, over both adapters and Django (README,
"Single-page apps"); the report is a POST that Django's CSRF check never sees.

``GET {jssdk_path}/config`` signs a page URL of this site and answers the argument of
``wx.config`` (docs/wechat-protocol.md sections 4.1 and 4.5); ``GET .../wechat.js`` is
the browser helper; ``POST .../report`` turns a ``wx.error`` into one diagnosed log
line (section 4.6). WeChat checks the landing URL on iOS and the current one elsewhere
(section 4.4): these endpoints sign whatever URL the helper names, of this site only.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest

from wechat_middleware.integrations.flask import init_app
from wechat_middleware.signing import credential_id
from wechat_middleware.testing import FakeWeChat, Fault
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA, DESKTOP_UA, IOS_WECHAT_UA

from .conftest import MakeWeChat, OpenClient
from .support.apps import AppClient

ORIGIN = "http://testserver"
CONFIG_KEYS = {
    "debug",
    "appId",
    "timestamp",
    "nonceStr",
    "signature",
    "jsApiList",
    "openTagList",
    "url",
    "ticketId",
}


@pytest.fixture
def client(open_client: OpenClient, kind: str, make_wechat: MakeWeChat) -> AppClient:
    return open_client(kind, make_wechat())


def config(
    client: AppClient, url: str, extra: str = "", **kwargs: object
) -> tuple[int, dict[str, object], object]:
    answer = client.get(
        f"/wechat/jssdk/config?url={quote(url, safe='')}{extra}",
        ua=DESKTOP_UA,
        accept="application/json",
        **kwargs,  # type: ignore[arg-type]
    )
    return answer.status, json.loads(answer.content), answer


def report(client: AppClient, body: dict[str, object] | bytes) -> int:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = client.request(
        "POST",
        "/wechat/jssdk/report",
        ua=DESKTOP_UA,
        accept="*/*",
        headers={"Content-Type": "application/json"},
        body=raw,
    )
    assert answer.status < 500
    return answer.status


# -- the config endpoint -----------------------------------------------------------------------


def test_config_answers_the_argument_of_wx_config_for_the_url(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    status, body, answer = config(
        client,
        ORIGIN + "/spa/route?a=1#/view",
        "&apis=updateAppMessageShareData,chooseImage&open_tags=wx-open-launch-weapp&debug=1",
    )
    assert status == 200 and set(body) == CONFIG_KEYS
    assert body["url"] == ORIGIN + "/spa/route?a=1"  # never the fragment
    assert body["jsApiList"] == ["updateAppMessageShareData", "chooseImage"]
    assert body["openTagList"] == ["wx-open-launch-weapp"] and body["debug"] is True
    assert fake_wechat.check_jsapi_signature(
        str(body["url"]), str(body["nonceStr"]), str(body["timestamp"]), str(body["signature"])
    )
    assert body["ticketId"] == credential_id(fake_wechat.current_jsapi_ticket() or "")
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Content-Type"].startswith("application/json")


def test_config_for_the_bare_origin_signs_it_with_its_slash(client: AppClient) -> None:
    """``location.href`` of a bare origin has the path ``/`` (section 4.3)."""
    status, answer, _ = config(client, ORIGIN)
    assert status == 200 and answer["url"] == ORIGIN + "/"


def test_config_without_apis_asks_for_none(client: AppClient) -> None:
    status, body, _ = config(client, ORIGIN + "/")
    assert status == 200 and body["jsApiList"] == [] and body["openTagList"] == []
    assert body["debug"] is False


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("/wechat/jssdk/config", "url is required"),
        ("/wechat/jssdk/config?url=", "url is required"),
        ("/wechat/jssdk/config?url=/relative", "absolute"),
        ("/wechat/jssdk/config?url=http%3A%2F%2Ftestserver%2F%FF%FE", "ASCII"),
        ("/wechat/jssdk/config?url=http%3A%2F%2Ftestserver%2F%E4%B8%AD", "ASCII"),
        ("/wechat/jssdk/config?url=http%3A%2F%2Ftestserver%2F" + "a" * 5000, "longer than"),
        ("/wechat/jssdk/config?url=https%3A%2F%2Fevil.example%2F", "not this site"),
        (
            "/wechat/jssdk/config?url=http%3A%2F%2Ftestserver%2F&apis="
            + ",".join(["chooseImage"] * 1000),
            "at most 64",
        ),
        ("/wechat/jssdk/config?url=http%3A%2F%2Ftestserver%2F&apis=%3Cscript%3E", "not an API"),
        ("/wechat/jssdk/config?url=a&url=b", "url is required"),
    ],
    ids=[
        "missing",
        "empty",
        "relative",
        "non-utf8",
        "non-ascii",
        "huge",
        "foreign",
        "1000-apis",
        "bad-api",
        "twice",
    ],
)
def test_config_refuses_bad_input_with_a_reason(
    client: AppClient, target: str, reason: str
) -> None:
    answer = client.get(target, ua=DESKTOP_UA, accept="application/json")
    assert answer.status == 400
    assert reason in json.loads(answer.content)["error"]
    assert answer.headers["Cache-Control"] == "no-store"


def test_config_for_the_same_host_on_another_scheme_names_the_fix(client: AppClient) -> None:
    """A proxy that terminates TLS without telling the app: the page is https, the app
    sees http. The answer says which setting fixes it."""
    status, body, _ = config(client, "https://testserver/page")
    assert status == 400
    assert "WECHAT_PUBLIC_URL=https://testserver" in str(body["error"])


def test_config_signs_urls_of_the_public_url_whatever_the_host(
    open_client: OpenClient, make_wechat: MakeWeChat
) -> None:
    public = open_client("wsgi", make_wechat(public_url="https://shop.example.com"))
    status, body, _ = config(public, "https://shop.example.com/a", host="evil.example")
    assert status == 200 and body["url"] == "https://shop.example.com/a"
    status, _, _ = config(public, "http://evil.example/a", host="evil.example")
    assert status == 400


def test_config_when_wechat_is_down_is_a_503_with_a_reason(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    for path in ("cgi-bin/stable_token", "cgi-bin/ticket/getticket"):
        fake_wechat.inject(path, Fault("status", 503, times=None))
    status, body, _ = config(client, ORIGIN + "/")
    assert status == 503 and "WeChat is unavailable" in str(body["error"])


def test_config_is_get_only(client: AppClient) -> None:
    answer = client.request("POST", "/wechat/jssdk/config?url=http%3A%2F%2Ftestserver%2F")
    assert answer.status == 405


# -- the helper script ---------------------------------------------------------------------------


def test_the_helper_script_is_served_with_the_apps_settings_and_an_etag(
    client: AppClient,
) -> None:
    answer = client.get("/wechat/jssdk/wechat.js", ua=DESKTOP_UA, accept="*/*")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/javascript")
    assert json.dumps(client.wechat.config.jssdk_url) in answer.text
    assert '"base": "/wechat/jssdk"' in answer.text
    assert "__WECHAT_MIDDLEWARE_SETTINGS__" not in answer.text
    etag = answer.headers["ETag"]
    assert etag.startswith('"') and "max-age" in answer.headers["Cache-Control"]
    again = client.get(
        "/wechat/jssdk/wechat.js", ua=DESKTOP_UA, accept="*/*", headers={"If-None-Match": etag}
    )
    assert again.status == 304 and again.content == b""


def test_the_helper_script_is_get_only(client: AppClient) -> None:
    assert client.request("POST", "/wechat/jssdk/wechat.js").status == 405


# -- reports -----------------------------------------------------------------------------------


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "JS-SDK config failed" in r.getMessage()
    ]


def base_report(**fields: object) -> dict[str, object]:
    page = ORIGIN + "/spa/cart"
    values: dict[str, object] = {
        "url": page,
        "signed_url": page,
        "errMsg": "config:invalid signature",
        "ua": ANDROID_WECHAT_UA,
        "landing_url": ORIGIN + "/spa/",
        "ticket_id": "000000000000",
    }
    values.update(fields)
    return values


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"errMsg": "config:invalid url domain"}, "JS interface safe domains"),
        (
            {"errMsg": "config:fail,Error: 系统错误,错误码:40048,invalid url domain"},
            "JS interface safe domains",
        ),
        ({"url": "https://testserver/spa/cart"}, "WECHAT_PUBLIC_URL=https://testserver"),
        ({"url": "https://elsewhere.example/x"}, "is not this site"),
        ({"ua": IOS_WECHAT_UA}, "iOS WeChat checks the landing URL"),
        ({"signed_url": ORIGIN + "/spa/"}, "WeChat checks the current URL"),
        ({}, "older ticket"),
        ({"errMsg": "config:fail"}, "unknown cause"),
    ],
    ids=[
        "domain",
        "domain-new-form",
        "scheme",
        "foreign",
        "ios-landing",
        "current",
        "old-ticket",
        "unknown",
    ],
)
def test_a_report_is_logged_as_one_line_with_its_cause(
    client: AppClient,
    fake_wechat: FakeWeChat,
    caplog: pytest.LogCaptureFixture,
    fields: dict[str, object],
    says: str,
) -> None:
    config(client, ORIGIN + "/")  # the server holds a ticket, as after serving the page
    with caplog.at_level(logging.WARNING, logger="wechat_middleware"):
        assert report(client, base_report(**fields)) == 204
    lines = warnings(caplog)
    assert len(lines) == 1 and says in lines[0]


def report_line(client: AppClient, caplog: pytest.LogCaptureFixture, **fields: object) -> str:
    config(client, ORIGIN + "/")  # the server holds a ticket, as after serving the page
    with caplog.at_level(logging.WARNING, logger="wechat_middleware"):
        assert report(client, base_report(**fields)) == 204
    (line,) = warnings(caplog)
    return line


def test_a_report_names_the_url_wechat_checked_when_wechat_gives_it(
    client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Newer clients put the URL they checked beside ``errMsg`` as ``realAuthUrl`` (an
    array, possibly with the fragment): that, not a guess by platform, is what should
    have been signed (docs/wechat-protocol.md section 4.6)."""
    checked = [ORIGIN + "/spa/#/cart", ORIGIN + "/spa/#/cart"]
    line = report_line(client, caplog, realAuthUrl=checked)
    assert f"WeChat checked {ORIGIN + '/spa/'!r}" in line
    assert f"{ORIGIN + '/spa/cart'!r} was signed" in line


def test_the_url_wechat_checked_overrules_the_guess_by_platform(
    client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    """On iOS the landing URL is the usual suspect (section 4.4); when ``realAuthUrl``
    shows WeChat checked the signed URL, the cause lies elsewhere (here: the ticket)."""
    line = report_line(client, caplog, ua=IOS_WECHAT_UA, realAuthUrl=[ORIGIN + "/spa/cart"])
    assert "older ticket" in line and "landing" not in line.split("(")[0]


@pytest.mark.parametrize(
    "checked", [[], [5], ORIGIN + "/spa/", {"url": ORIGIN}, ["javascript:alert(1)"]]
)
def test_a_malformed_real_auth_url_is_ignored(
    client: AppClient, caplog: pytest.LogCaptureFixture, checked: object
) -> None:
    assert "older ticket" in report_line(client, caplog, realAuthUrl=checked)


def test_a_wecom_ticket_no_available_report_says_which_ticket_agent_config_needs(
    client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    """WeCom's 42012 (docs/wecom-and-qrconnect.md section 1.2): the jsapi_ticket is not
    usable; for wx.agentConfig it must be the app's own ticket, never another app's."""
    err = (
        "agentConfig:fail_ticket no available more info at "
        "https://open.work.weixin.qq.com/devtool/query?e=42012"
    )
    line = report_line(client, caplog, errMsg=err)
    assert "type=agent_config" in line and "WECHAT_CORP_SECRET" in line
    assert "(errcode 42012)" in line


def test_the_same_report_twice_is_logged_once(
    client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wechat_middleware"):
        for _ in range(2):
            assert report(client, base_report()) == 204
    assert len(warnings(caplog)) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b"\xff\xfe", 400),
        (json.dumps(base_report(errMsg="x" * 5000)).encode(), 413),
        (b"{" + b" " * 10_000 + b"}", 413),
    ],
    ids=["text", "array", "binary", "huge-field", "huge"],
)
def test_a_bad_report_is_refused_without_a_5xx(client: AppClient, body: bytes, status: int) -> None:
    assert report(client, body) == status


def test_a_report_is_post_only(client: AppClient) -> None:
    assert client.get("/wechat/jssdk/report").status == 405


def test_a_report_that_our_current_ticket_was_rejected_drops_it_once(
    client: AppClient, fake_wechat: FakeWeChat
) -> None:
    """WeChat refused a signature of the right URL made with the ticket we hold: the
    ticket is stale; it is fetched again, once, whatever more reports say."""
    _, first, _ = config(client, ORIGIN + "/")
    fake_wechat.revoke_jsapi_tickets()
    assert not fake_wechat.check_jsapi_signature(
        str(first["url"]), str(first["nonceStr"]), str(first["timestamp"]), str(first["signature"])
    )
    before = fake_wechat.calls("cgi-bin/ticket/getticket")
    stale = base_report(signed_url=ORIGIN + "/spa/cart", ticket_id=first["ticketId"])
    for _ in range(20):
        assert report(client, stale) == 204
    _, second, _ = config(client, ORIGIN + "/spa/cart")
    assert second["ticketId"] != first["ticketId"]
    assert fake_wechat.check_jsapi_signature(
        str(second["url"]),
        str(second["nonceStr"]),
        str(second["timestamp"]),
        str(second["signature"]),
    )
    assert fake_wechat.calls("cgi-bin/ticket/getticket") == before + 1


def test_forged_reports_have_their_own_budget_not_the_manual_refresh_allowance(
    open_client: OpenClient, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    """Anyone can read the current ``ticketId`` from the config endpoint and report it
    rejected. Such reports refetch the ticket at most once per 10 minutes and never
    spend the seed's 5 manual refreshes in 2 hours (``get_new_token_and_ticket()``);
    nor does a spent allowance silence a genuine report."""
    wechat = make_wechat()
    client = open_client("wsgi", wechat)
    for _ in range(6):  # an hour of forged reports, one getting through per 10 minutes
        _, held, _ = config(client, ORIGIN + "/")
        before = fake_wechat.calls("cgi-bin/ticket/getticket")
        forged = base_report(signed_url=ORIGIN + "/spa/cart", ticket_id=held["ticketId"])
        assert report(client, forged) == 204
        config(client, ORIGIN + "/")
        assert fake_wechat.calls("cgi-bin/ticket/getticket") == before + 1  # dropped, fetched
        fake_wechat.advance(601)
    for _ in range(5):  # the app's own allowance is whole
        wechat.jssdk.get_new_token_and_ticket()
    # ... and spent: a genuine report is still acted on (within its own budget).
    _, held, _ = config(client, ORIGIN + "/")
    fake_wechat.revoke_jsapi_tickets()
    stale = base_report(signed_url=ORIGIN + "/spa/cart", ticket_id=held["ticketId"])
    assert report(client, stale) == 204
    _, fresh, _ = config(client, ORIGIN + "/spa/cart")
    assert fresh["ticketId"] != held["ticketId"]
    assert fake_wechat.check_jsapi_signature(
        str(fresh["url"]), str(fresh["nonceStr"]), str(fresh["timestamp"]), str(fresh["signature"])
    )


def test_a_thousand_hostile_reports_cost_bounded_work(
    open_client: OpenClient,
    make_wechat: MakeWeChat,
    fake_wechat: FakeWeChat,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wechat = make_wechat()
    client = open_client("asgi", wechat)
    _, held, _ = config(client, ORIGIN + "/")
    before = fake_wechat.calls("cgi-bin/ticket/getticket")
    with caplog.at_level(logging.WARNING, logger="wechat_middleware"):
        for i in range(1000):
            body = base_report(
                url=f"{ORIGIN}/p{i}", signed_url=f"{ORIGIN}/p{i}", ticket_id=held["ticketId"]
            )
            assert report(client, body) == 204
    assert fake_wechat.calls("cgi-bin/ticket/getticket") <= before + 1
    assert len(warnings(caplog)) <= 30  # a minute's worth, then held back
    assert len(wechat.steps.report_log._seen) <= 256


# -- the template helper -----------------------------------------------------------------


def test_jssdk_tags_render_the_helper_and_its_ready_call(make_wechat: MakeWeChat) -> None:
    from flask import Flask, render_template_string

    app = Flask(__name__)
    init_app(app, make_wechat())

    @app.get("/")
    def page() -> str:
        return render_template_string(
            "{{ wechat.jssdk_tags(['chooseImage', '</script>'], ['wx-open-launch-weapp']) }}"
        )

    with app.test_client() as browser:
        text = browser.get("/", headers={"User-Agent": DESKTOP_UA}).get_data(as_text=True)
    assert text.startswith('<script src="/wechat/jssdk/wechat.js"></script><script>')
    assert 'wechatMiddleware.ready(["chooseImage","\\u003c/script\\u003e"]' in text
    assert '{"openTagList":["wx-open-launch-weapp"],"debug":false}' in text
    assert "&lt;" not in text  # not escaped again by the template
