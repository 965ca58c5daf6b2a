"""Hostile reports to ``POST {jssdk_path}/report``, over WSGI, ASGI and Django's WSGI
and ASGI handlers.

Anyone can post a report: the helper posts what ``wx.error`` gave it, and nothing
proves a report came from WeChat's browser (docs/wechat-protocol.md section 4.6). So a
report may be deeply nested JSON (a ``RecursionError`` in the parser), or carry CR, LF
and ESC in every field, aimed at the log line it becomes: a forged second line, or a
terminal escape in an operator's ``tail -f``. Neither may reach a 5xx or a raw control
character in a log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from wechat_middleware import WeChat
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import ANDROID_WECHAT_UA, DESKTOP_UA

from ..conftest import MakeWeChat
from ..support.apps import AppClient, app_client
from .helpers import ORIGIN

REPORT = "/wechat/jssdk/report"
# What a log line must never carry raw: C0 controls (CR, LF, ESC, NUL...), DEL, C1
# controls (NEL, CSI) and the Unicode line and paragraph separators.
CONTROL = {*map(chr, range(0x20)), *map(chr, range(0x7F, 0xA0)), "\u2028", "\u2029"}


@pytest.fixture(scope="module")
def fake_wechat() -> Iterator[FakeWeChat]:
    with FakeWeChat() as fake:
        yield fake


@pytest.fixture
def client(kind: str, make_wechat: MakeWeChat) -> Iterator[AppClient]:
    with app_client(kind, make_wechat()) as client:
        yield client


def post(client: AppClient, body: bytes) -> tuple[int, bytes]:
    answer = client.request(
        "POST",
        REPORT,
        ua=ANDROID_WECHAT_UA,
        accept="*/*",
        headers={"Content-Type": "application/json"},
        body=body,
    )
    assert answer.status < 500, answer
    return answer.status, answer.content


# -- nested JSON -----------------------------------------------------------------------------

NESTED = {
    "arrays": b"[" * 2000 + b"]" * 2000,
    "arrays-unclosed": b"[" * 4000,
    "objects": b'{"":' * 800 + b"1" + b"}" * 800,
    "in-real-auth-url": b'{"realAuthUrl":' + b"[" * 2000 + b"]" * 2000 + b"}",
    "in-err-msg": b'{"errMsg":' + b"[" * 2000 + b"]" * 2000 + b"}",
}


@pytest.mark.parametrize("body", list(NESTED.values()), ids=list(NESTED))
def test_deeply_nested_json_under_the_size_limit_is_a_400_not_a_500(
    client: AppClient, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Python's JSON parser recurses once per level: 2,000 levels fit in 4 KiB and
    raised ``RecursionError`` (a 500 and a traceback on every adapter)."""
    assert len(body) <= 4096
    with caplog.at_level(logging.ERROR):
        status, content = post(client, body)
    assert status == 400 and "JSON" in json.loads(content)["error"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- control characters in the log ---------------------------------------------------------

HOSTILE = "\r\nWARNING wechat_middleware: forged line\x1b[2J\x1b]0;title\x07\x85\u2028\x00"


def hostile_reports() -> dict[str, dict[str, object]]:
    """A report for each cause the diagnosis names, each with control characters in the
    fields that cause quotes (the URL, errMsg, the URL WeChat checked)."""
    page = ORIGIN + "/spa/cart"
    base = {
        "url": page,
        "signed_url": page,
        "errMsg": "config:invalid signature",
        "ua": ANDROID_WECHAT_UA + HOSTILE,
        "landing_url": ORIGIN + "/spa/" + HOSTILE,
        "ticket_id": "000000000000",
    }
    wecom = "agentConfig:fail more info at https://open.work.weixin.qq.com/devtool/query?e=42012"
    return {
        "domain": {**base, "errMsg": "config:invalid url domain" + HOSTILE},
        "domain-host": {
            **base,
            "url": f"http://shop{HOSTILE}.example/x",
            "errMsg": "config:invalid url domain",
        },
        "origin": {**base, "url": f"http://evil.example{HOSTILE}/x"},
        "scheme": {**base, "url": f"https://testserver{HOSTILE}/x".replace("\r\n", "\n")},
        "endpoint": {**base, "errMsg": "config endpoint:" + HOSTILE},
        "errcode": {**base, "errMsg": wecom + HOSTILE},
        "checked": {**base, "realAuthUrl": [ORIGIN + "/other" + HOSTILE]},
        "current": {**base, "signed_url": ORIGIN + "/spa/" + HOSTILE},
        "unknown": {**base, "url": page + HOSTILE, "errMsg": "config:fail" + HOSTILE},
    }


@pytest.mark.parametrize("fields", list(hostile_reports().values()), ids=list(hostile_reports()))
def test_no_control_character_from_a_report_reaches_the_log_raw(
    client: AppClient, fields: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    client.get("/page", ua=DESKTOP_UA)  # the server holds a ticket, as after serving a page
    with caplog.at_level(logging.DEBUG, logger="wechat_middleware"):
        status, _ = post(client, json.dumps(fields).encode())
    assert status == 204
    lines = [r.getMessage() for r in caplog.records if r.name == "wechat_middleware"]
    assert any("JS-SDK config failed" in line for line in lines), lines
    for line in lines:
        assert not CONTROL & set(line), repr(line)
    # Escaped, not dropped: the operator still sees what was sent.
    assert any("\\r" in line or "\\n" in line or "\\x1b" in line for line in lines), lines


def test_a_report_cannot_write_a_second_log_line_through_a_handler(
    make_wechat: MakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    """What an operator's handler writes (a formatter over the record) is one line."""
    wechat: WeChat = make_wechat()
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    with app_client("wsgi", wechat) as client:
        client.get("/page", ua=DESKTOP_UA)
        with caplog.at_level(logging.WARNING, logger="wechat_middleware"):
            post(client, json.dumps(hostile_reports()["origin"]).encode())
    written = [formatter.format(r) for r in caplog.records if r.name == "wechat_middleware"]
    assert written and all("\n" not in line and "\r" not in line for line in written)
