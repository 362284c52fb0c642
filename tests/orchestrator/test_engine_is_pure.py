"""The decision logic stays pure: no ORM, no clock, no randomness, no I/O in its modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "orchestrator" / "engine"
PURE_MODULES = ["decide.py", "types.py", "validate.py", "codec.py", "summary.py"]
ALLOWED_PROJECT_IMPORTS = {"orchestrator.engine.types", "orchestrator.engine.decide", "orchestrator.status"}
FORBIDDEN_MODULES = {
    "time",
    "random",
    "os",
    "socket",
    "requests",
    "django.db",
    "django.utils.timezone",
    "celery",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "sleep", "random", "uuid4", "open"}


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_nothing_impure(module: str) -> None:
    tree = ast.parse((ENGINE / module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            assert not any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_MODULES), name
            if name.startswith(("orchestrator", "booking", "dashboard", "config")):
                assert name in ALLOWED_PROJECT_IMPORTS, f"{module} imports {name}"


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_reads_no_clock(module: str) -> None:
    tree = ast.parse((ENGINE / module).read_text())
    calls = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert not calls & FORBIDDEN_CALLS, calls & FORBIDDEN_CALLS


def test_status_module_holds_only_enums() -> None:
    source = (ENGINE.parent / "status.py").read_text()
    assert "objects" not in source and "ForeignKey" not in source
