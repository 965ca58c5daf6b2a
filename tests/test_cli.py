"""The command line against FakeWeChat: ``main([...])`` in-process, as a user types it.

Exit codes are what scripts rely on: 0 success, 1 a check failed (``verify``,
``doctor``), 2 usage, 3 configuration error, 4 WeChat or store error. The environment
comes from the plugin's ``wechat_env``; nothing a command prints may hold a secret, a
token or a ticket.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from wechat_middleware.__main__ import main
from wechat_middleware.testing import FakeWeChat, Fault
from wechat_middleware.testing.fake_wecom import FakeWeCom

COMMANDS = ["demo", "fake-server", "sign", "verify", "doctor"]
WRONG_SECRET = "not-the-app-secret-4b1d"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port where nothing listens (held, so no one else takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# -- the entry points and their help ------------------------------------------------


def test_python_m_wechat_middleware_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wechat_middleware", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: wechat-middleware")
    for command in COMMANDS:
        assert command in done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_the_exit_codes(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"usage: wechat-middleware {command}")
    assert "exit codes: 0 success" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["no-such-command"],
        ["sign"],
        ["sign", "http://127.0.0.1/", "--no-such-option"],
        ["verify", "--token", "t", "--nonce", "1", "--signature", "s"],
        ["fake-server", "--port", "eighty"],
        ["doctor", "extra"],
    ],
    ids=lambda argv: " ".join(argv) or "nothing",
)
def test_bad_arguments_exit_2_with_the_usage(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage: wechat-middleware" in err


# -- sign -----------------------------------------------------------------------------


def test_sign_prints_a_wx_config_that_wechat_accepts(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], fake_wechat: FakeWeChat
) -> None:
    url = "http://127.0.0.1:8000/shop?id=1&from=share"
    code, out, _ = run(capsys, "sign", url, "--api", "updateAppMessageShareData, chooseImage")
    assert code == 0
    config = json.loads(out)
    assert config["appId"] == fake_wechat.app_id
    assert config["debug"] is False
    assert config["jsApiList"] == ["updateAppMessageShareData", "chooseImage"]
    assert fake_wechat.check_jsapi_signature(
        url, config["nonceStr"], config["timestamp"], config["signature"]
    )
    assert fake_wechat.current_jsapi_ticket() not in out


def test_sign_signs_the_url_without_its_fragment_and_says_so(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], fake_wechat: FakeWeChat
) -> None:
    code, out, err = run(capsys, "sign", "http://127.0.0.1:8000/spa?a=1#/cart")
    assert code == 0
    config = json.loads(out)
    assert config["jsApiList"] == []
    assert fake_wechat.check_jsapi_signature(
        "http://127.0.0.1:8000/spa?a=1",
        config["nonceStr"],
        config["timestamp"],
        config["signature"],
    )
    assert "signed http://127.0.0.1:8000/spa?a=1 " in err


def test_sign_refuses_a_url_that_is_not_absolute_http(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sign", "/relative/page")
    assert (code, out) == (2, "")
    assert "must be absolute" in err


def test_sign_without_an_app_id_is_a_configuration_error_naming_it(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WECHAT_APP_ID")
    code, out, err = run(capsys, "sign", "http://127.0.0.1/")
    assert (code, out) == (3, "")
    assert "WECHAT_APP_ID is required" in err


def test_sign_with_a_wrong_secret_is_a_wechat_error_in_plain_words(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECHAT_APP_SECRET", WRONG_SECRET)
    code, out, err = run(capsys, "sign", "http://127.0.0.1/")
    assert (code, out) == (4, "")
    assert "the app secret is wrong" in err
    assert WRONG_SECRET not in err


def test_sign_with_wechat_unreachable_is_a_wechat_error(
    capsys: pytest.CaptureFixture[str],
    wechat_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    closed_port: int,
) -> None:
    monkeypatch.setenv("WECHAT_API_BASE", f"http://127.0.0.1:{closed_port}")
    code, _, err = run(capsys, "sign", "http://127.0.0.1/")
    assert code == 4
    assert "WeChat could not be reached" in err


def test_sign_with_the_pages_nonce_and_timestamp_reproduces_its_signature(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], fake_wechat: FakeWeChat
) -> None:
    """Troubleshooting: same URL, nonce and timestamp as the page give the same signature."""
    url = "http://127.0.0.1:8000/page?x=1"
    _, first, _ = run(capsys, "sign", url)
    page = json.loads(first)
    code, out, err = run(
        capsys,
        "sign",
        url,
        f"--nonce={page['nonceStr']}",
        f"--timestamp={page['timestamp']}",
    )
    assert code == 0
    again = json.loads(out)
    assert (again["nonceStr"], again["timestamp"]) == (page["nonceStr"], page["timestamp"])
    assert again["signature"] == page["signature"]
    assert f"signed URL:   {url}" in err


def test_sign_prints_the_string_it_hashed_with_the_ticket_masked(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], fake_wechat: FakeWeChat
) -> None:
    url = "http://127.0.0.1:8000/page?x=1"
    code, out, err = run(capsys, "sign", url, "--nonce=abc123", "--timestamp=1700000000")
    assert code == 0
    ticket = fake_wechat.current_jsapi_ticket()
    assert ticket and ticket not in out + err
    hashed = next(line for line in err.splitlines() if line.startswith("string hashed: "))
    masked = hashed.removeprefix("string hashed: ")
    assert masked.startswith("jsapi_ticket=<ticket sha256:")
    assert masked.endswith(f"&noncestr=abc123&timestamp=1700000000&url={url}")
    plain = masked.replace(masked.split("&", 1)[0], f"jsapi_ticket={ticket}")
    assert hashlib.sha1(plain.encode()).hexdigest() == json.loads(out)["signature"]


@pytest.mark.parametrize(
    ("option", "value"), [("--nonce", "has space"), ("--nonce", "x" * 33), ("--timestamp", "soon")]
)
def test_sign_refuses_a_malformed_nonce_or_timestamp(
    capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    code, _, err = run(capsys, "sign", "http://127.0.0.1/", f"{option}={value}")
    assert code == 2 and option in err


# -- verify ---------------------------------------------------------------------------


def wechat_server_signature(token: str, timestamp: str, nonce: str) -> str:
    """docs/wechat-protocol.md section 1.1: sha1 of the three strings sorted and joined without a
    separator."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def test_verify_accepts_wechats_signature(capsys: pytest.CaptureFixture[str]) -> None:
    now = str(int(time.time()))  # WeChat signs with its current time
    signature = wechat_server_signature("dashboard-token", now, "4242")
    code, out, _ = run(
        capsys,
        "verify",
        "--token=dashboard-token",
        f"--timestamp={now}",
        "--nonce=4242",
        f"--signature={signature}",
    )
    assert code == 0
    assert out.startswith("valid")


def test_verify_rejects_a_wrong_signature_and_shows_the_expected_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        "verify",
        "--token=dashboard-token",
        "--timestamp=1700000000",
        "--nonce=4242",
        "--signature=" + "0" * 40,
    )
    assert code == 1
    expected = wechat_server_signature("dashboard-token", "1700000000", "4242")
    assert out.startswith("invalid") and f"expected {expected}" in out


def test_verify_takes_the_token_from_wechat_token(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str]
) -> None:
    now = str(int(time.time()))
    signature = wechat_server_signature(wechat_env["WECHAT_TOKEN"], now, "7")
    code, _, _ = run(
        capsys, "verify", f"--timestamp={now}", "--nonce=7", f"--signature={signature}"
    )
    assert code == 0


def test_verify_says_a_correctly_signed_but_old_timestamp_is_too_old(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The middleware refuses it (403, "timestamp too old"): the command must not call it valid."""
    old = str(int(time.time()) - 600)
    signature = wechat_server_signature("dashboard-token", old, "4242")
    code, out, _ = run(
        capsys,
        "verify",
        "--token=dashboard-token",
        f"--timestamp={old}",
        "--nonce=4242",
        f"--signature={signature}",
    )
    assert code == 1
    assert out.startswith("invalid: timestamp too old (clock skew?)")


def test_verify_without_any_token_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WECHAT_TOKEN", raising=False)
    code, _, err = run(capsys, "verify", "--timestamp=1", "--nonce=2", "--signature=3")
    assert code == 2
    assert "--token" in err


# -- doctor ---------------------------------------------------------------------------


# What every app's doctor checks, in order; a WeCom app and a website app add a step.
DOCTOR_STEPS = [
    "config",
    "login limits",
    "origin",
    "store",
    "API host",
    "access token",
    "jsapi ticket",
]


def report(out: str) -> dict[str, tuple[str, str]]:
    """doctor's lines as {step: (status, detail)}."""
    steps: dict[str, tuple[str, str]] = {}
    for line in out.splitlines():
        status, _, rest = line.partition("  ")
        if status.strip() in ("OK", "WARN", "FAIL", "SKIP"):
            name, _, detail = rest.strip().partition(": ")
            steps[name] = (status.strip(), detail)
    return steps


def test_doctor_passes_every_step_against_a_working_wechat(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], fake_wechat: FakeWeChat
) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    steps = report(out)
    assert list(steps) == DOCTOR_STEPS
    assert all(status == "OK" for status, _ in steps.values())
    assert out.rstrip().endswith("all checks passed")
    secrets = [
        wechat_env["WECHAT_APP_SECRET"],
        wechat_env["WECHAT_SECRET_KEY"],
        wechat_env["WECHAT_TOKEN"],
        fake_wechat.current_jsapi_ticket(),
        *fake_wechat.valid_access_tokens(),
    ]
    assert not [secret for secret in secrets if secret and secret in out]


def test_doctor_says_plainly_that_the_app_secret_is_wrong(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECHAT_APP_SECRET", WRONG_SECRET)
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    steps = report(out)
    status, detail = steps["access token"]
    assert status == "FAIL"
    assert detail.startswith("the app secret is wrong")
    assert steps["jsapi ticket"][0] == "SKIP"
    assert WRONG_SECRET not in out


def test_doctor_explains_the_ip_whitelist(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], fake_wechat: FakeWeChat
) -> None:
    fake_wechat.inject(
        "cgi-bin/stable_token",
        Fault(
            "errcode",
            40164,
            errmsg="invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, "
            "not in whitelist rid: 6560a1b2-0c3d4e5f-1a2b3c4d",
        ),
    )
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    status, detail = report(out)["access token"]
    assert status == "FAIL"
    assert "this server's IP 203.0.113.7 is not on the IP whitelist" in detail
    assert "add it in the WeChat dashboard" in detail


def test_doctor_names_the_api_host_it_cannot_reach(
    capsys: pytest.CaptureFixture[str],
    wechat_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    closed_port: int,
) -> None:
    monkeypatch.setenv("WECHAT_API_BASE", f"http://127.0.0.1:{closed_port}")
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    steps = report(out)
    assert steps["API host"] == (
        "FAIL",
        f"cannot reach 127.0.0.1:{closed_port}: connection refused",
    )
    assert steps["access token"][0] == steps["jsapi ticket"][0] == "SKIP"


def test_doctor_reports_a_missing_setting_and_skips_the_rest(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WECHAT_APP_ID")
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    steps = report(out)
    assert steps["config"] == ("FAIL", "WECHAT_APP_ID is required (set the environment variable)")
    assert [status for status, _ in steps.values()] == ["FAIL"] + ["SKIP"] * 6


def test_doctor_fails_without_the_secret_key_the_middleware_needs(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WECHAT_SECRET_KEY")
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    status, detail = report(out)["config"]
    assert status == "FAIL" and "WECHAT_SECRET_KEY is required" in detail
    assert "secrets.token_urlsafe(32)" in detail
    assert "all checks passed" not in out


def test_doctor_lists_every_setting_the_app_sees_under_the_config_step(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each setting by the name the app reads, its value (a secret's hidden), and
    whether the environment left it at its default; also when the config step fails."""
    monkeypatch.setenv("WECHAT_PAGE_WAIT", "2")
    monkeypatch.delenv("WECHAT_SECRET_KEY")
    _, out, _ = run(capsys, "doctor")
    lines = out.splitlines()
    listed = lines[1 : lines.index(next(line for line in lines[1:] if not line[0].isspace()))]
    settings = {line.split()[0]: line.split()[1:] for line in listed}
    assert lines[0].startswith("FAIL  config:")
    assert settings["WECHAT_PAGE_WAIT"] == ["2"]
    assert settings["WECHAT_SCOPE"] == ["snsapi_base", "(default)"]
    assert settings["WECHAT_APP_SECRET"] == ["(hidden)"] and settings["WECHAT_TOKEN"] == [
        "(hidden)"
    ]
    assert settings["WECHAT_SECRET_KEY"] == ["unset", "(default)"]
    assert wechat_env["WECHAT_APP_SECRET"] not in out and wechat_env["WECHAT_TOKEN"] not in out


def test_doctor_warns_without_the_server_check_token(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WECHAT_TOKEN")
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    steps = report(out)
    assert steps["config"][0] == "WARN" and "WECHAT_TOKEN is not set" in steps["config"][1]
    assert [status for status, _ in steps.values()][1:] == ["OK"] * 6
    assert out.rstrip().endswith("all checks passed, with 1 warning")


def test_doctor_reports_an_unreachable_store_without_its_password(
    capsys: pytest.CaptureFixture[str],
    wechat_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    closed_port: int,
) -> None:
    monkeypatch.setenv("WECHAT_STORE", f"redis://:hunter2-pw@127.0.0.1:{closed_port}/0")
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    status, detail = report(out)["store"]
    assert status == "FAIL"
    assert detail.startswith(f"redis://:***@127.0.0.1:{closed_port}/0: ")
    assert "hunter2-pw" not in out


@pytest.mark.parametrize(
    ("settings", "status", "says"),
    [
        ({}, "WARN", "only this machine's names (localhost, 127.0.0.1, [::1])"),
        ({"WECHAT_ALLOWED_HOSTS": "shop.example.com,.example.org"}, "OK", "shop.example.com"),
        ({"WECHAT_ALLOWED_HOSTS": "*"}, "WARN", "any Host gets a signature"),
        ({"WECHAT_PUBLIC_URL": "https://shop.example.com"}, "OK", "the Host is not used"),
    ],
    ids=["unset", "listed", "any", "public-url"],
)
def test_doctor_says_which_origin_urls_are_built_on(
    capsys: pytest.CaptureFixture[str],
    wechat_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, str],
    status: str,
    says: str,
) -> None:
    """SECURITY.md, Host-header spoofing: a signature or a redirect_uri is built on
    WECHAT_PUBLIC_URL, else on a Host this site serves; doctor says which, and that
    Django's ALLOWED_HOSTS decides under Django."""
    monkeypatch.delenv("WECHAT_ALLOWED_HOSTS")
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    _, out, _ = run(capsys, "doctor")
    found, detail = report(out)["origin"]
    assert found == status and says in detail
    if "WECHAT_PUBLIC_URL" not in settings:
        assert "ALLOWED_HOSTS" in detail and "Django" in detail


@pytest.mark.parametrize(
    "store",
    [
        "redis//:S3cret-pw@127.0.0.1:{port}/0",  # no ":" after the scheme
        "redis://:pa/S3cret-pw@127.0.0.1:{port}/0",  # a "/" in the password
        "redis://:p@S3cret-pw@127.0.0.1:{port}/0",  # an "@" in the password
        "redis://user:S3cret-pw@[::1/0",  # an unclosed IPv6 bracket
        "redis+sentinel://:S3cret-pw@127.0.0.1:{port}/mymaster",  # Sentinel, unreachable
    ],
    ids=[
        "no-colon",
        "slash-in-password",
        "at-in-password",
        "unclosed-bracket",
        "sentinel-unreachable",
    ],
)
def test_doctor_never_prints_the_password_of_a_malformed_store_url(
    capsys: pytest.CaptureFixture[str],
    wechat_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    closed_port: int,
    store: str,
) -> None:
    """Whatever shape a mistyped store URL has, doctor names the store without the
    password in it, and fails the step with a sentence, not a traceback."""
    monkeypatch.setenv("WECHAT_STORE", store.format(port=closed_port))
    code, out, err = run(capsys, "doctor")
    assert code == 1
    status, detail = report(out)["store"]
    assert status == "FAIL" and "***@" in detail, detail
    assert "S3cret" not in out + err
    assert "Traceback" not in out + err


def test_doctor_never_forces_a_new_token(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], fake_wechat: FakeWeChat
) -> None:
    """A forced refresh would cut off the token every running worker holds."""
    running_app_token = requests.post(
        f"{fake_wechat.api_base}/cgi-bin/stable_token",
        json={
            "grant_type": "client_credential",
            "appid": fake_wechat.app_id,
            "secret": fake_wechat.app_secret,
        },
        timeout=5,
    ).json()["access_token"]
    assert run(capsys, "doctor")[0] == 0
    assert running_app_token in fake_wechat.valid_access_tokens()


def test_doctor_uses_the_token_the_store_already_holds(
    capsys: pytest.CaptureFixture[str],
    wechat_env: dict[str, str],
    fake_wechat: FakeWeChat,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("WECHAT_STORE", f"sqlite:///{tmp_path}/store.sqlite3")
    assert run(capsys, "doctor")[0] == 0
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    assert report(out)["access token"][1].startswith("from the store")
    assert fake_wechat.calls("cgi-bin/stable_token") == 1
    assert fake_wechat.calls("cgi-bin/ticket/getticket") == 1


@pytest.mark.usefixtures("wechat_env")
@pytest.mark.parametrize("scope_status", [("snsapi_base", "WARN"), ("snsapi_userinfo", "OK")])
def test_doctor_says_what_linking_desktop_qr_logins_needs(
    capsys: pytest.CaptureFixture[str],
    fake_wechat: FakeWeChat,
    monkeypatch: pytest.MonkeyPatch,
    scope_status: tuple[str, str],
) -> None:
    """docs/wechat-protocol.md sections 5.3, 5.9 and 9: the unionid links a website app's
    users to the Official Account's only when both are bound to one Open Platform
    account, and in WeChat it comes with snsapi_userinfo or, for followers, from
    cgi-bin/user/info."""
    monkeypatch.setenv("WECHAT_WEB_APP_ID", fake_wechat.web_app_id)
    monkeypatch.setenv("WECHAT_WEB_APP_SECRET", fake_wechat.web_app_secret)
    scope, status = scope_status
    monkeypatch.setenv("WECHAT_SCOPE", scope)
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    steps = report(out)
    assert list(steps)[-1] == "account link"
    found, detail = steps["account link"]
    assert found == status
    assert "Open Platform account" in detail and "snsapi_userinfo" in detail
    assert "follower" in detail
    assert fake_wechat.web_app_secret not in out


def login_limits_step(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """Run doctor (it must pass, warnings allowed); its login limits line."""
    code, out, _ = run(capsys, "doctor")
    assert code == 0, out
    return report(out)["login limits"]


def test_doctor_says_what_the_login_limits_are(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str]
) -> None:
    """The defaults: 20 a minute per client, and WeChat's own 50,000 a minute on the code
    exchange in all (docs/wechat-protocol.md section 5.3)."""
    status, detail = login_limits_step(capsys)
    assert status == "OK"
    assert "20 a minute per client (an IPv4 address or an IPv6 /64)" in detail
    assert "50,000 in all (WeChat's own limit on sns/oauth2/access_token)" in detail
    assert "429" in detail and "proxy" in detail


@pytest.mark.usefixtures("wechat_env")
def test_doctor_warns_when_no_per_client_bound_protects_the_logins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECHAT_LOGIN_RATE_PER_CLIENT", "0")
    monkeypatch.setenv("WECHAT_LOGIN_RATE_TOTAL", "3000")
    status, detail = login_limits_step(capsys)
    assert status == "WARN"
    assert "no bound per client" in detail and "WECHAT_LOGIN_RATE_PER_CLIENT" in detail
    assert "3,000 in all (WeChat's own is 50,000 on sns/oauth2/access_token)" in detail


def test_doctor_has_no_account_link_step_without_a_website_app(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str]
) -> None:
    assert "account link" not in report(run(capsys, "doctor")[1])


# -- fake-server ----------------------------------------------------------------------


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 30) -> str:
    """What ``process`` printed, up to the first line containing ``marker``."""
    printed: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            printed.append(line)
            if marker in line:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    text = "".join(printed)
    assert marker in text, f"no {marker!r} within {timeout}s; printed:\n{text}"
    return text


def test_fake_server_prints_the_environment_that_points_an_app_at_it() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "wechat_middleware", "fake-server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        printed = read_until(process, "authorize page")
        exported = dict(
            line.removeprefix("export ").split("=", 1)
            for line in printed.splitlines()
            if line.startswith("export ")
        )
        assert exported["WECHAT_API_BASE"] == exported["WECHAT_OPEN_BASE"]
        assert exported["WECHAT_API_BASE"].startswith("http://127.0.0.1:")
        assert f"FakeWeChat at {exported['WECHAT_API_BASE']}" in printed
        # One SQLite file every worker of `gunicorn -w 4` shares (memory:// splits them).
        assert re.fullmatch(
            r"sqlite:///.*/wechat-fake-[^/]+/tokens\.sqlite3", exported["WECHAT_STORE"]
        )
        reply = requests.post(
            exported["WECHAT_API_BASE"] + "/cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": exported["WECHAT_APP_ID"],
                "secret": exported["WECHAT_APP_SECRET"],
            },
            timeout=5,
        )
        assert reply.json()["expires_in"] == 7200

        process.send_signal(signal.SIGTERM)  # a supervisor, or `kill`: works in any job
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "FakeWeChat stopped" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def exports_of(printed: str) -> dict[str, str]:
    return dict(
        line.removeprefix("export ").split("=", 1)
        for line in printed.splitlines()
        if line.startswith("export ")
    )


def test_fake_server_prints_the_website_app_for_the_qr_login_and_a_user_with_a_unionid() -> None:
    """The QR login's credentials log in through the fake's QR page, and the code gives
    the unionid the output names: what links a desktop login to the same user in WeChat."""
    process = start_command("fake-server", "--port", "0")
    try:
        printed = read_until(process, "authorize page")
        exported = exports_of(printed)
        assert "Desktop QR login" in printed
        unionid = re.search(r"\(unionid (\S+),", printed)
        assert unionid is not None
        base = exported["WECHAT_API_BASE"]
        scanned = requests.get(
            base + "/connect/qrconnect",
            params={
                "appid": exported["WECHAT_WEB_APP_ID"],
                "redirect_uri": "http://127.0.0.1/wechat/oauth-callback",
                "response_type": "code",
                "scope": "snsapi_login",
                "state": "s1",
            },
            headers={"x-fake-wechat-scan": "1"},
            allow_redirects=False,
            timeout=5,
        )
        code = parse_qs(urlsplit(scanned.headers["Location"]).query)["code"][0]
        token = requests.get(
            base + "/sns/oauth2/access_token",
            params={
                "appid": exported["WECHAT_WEB_APP_ID"],
                "secret": exported["WECHAT_WEB_APP_SECRET"],
                "code": code,
                "grant_type": "authorization_code",
            },
            timeout=5,
        ).json()
        assert token["unionid"] == unionid.group(1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_fake_server_wecom_prints_a_wecom_apps_environment() -> None:
    process = start_command("fake-server", "--port", "0", "--wecom")
    try:
        printed = read_until(process, "authorize page")
        exported = exports_of(printed)
        assert printed.startswith(f"FakeWeCom at {exported['WECHAT_API_BASE']}")
        assert exported["WECHAT_PROVIDER"] == "wecom"
        assert "logs members in as userid" in printed
        store = exported["WECHAT_STORE"].removeprefix("sqlite:///")
        reply = requests.get(
            exported["WECHAT_API_BASE"] + "/cgi-bin/gettoken",
            params={
                "corpid": exported["WECHAT_CORP_ID"],
                "corpsecret": exported["WECHAT_CORP_SECRET"],
            },
            timeout=5,
        )
        assert reply.json()["errcode"] == 0
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "FakeWeCom stopped" in out
        assert not os.path.exists(os.path.dirname(store))  # no token outlives the fake
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_fake_server_on_a_busy_port_exits_1_naming_it(
    capsys: pytest.CaptureFixture[str], fake_wechat: FakeWeChat
) -> None:
    code, _, err = run(capsys, "fake-server", "--port", str(fake_wechat.port))
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{fake_wechat.port}" in err


def start_command(*argv: str, ctrl_c_works: bool = False) -> subprocess.Popen[str]:
    """Run ``python -m wechat_middleware ARGV`` with no WECHAT_* from the caller.

    ``ctrl_c_works`` gives the child the default SIGINT disposition whatever the
    caller's is: a background job (``bash scripts/test &``) ignores SIGINT, and a
    child inherits that.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    reset = (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if ctrl_c_works else None
    return subprocess.Popen(
        [sys.executable, "-m", "wechat_middleware", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=reset,
    )


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_fake_server_stops_cleanly_on_sigterm_and_on_ctrl_c(stop: signal.Signals) -> None:
    process = start_command("fake-server", "--port", "0", ctrl_c_works=True)
    try:
        read_until(process, "authorize page")
        process.send_signal(stop)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "FakeWeChat stopped" in out and "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("command", ["fake-server", "demo"])
@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_an_impossible_port_is_a_usage_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], command: str, port: str
) -> None:
    code, out, err = run(capsys, command, "--port", port)
    assert code == 2 and out == ""
    assert "--port" in err and "Traceback" not in err


def test_fake_server_says_its_credentials_are_the_fakes_own() -> None:
    process = start_command("fake-server", "--port", "0")
    try:
        printed = read_until(process, "authorize page")
        assert "the fake's own made-up credentials" in printed
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from wechat_middleware import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"wechat-middleware {__version__}"


def test_fake_server_stops_on_sigterm_sent_the_moment_it_has_printed() -> None:
    """A supervisor stops it as soon as it read the output: SIGTERM may come before the
    command is waiting, and may land on any of its threads."""
    for _ in range(5):
        process = start_command("fake-server", "--port", "0")
        try:
            read_until(process, "authorize page")
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
            assert process.returncode == 0, err
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()


# -- doctor for a WeCom app (docs/wecom-and-qrconnect.md sections 1.1, 1.2, 1.5) ---------------


def test_doctor_checks_a_wecom_apps_token_and_both_tickets(
    capsys: pytest.CaptureFixture[str], wecom_env: dict[str, str], fake_wecom: FakeWeCom
) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 0, out
    steps = report(out)
    assert list(steps) == [*DOCTOR_STEPS, "app ticket"]
    assert steps["config"][1].startswith(f"WeCom corp {fake_wecom.corp_id}, app ")
    assert fake_wecom.calls("cgi-bin/ticket/get") == 1
    assert wecom_env["WECHAT_CORP_SECRET"] not in out


def test_doctor_names_the_trusted_ip_setting_on_60020(
    capsys: pytest.CaptureFixture[str], wecom_env: dict[str, str], fake_wecom: FakeWeCom
) -> None:
    fake_wecom.inject(
        "cgi-bin/gettoken",
        Fault(
            "errcode",
            60020,
            errmsg="not allow to access from your ip, hint: [1], from ip: 203.0.113.9, "
            "more info at https://open.work.weixin.qq.com/devtool/query?e=60020",
        ),
    )
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    status, detail = report(out)["access token"]
    assert status == "FAIL"
    assert "203.0.113.9" in detail and "Trusted IPs" in detail


# -- doctor: names, and what to register in WeChat's dashboard (issue #24) ----------------


def test_doctor_names_every_missing_setting_at_once(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_SECRET_KEY"):
        monkeypatch.delenv(name)
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    status, detail = report(out)["config"]
    assert status == "FAIL"
    assert detail.startswith("WECHAT_APP_ID and WECHAT_APP_SECRET are required")
    assert "WECHAT_SECRET_KEY" in detail


def test_doctor_warns_of_a_misspelt_name_with_the_one_meant(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECHAT_PUBLICURL", "https://shop.example.com")
    monkeypatch.setenv("WECHAT_ENV", "production")  # another tool's: said, not refused
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    steps = report(out)
    assert list(steps) == ["setting names", *DOCTOR_STEPS]
    assert steps["setting names"] == ("WARN", "2 WECHAT_* name(s) unknown")
    assert (
        "        WECHAT_PUBLICURL is not a setting of wechat_middleware and is ignored: "
        "did you mean WECHAT_PUBLIC_URL?" in out.splitlines()
    )
    assert "WECHAT_ENV is not a setting of wechat_middleware" in out


def test_doctor_shows_the_callback_and_what_to_register_in_the_dashboard(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copy-pasteable: the value last on its line, under the dashboard's own names."""
    monkeypatch.setenv("WECHAT_PUBLIC_URL", "https://shop.example.com")
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    assert report(out)["origin"][0] == "OK"
    lines = [line.strip() for line in out.splitlines()]
    assert "redirect_uri: https://shop.example.com/wechat/oauth-callback" in lines
    assert "网页授权域名 (OAuth domain): shop.example.com" in lines
    assert "JS接口安全域名 (JS safe domain): shop.example.com" in lines
    whitelist = next(line for line in lines if line.startswith("IP白名单 (IP whitelist): "))
    assert "cannot know offline" in whitelist and "curl" in whitelist


@pytest.mark.parametrize(
    ("public_url", "says"),
    [
        ("https://shop.example.com:8443", "port 443 only, not 8443"),
        ("http://shop.example.com:8000", "port 80 only, not 8000"),
        ("http://203.0.113.7", "203.0.113.7 is an IP address"),
    ],
    ids=["https-port", "http-port", "address"],
)
def test_doctor_warns_of_a_callback_wechat_refuses(
    capsys: pytest.CaptureFixture[str],
    wechat_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    public_url: str,
    says: str,
) -> None:
    """`redirect_uri 参数错误` (10003) and "invalid url domain": an Official Account's
    OAuth callbacks and JS-SDK pages are served on ports 80 and 443 only."""
    monkeypatch.setenv("WECHAT_PUBLIC_URL", public_url)
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    status, detail = report(out)["origin"]
    assert status == "WARN" and says in detail


def test_doctor_without_a_public_url_says_what_it_cannot_check(
    capsys: pytest.CaptureFixture[str], wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECHAT_ALLOWED_HOSTS", "shop.example.com")
    _, out, _ = run(capsys, "doctor")
    assert report(out)["origin"][0] == "OK"
    assert "set WECHAT_PUBLIC_URL for doctor to check it" in out
    assert "the hosts you serve (shop.example.com)" in out


def test_doctor_tells_a_follower_the_whitelist_is_the_hubs(wechat_env: dict[str, str]) -> None:
    from wechat_middleware.config import WeChatConfig
    from wechat_middleware.doctor import dashboard

    config = WeChatConfig.from_env().replace(
        public_url="https://shop.example.com", token_hub="https://hub.example.com", hub_key="k" * 16
    )
    refused, lines = dashboard(config)
    assert refused == ""
    assert lines[-1].startswith("IP白名单 (IP whitelist): the hub's outgoing address")


def test_doctor_names_wecoms_own_dashboard_fields_port_included(
    wecom_env: dict[str, str],
) -> None:
    """WeCom's trusted domain is entered as the browser has it, port included."""
    from wechat_middleware.config import WeChatConfig
    from wechat_middleware.doctor import dashboard

    config = WeChatConfig.from_env().replace(public_url="https://work.example.com:8443")
    refused, lines = dashboard(config)
    assert refused == ""
    assert "可信域名 (trusted domain: web authorization and JS-SDK): work.example.com:8443" in lines
    assert lines[-1].startswith("企业可信IP (trusted IPs): ")
