"""The package builds as a correct wheel and sdist, and the wheel installs and runs.

Until the package is on an index, the README's install is from a clone or a built
wheel (`python -m build`): both must give a working install with `py.typed`, the
console script, the pytest plugin and the package data.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_the_wheel_holds_the_package_its_types_and_entry_points(dist: Path) -> None:
    (wheel,) = dist.glob("wechat_middleware-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(
            archive.read(n).decode() for n in names if n.endswith("entry_points.txt")
        )
    for needed in (
        "wechat_middleware/__init__.py",
        "wechat_middleware/py.typed",
        "wechat_middleware/keys.py",
        "wechat_middleware/stores/sqlite.py",
        "wechat_middleware/testing/fake_wechat.py",
        "wechat_middleware/testing/pytest_plugin.py",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("tests/", "bench/", "examples/"))]
    assert "wechat-middleware = wechat_middleware.__main__:main" in entry_points
    assert "wechat_middleware = wechat_middleware.testing.pytest_plugin" in entry_points


def test_the_sdist_holds_what_builds_and_tests_it(dist: Path) -> None:
    (sdist,) = dist.glob("wechat_middleware-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in (
        "pyproject.toml",
        "README.md",
        "wechat_middleware/py.typed",
        "tests/conftest.py",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.startswith((".venv/", "test-artifacts/"))]


def test_the_wheel_installs_with_an_extra_and_runs(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("wechat_middleware-*-py3-none-any.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{wheel}[flask]"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import flask, wechat_middleware, wechat_middleware.wsgi;"
            "from wechat_middleware.testing import FakeWeChat;"
            "print(wechat_middleware.__version__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # not the checkout: the installed package must be complete
    )
    assert check.returncode == 0, check.stderr
    cli = subprocess.run(
        [str(venv / "bin" / "wechat-middleware"), "--help"], capture_output=True, text=True
    )
    assert cli.returncode == 0 and "doctor" in cli.stdout


def test_the_package_imports_without_flask_starlette_or_anyio(dist: Path, tmp_path: Path) -> None:
    """The adapters import no framework: a plain WSGI or ASGI app needs neither."""
    (wheel,) = dist.glob("wechat_middleware-*-py3-none-any.whl")
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u;"
            "assert not any(u.find_spec(m) for m in ('flask', 'starlette', 'anyio', 'werkzeug'));"
            "import wechat_middleware, wechat_middleware.wsgi, wechat_middleware.asgi;"
            "import wechat_middleware.testing",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stderr
