"""The jsapi ticket an app would hold on a fake, and a signature over it, for the tests
that sign a ``wx.config`` by hand (the fake's checks, the JS-SDK stand-in, jweixin).

The ticket is fetched as production fetches it (a stable token, then ``getticket``, over
HTTP), so the fake issues and counts it as it would for the app. The signature is
written here from WeChat's rule rather than taken from the package, so the fake is not
checked against the code it is meant to test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import requests

from wechat_middleware.testing import FakeWeChat


def live_jsapi_ticket(fake: FakeWeChat) -> str:
    """The fake's current jsapi ticket, issued through its API as for an app."""
    token = requests.post(
        f"{fake.base_url}/cgi-bin/stable_token",
        json={"grant_type": "client_credential", "appid": fake.app_id, "secret": fake.app_secret},
        timeout=5,
    ).json()["access_token"]
    ticket: str = requests.get(
        f"{fake.base_url}/cgi-bin/ticket/getticket",
        params={"access_token": token, "type": "jsapi"},
        timeout=5,
    ).json()["ticket"]
    return ticket


def sign(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """WeChat's JS-SDK signature: sha1 over the four fields in this order."""
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode()).hexdigest()


def signed_with(ticket: str | None, signature: Mapping[str, object], url: str) -> bool:
    """Whether a ``wx.config``'s ``signature`` was made with ``ticket`` for ``url``."""
    nonce, timestamp = str(signature["nonceStr"]), str(signature["timestamp"])
    return sign(str(ticket), nonce, timestamp, url) == signature["signature"]
