"""The house's layers, read from the source: the core knows no framework, one loop drives
every adapter, and the decision is reached only through it.

These are design rules (DEVELOPERS.md, "How we write code"), checked on the code itself
so a shortcut added later fails here rather than in a review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import wechat_middleware

PACKAGE = Path(wechat_middleware.__file__).parent
FRAMEWORKS = {"flask", "starlette", "fastapi", "django", "asgiref", "werkzeug"}


def _core_modules() -> list[Path]:
    return [
        path
        for path in PACKAGE.rglob("*.py")
        if not {"integrations", "testing"} & set(path.relative_to(PACKAGE).parts)
    ]


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (relative ones as ``.name``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def _calls(path: Path, name: str) -> bool:
    """Whether ``path`` calls a function or method called ``name``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called == name:
                return True
    return False


def test_no_core_module_imports_a_web_framework() -> None:
    for path in _core_modules():
        found = {name.split(".")[0] for name in _imports(path)} & FRAMEWORKS
        assert not found, f"{path.name} imports {found}: framework glue lives in integrations/"


def test_no_core_module_imports_the_framework_glue() -> None:
    for path in _core_modules():
        glue = {name for name in _imports(path) if "integrations" in name}
        assert not glue, f"{path.name} imports {glue}"


def test_only_the_engine_runs_the_decision_and_its_steps() -> None:
    """One driving loop: every adapter translates, the engine decides and performs."""
    modules = [*_core_modules(), *(PACKAGE / "integrations").glob("*.py")]
    deciding = sorted(p.name for p in modules if _calls(p, "decide"))
    performing = sorted(p.name for p in modules if _calls(p, "perform"))
    assert deciding == ["engine.py"]
    assert performing == ["engine.py"]


def test_every_adapter_is_driven_by_the_engine() -> None:
    adapters = [PACKAGE / "wsgi.py", PACKAGE / "asgi.py", PACKAGE / "integrations/django.py"]
    for path in adapters:
        assert _calls(path, "Engine"), f"{path.name} does not build the engine"
