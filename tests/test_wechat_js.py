"""The browser helper ``wechat_middleware/static/wechat.js`` as a file: ES5, one settings
placeholder, shipped in the wheel. What it does in a browser is tested in
tests/e2e/test_wechat_js.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESOURCE = "static/wechat.js"
PLACEHOLDER = "__WECHAT_MIDDLEWARE_SETTINGS__"

# Old WeChat webviews run ES5 only: what later editions added, as it looks in the source
# (a keyword, not a property such as script.async).
NOT_ES5 = re.compile(r"=>|`|\.\.\.|(?<![.\w])(?:let|const|class|async|await)\b")
# After one of these (or at the start) a "/" opens a regular expression, not a division.
_BEFORE_REGEX = set("(,=:[!&|?{};+-*%<>~^") | {""}


def helper_source() -> str:
    return resources.files("wechat_middleware").joinpath(RESOURCE).read_text(encoding="utf-8")


def code_only(source: str) -> str:
    """``source`` with its comments, strings and regular expressions blanked out."""
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        c, pair = source[i], source[i : i + 2]
        if pair == "//":
            end = source.find("\n", i)
            end = n if end < 0 else end
        elif pair == "/*":
            end = source.index("*/", i + 2) + 2
        elif c in "'\"" or (c == "/" and "".join(out).rstrip()[-1:] in _BEFORE_REGEX):
            end = _literal_end(source, i)
        else:
            out.append(c)
            i += 1
            continue
        out.append(" ")
        i = end
    return "".join(out)


def _literal_end(source: str, start: int) -> int:
    """Where the string or regular expression opened at ``start`` ends (past its quote)."""
    quote, i = source[start], start + 1
    while source[i] != quote:
        if source[i] == "\n":
            raise ValueError(f"unterminated literal at {start}")
        i += 2 if source[i] == "\\" else 1
    return i + 1


def not_es5(source: str) -> list[str]:
    return NOT_ES5.findall(code_only(source))


@pytest.mark.parametrize(
    ("snippet", "found"),
    [
        ("var f = x => x;", ["=>"]),
        ("let a = 1; const b = 2;", ["let", "const"]),
        ("var s = `x`;", ["`", "`"]),
        ("script.async = true; async function f() {}", ["async"]),
        ("f(...args); class A {}", ["...", "class"]),
        ("var s = '=> let const ` ...';", []),
        ('var s = "it\\"s => ok";', []),
        ("// let x = () => 1\nvar y;", []),
        ("/* const `x` */ var z;", []),
        ("var r = /a=>b|let/i.test(s);", []),
        ("var q = a / b; let c;", ["let"]),
        ("var outlet = 1, constant = 2;", []),
    ],
)
def test_the_es5_check_reads_code_not_strings_comments_or_regexes(
    snippet: str, found: list[str]
) -> None:
    assert not_es5(snippet) == found


def test_helper_is_es5() -> None:
    assert not_es5(helper_source()) == []


def test_helper_has_the_settings_placeholder_once_as_a_value() -> None:
    source = helper_source()

    assert source.count(PLACEHOLDER) == 1
    assert f"var SETTINGS = {PLACEHOLDER};" in source


def test_helper_is_package_data() -> None:
    assert resources.files("wechat_middleware").joinpath(RESOURCE).is_file()


@pytest.mark.slow
def test_helper_is_in_the_wheel(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = tmp_path.glob("wechat_middleware-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read(f"wechat_middleware/{RESOURCE}").decode("utf-8")

    assert shipped == helper_source()


def test_a_wecom_apps_helper_names_wecoms_sdk_and_the_ids_it_registers() -> None:
    # jweixin has no wx.agentConfig: a WeCom page registers with WeCom's own SDK
    # (docs/wecom-and-qrconnect.md section 1.5).
    from wechat_middleware.static import WeComPage, helper_script

    wecom = WeComPage("https://cdn.example/wecom.js", "ww0123456789abcdef", "1000002")
    body = helper_script("https://res.example/jweixin.js", "/wechat/jssdk", wecom).body.decode()
    plain = helper_script("https://res.example/jweixin.js", "/wechat/jssdk").body.decode()

    expected = (
        '"wecom": {"sdkUrl": "https://cdn.example/wecom.js", "corpId": "ww0123456789abcdef",'
        ' "agentId": "1000002"}'
    )
    assert expected in body
    assert '"wecom": null' in plain and PLACEHOLDER not in body + plain
