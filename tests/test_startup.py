"""A misconfigured app fails to start, naming the setting, instead of serving 500s.

Starlette builds its middleware stack at the first request, so a middleware that
checks its configuration in ``__init__`` lets uvicorn report "Application startup
complete" and then answer every request with 500. ``WeChat.from_env()`` checks what
the middleware needs when the app module is imported (docs/settings.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FASTAPI_APP = """
from fastapi import FastAPI
from wechat_middleware import WeChat
from wechat_middleware.asgi import WeChatMiddleware

app = FastAPI()
app.add_middleware(WeChatMiddleware, wechat=WeChat.from_env())
"""


@pytest.mark.slow
def test_uvicorn_refuses_to_start_an_app_without_a_secret_key(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(FASTAPI_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env.update(WECHAT_APP_ID="wx0123456789abcdef", WECHAT_APP_SECRET="s", WECHAT_STORE="memory://")
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "myapp:app", "--port", "0"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "WECHAT_SECRET_KEY is required" in done.stderr
    assert "Application startup complete" not in done.stderr
