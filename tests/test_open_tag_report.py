"""A ``WeixinOpenTagsError`` report (issue #24): the helper posts the tags the page asked
for beside WeChat's errMsg; the diagnosis says what open tags need."""

from __future__ import annotations

import json

from wechat_middleware.spa import diagnose, parse_report

PAGE = "https://shop.example.com/app/shop"
BASE = {"url": PAGE, "signed_url": PAGE, "errMsg": "launch:fail_check fail", "ua": "x"}


def diagnosed(**fields: object) -> str:
    report = parse_report(json.dumps({**BASE, **fields}).encode())
    assert not isinstance(report, str)
    diagnosis = diagnose(report, "https://shop.example.com", None)
    assert diagnosis.kind == "open-tags" and not diagnosis.ticket_rejected
    return diagnosis.text


def test_an_open_tag_failure_says_what_open_tags_need() -> None:
    text = diagnosed(open_tags=["wx-open-launch-weapp"])
    assert text.startswith("open tags wx-open-launch-weapp failed (WeixinOpenTagsError)")
    for need in ("verified service account", "JS接口安全域名", "openTagList", "iframe"):
        assert need in text
    assert "'launch:fail_check fail'" in text  # the facts, as every diagnosis has them


def test_a_page_that_asked_for_no_open_tags_is_told_to_list_them() -> None:
    assert "asked for none: list them in openTagList" in diagnosed(open_tags=[])


def test_names_that_are_not_tags_are_dropped_and_the_list_bounded() -> None:
    report = parse_report(
        json.dumps({**BASE, "open_tags": ["wx-open-audio", "<script>", 7, *["t"] * 40]}).encode()
    )
    assert not isinstance(report, str)
    assert report.open_tags is not None and report.open_tags[0] == "wx-open-audio"
    assert "<script>" not in report.open_tags and len(report.open_tags) <= 16


def test_a_wx_error_report_is_not_an_open_tag_one() -> None:
    report = parse_report(json.dumps({**BASE, "errMsg": "config:invalid url domain"}).encode())
    assert not isinstance(report, str) and report.open_tags is None
    assert diagnose(report, "https://shop.example.com", None).kind == "domain"
