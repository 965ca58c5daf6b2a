"""A page of another site cannot log our users out (login CSRF's twin: logout CSRF).

``POST /wechat/logout`` is refused when the browser says the form came from elsewhere:
an ``Origin`` of another origin (``null`` too: an opaque origin), ``Sec-Fetch-Site:
cross-site`` or ``same-site``, or, when a browser sends no ``Origin``, a ``Referer`` of
another origin (issue #20 item 11: such a logout was accepted). A browser that sends
none of them gives nothing to judge by and is answered as before. Over both adapters
and Django's two handlers, in-process.
"""

from __future__ import annotations

import pytest

from ..conftest import MakeWeChat, OpenClient
from .helpers import ORIGIN, check_answer, log_in, session_user

REFUSED = {
    "referer-of-another-site": {"Referer": "https://evil.example/logout-them"},
    "referer-of-a-look-alike-host": {"Referer": "http://testserver.evil.example/"},
    "referer-of-a-subdomain": {"Referer": "http://sub.testserver/page"},
    "referer-of-another-scheme": {"Referer": "https://testserver/page"},
    "referer-of-another-port": {"Referer": "http://testserver:8080/page"},
    "referer-not-a-url": {"Referer": "not a url"},
    "origin-of-another-site": {"Origin": "https://evil.example"},
    "origin-null": {"Origin": "null"},
    "origin-elsewhere-referer-ours": {"Origin": "https://evil.example", "Referer": ORIGIN + "/"},
    "sec-fetch-site-cross-site": {"Sec-Fetch-Site": "cross-site"},
    "sec-fetch-site-same-site": {"Sec-Fetch-Site": "same-site"},
}
ACCEPTED = {
    "referer-ours": {"Referer": ORIGIN + "/page?x=1"},
    "referer-ours-in-capitals": {"Referer": "HTTP://TestServer/page"},
    "origin-ours": {"Origin": ORIGIN},
    "origin-ours-and-same-origin": {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"},
    "nothing-to-judge-by": {},
}


CASES = {
    **{name: (headers, True) for name, headers in REFUSED.items()},
    **{name: (headers, False) for name, headers in ACCEPTED.items()},
}


@pytest.mark.parametrize(("headers", "refused"), CASES.values(), ids=CASES.keys())
def test_only_a_logout_from_our_own_pages_forgets_the_user(
    open_client: OpenClient,
    kind: str,
    make_wechat: MakeWeChat,
    headers: dict[str, str],
    refused: bool,
) -> None:
    client = open_client(kind, make_wechat())
    log_in(client)
    out = client.request("POST", "/wechat/logout?next=/page", headers=headers)
    check_answer(out, open_base="http://unused")
    if refused:
        assert out.status == 403 and out.location is None
    else:
        assert out.status == 303 and out.location == "/page"
    assert (session_user(client.wechat, client.cookie) is not None) == refused
