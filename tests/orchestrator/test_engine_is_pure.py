"""The decision logic stays pure: no ORM, no clock, no randomness, no I/O anywhere in the engine
folder (the database shell lives beside it, in orchestrator/processes.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "orchestrator" / "engine"
# Every module of the folder, so a new one cannot slip in impure.
PURE_MODULES = sorted(path.name for path in ENGINE.glob("*.py"))
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


def test_the_engine_folder_is_scanned() -> None:
    assert {"decide.py", "types.py", "codec.py"} <= set(PURE_MODULES)


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
                allowed = name.startswith("orchestrator.engine") or name == "orchestrator.status"
                assert allowed, f"{module} imports {name}"


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
