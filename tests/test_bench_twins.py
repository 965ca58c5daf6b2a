"""The benchmark's bare twins of the examples (bench/load/bare_apps.py) serve the same
pages: a throughput comparison against a page that differs measures the difference.

They read the examples' own templates from source, so an example's template change
that a twin cannot follow fails here, not in the middle of a benchmark run.
"""

from __future__ import annotations

import re

from starlette.testclient import TestClient
from werkzeug.test import Client

from bench.load import bare_apps

MARKS = ('<span id="openid">', '<span id="userid">', 'id="wx-config"', "/wechat/jssdk/wechat.js")


def test_the_flask_twin_renders_the_examples_page_and_static_files() -> None:
    client = Client(bare_apps.flask_app)
    page = client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert all(mark in text for mark in MARKS) and "WeChat middleware · Flask" in text
    assert re.search(r'id="wx-config" type="application/json">null<', text)
    assert client.get("/static/style.css").status_code == 200


def test_the_starlette_twin_renders_the_examples_page_and_static_files() -> None:
    with TestClient(bare_apps.starlette_app) as client:
        page = client.get("/second")
        assert page.status_code == 200
        assert all(mark in page.text for mark in MARKS)
        assert "Second page · Starlette" in page.text
        assert client.get("/static/app.js").status_code == 200
