"""Every Python snippet in the README runs as written (against FakeWeChat).

The snippets are the first code a user copies; a broken one costs trust at once.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wechat_middleware.testing import FakeWeChat

README = Path(__file__).resolve().parent.parent / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 5


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(
    code: str, fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "WECHAT_APP_ID": fake_wechat.app_id,
        "WECHAT_APP_SECRET": fake_wechat.app_secret,
        "WECHAT_SECRET_KEY": "readme-secret-key-0123456789abcdef",
        "WECHAT_API_BASE": fake_wechat.api_base,
        "WECHAT_OPEN_BASE": fake_wechat.open_base,
        "WECHAT_STORE": f"sqlite:///{tmp_path}/readme.sqlite3",
    }.items():
        monkeypatch.setenv(name, value)
    code = code.replace("https://example.com/", "http://127.0.0.1/")

    def application(environ: object, start_response: object) -> list[bytes]:
        return [b""]

    namespace: dict[str, object] = {"__name__": "readme", "application": application}
    exec(compile(code, str(README), "exec"), namespace)
