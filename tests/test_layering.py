"""The project's shape, read from its sources with `ast` (no database, nothing imported but the statuses).

1. Layering: the engine's pure core depends on nothing of the project but itself and the statuses;
   the orchestrator knows nothing of the trip, the dashboard or the API; the trip domain knows
   nothing of its UIs; the dashboard does not reach into the API.
2. Statuses are asked, never spelled: outside `orchestrator/status.py` and the engine's core no code
   or template compares a status with a string (`ProcessStatus(value).is_terminal`, not
   `value in ("completed", "cancelled")`), so a new status cannot be missed by a forgotten list.

The checkers are also run on small snippets, so a checker that finds nothing cannot pass unnoticed.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.status import ProcessStatus, StepStatus

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Top-level packages of the project: an import of anything else is a third-party one.
PROJECT_PACKAGES = frozenset(
    p.name for p in PROJECT_ROOT.iterdir() if (p / "__init__.py").is_file() and not p.name.startswith(".")
) | {"manage"}
STATUS_VALUES = frozenset(ProcessStatus.values) | frozenset(StepStatus.values)
# Where status strings may be spelled: the statuses themselves, and the core that defines their rules.
STATUS_HOMES = ("orchestrator/status.py", "orchestrator/engine/")
STATUS_SCANNED_APPS = ("orchestrator", "booking", "dashboard", "api", "config", "chaos")


# --- import layering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    line: int
    module: str


@dataclass(frozen=True)
class LayerRule:
    name: str
    scope: str  # a folder of the project; the rule applies to every .py under it
    forbidden: tuple[str, ...]  # modules (and their submodules) it may not import...
    allowed: tuple[str, ...] = ()  # ...unless they are one of these (or under one)
    exempt: tuple[str, ...] = ()  # files of the scope the rule does not apply to


def is_under(module: str, prefixes: tuple[str, ...] | frozenset[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


LAYER_RULES = [
    LayerRule(
        "engine-core-is-pure",
        "orchestrator/engine",
        forbidden=tuple(sorted(PROJECT_PACKAGES)),
        allowed=("orchestrator.engine", "orchestrator.status"),
    ),
    LayerRule("orchestrator-ignores-its-users", "orchestrator", forbidden=("booking", "dashboard", "api")),
    LayerRule("booking-ignores-its-uis", "booking", forbidden=("dashboard", "api")),
    # The project package is the bottom layer: settings, the Celery app, the runtime. Only its
    # URLconf and ASGI application wire the apps together.
    LayerRule(
        "config-is-below-the-apps",
        "config",
        forbidden=("orchestrator", "booking", "dashboard", "api"),
        exempt=("config/urls.py", "config/asgi.py"),
    ),
    LayerRule("dashboard-ignores-api", "dashboard", forbidden=("api",)),
    # The rest of the project uses the orchestrator's facade (processes, selectors, previews,
    # actions, outbox, dead letters, definitions, status) and the engine's data types, never its
    # rules or codec directly.
    *(
        LayerRule(
            f"{app}-uses-the-facade",
            app,
            forbidden=("orchestrator.engine",),
            allowed=("orchestrator.engine.types",),
        )
        for app in ("booking", "dashboard", "api", "config", "chaos")
    ),
]


def is_project_module(dotted: str) -> bool:
    """A module or package of the project: `from orchestrator import status` imports a module, while
    `from orchestrator.status import ProcessStatus` imports a name of one."""
    path = PROJECT_ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def module_name(path: Path) -> tuple[str, str]:
    """(the module's dotted name, the package its relative imports start from)."""
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def imported_modules(source: str, package: str) -> Iterator[Import]:
    """Every module a source imports, at any depth (function-level and TYPE_CHECKING imports are
    dependencies too), relative imports resolved against `package`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                yield Import(node.lineno, candidate if is_project_module(candidate) else base)


def layer_violations(rule: LayerRule, source: str, package: str) -> list[Import]:
    return [
        imp
        for imp in imported_modules(source, package)
        if is_under(imp.module, rule.forbidden) and not is_under(imp.module, rule.allowed)
    ]


def python_files(folder: str) -> list[Path]:
    return sorted(p for p in (PROJECT_ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def relative(path: Path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


@pytest.mark.parametrize("rule", LAYER_RULES, ids=lambda rule: rule.name)
def test_import_layering(rule: LayerRule) -> None:
    files = [path for path in python_files(rule.scope) if relative(path) not in rule.exempt]
    assert files, f"{rule.scope} has no Python files: the rule would check nothing"
    problems = [
        f"{relative(path)}:{imp.line} imports {imp.module}"
        for path in files
        for imp in layer_violations(rule, path.read_text(encoding="utf-8"), module_name(path)[1])
    ]
    assert not problems, f"{rule.name}:\n" + "\n".join(problems)


# --- status strings in Python ----------------------------------------------------------------------


def names_a_status(text: str) -> bool:
    """The literal is a status value, part of one ("compensat", "_failed") or lists one ("failed,paused")."""
    return bool(text) and any(text in value or value in text for value in STATUS_VALUES)


def mentions_status(node: ast.AST) -> bool:
    # Keeps `action == "cancel"` and `kind == "compensation"` apart from status checks.
    return "status" in ast.unparse(node).lower()


def string_literals(node: ast.AST) -> list[str]:
    """The strings of a constant, or of a tuple, list or set of constants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for element in node.elts for s in string_literals(element)]
    return []


def spells_status(literal_side: ast.AST, other_side: ast.AST) -> bool:
    return mentions_status(other_side) and any(names_a_status(s) for s in string_literals(literal_side))


def status_string_uses(source: str) -> Iterator[tuple[int, str]]:
    """(line, code) of every comparison of a status with a string literal."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            # Adjacent pairs, as Python evaluates a chain: `a == "x" == b`.
            operands = [node.left, *node.comparators]
            if any(spells_status(a, b) or spells_status(b, a) for a, b in itertools.pairwise(operands)):
                yield node.lineno, ast.unparse(node)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"startswith", "endswith"}
            and any(spells_status(arg, node.func.value) for arg in node.args)
        ):
            yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.Match) and mentions_status(node.subject):
            for case in node.cases:
                if any(names_a_status(s) for s in pattern_strings(case.pattern)):
                    yield (
                        case.pattern.lineno,
                        f"match {ast.unparse(node.subject)}: case {ast.unparse(case.pattern)}",
                    )


def pattern_strings(pattern: ast.pattern) -> list[str]:
    """The string constants a `case` pattern matches: `case "failed"` or `case "failed" | "paused"`."""
    if isinstance(pattern, ast.MatchValue):
        return string_literals(pattern.value)
    if isinstance(pattern, ast.MatchOr):
        return [s for p in pattern.patterns for s in pattern_strings(p)]
    return []


def status_scanned_files() -> list[Path]:
    """Product code outside the statuses' homes: no migrations (frozen history), no tests."""
    return [
        path
        for app in STATUS_SCANNED_APPS
        for path in python_files(app)
        if "migrations" not in path.parts
        and "tests" not in path.parts
        and not path.name.startswith("test")
        and not relative(path).startswith(STATUS_HOMES)
    ]


def test_no_status_strings_in_python() -> None:
    files = status_scanned_files()
    assert len(files) > 20, "the scan found almost no files: the project layout changed"
    problems = [
        f"{relative(path)}:{line} {code}"
        for path in files
        for line, code in status_string_uses(path.read_text(encoding="utf-8"))
    ]
    assert not problems, "compare statuses through their vocabulary (orchestrator/status.py):\n" + "\n".join(
        problems
    )


# --- status strings in templates -------------------------------------------------------------------

_IF_TAG = re.compile(r"{%-?\s*(?:el)?if\b(.*?)-?%}", re.DOTALL)
_LITERAL = r"""(?P<{0}>"[^"]*"|'[^']*')"""
# A variable with its filters, which may take literal or variable arguments: `process.status|lower`.
_VARIABLE = r"""(?P<{0}>[\w.]+(?:\|\w+(?::(?:"[^"]*"|'[^']*'|[\w.]+))?)*)"""
_OPERATOR = r"\s*(?:==|!=|<=|>=|<|>)\s*|\s+(?:not\s+)?in\s+"
_COMPARISONS = [
    re.compile(_VARIABLE.format("variable") + rf"(?:{_OPERATOR})" + _LITERAL.format("literal")),
    re.compile(_LITERAL.format("literal") + rf"(?:{_OPERATOR})" + _VARIABLE.format("variable")),
]


def template_status_strings(text: str) -> Iterator[tuple[int, str]]:
    """(line, comparison) of every `{% if %}`/`{% elif %}` comparing a status with a string literal."""
    for tag in _IF_TAG.finditer(text):
        for pattern in _COMPARISONS:
            for found in pattern.finditer(tag.group(1)):
                if "status" in found["variable"].lower() and names_a_status(found["literal"][1:-1]):
                    yield text.count("\n", 0, tag.start()) + 1, found.group(0)


def test_no_status_strings_in_templates() -> None:
    templates = sorted((PROJECT_ROOT / "templates").rglob("*.html"))
    assert templates, "no templates found under templates/"
    problems = [
        f"{relative(path)}:{line} {comparison}"
        for path in templates
        for line, comparison in template_status_strings(path.read_text(encoding="utf-8"))
    ]
    assert not problems, "ask the status (st.status.is_settled), do not spell it:\n" + "\n".join(problems)


# --- the checkers themselves -----------------------------------------------------------------------

ENGINE_RULE = LAYER_RULES[0]
ORCHESTRATOR_RULE = LAYER_RULES[1]


@pytest.mark.parametrize(
    ("rule", "source", "package", "module"),
    [
        (
            ENGINE_RULE,
            "from orchestrator.models import ProcessInstance",
            "orchestrator.engine",
            "orchestrator.models",
        ),
        (ENGINE_RULE, "def f():\n    import config.settings", "orchestrator.engine", "config.settings"),
        (ENGINE_RULE, "from .. import models", "orchestrator.engine", "orchestrator.models"),
        (ENGINE_RULE, "from ..selectors import x", "orchestrator.engine", "orchestrator.selectors"),
        (ENGINE_RULE, "from orchestrator import graph", "orchestrator.engine", "orchestrator.graph"),
        (
            ORCHESTRATOR_RULE,
            "if TYPE_CHECKING:\n    from booking.models import Trip",
            "orchestrator",
            "booking.models",
        ),
        (ORCHESTRATOR_RULE, "import dashboard.views as v", "orchestrator.admin", "dashboard.views"),
    ],
)
def test_layer_checker_flags(rule: LayerRule, source: str, package: str, module: str) -> None:
    assert [imp.module for imp in layer_violations(rule, source, package)] == [module]


@pytest.mark.parametrize(
    ("rule", "source", "package"),
    [
        (ENGINE_RULE, "from orchestrator.status import ProcessStatus", "orchestrator.engine"),
        (ENGINE_RULE, "from orchestrator import status", "orchestrator.engine"),
        (ENGINE_RULE, "from . import types\nfrom .decide import decide", "orchestrator.engine"),
        (ENGINE_RULE, "import json\nfrom django.db import models", "orchestrator.engine"),
        (ORCHESTRATOR_RULE, "from config.settings import X\nfrom apiclient import y", "orchestrator"),
    ],
)
def test_layer_checker_allows(rule: LayerRule, source: str, package: str) -> None:
    assert layer_violations(rule, source, package) == []


def test_module_name_gives_the_package_relative_imports_start_from() -> None:
    assert module_name(PROJECT_ROOT / "orchestrator/engine/decide.py") == (
        "orchestrator.engine.decide",
        "orchestrator.engine",
    )
    assert module_name(PROJECT_ROOT / "orchestrator/engine/__init__.py") == (
        "orchestrator.engine",
        "orchestrator.engine",
    )


@pytest.mark.parametrize(
    "source",
    [
        'x.status == "failed"',
        '"cancelled" != process.status',
        'status in ("completed", "cancelled")',
        'st.status not in {"compensated", "skipped"}',
        'ProcessStatus(value) == "paused"',
        'st.status.startswith("compensat")',
        'step_status.endswith(("_failed", "_retrying"))',
        '"compensat" in st.status',
        'def f(st):\n    return st.status == "running"',
        'match st.status:\n    case "failed" | "paused":\n        pass',
    ],
)
def test_python_checker_flags(source: str) -> None:
    assert len(list(status_string_uses(source))) == 1


@pytest.mark.parametrize(
    "source",
    [
        "ProcessStatus(x).is_terminal",
        "st.status == StepStatus.FAILED",
        "status in ProcessStatus.terminal()",
        'action == "cancel"',
        'kind == "compensation"',
        'status in ("200", "201")',
        'status.startswith("4") and status != "503"',
        'command.startswith("compensat")',
        'match action:\n    case "cancel":\n        pass',
    ],
)
def test_python_checker_allows(source: str) -> None:
    assert list(status_string_uses(source)) == []


@pytest.mark.parametrize(
    "template",
    [
        '{% if process.status == "failed" %}x{% endif %}',
        "<p>\n{% elif 'cancelled' != st.status %}x{% endif %}",
        '{% if a and process.status|lower == "compensated" or b %}x{% endif %}',
        '{% if "compensat" in st.status %}x{% endif %}',
        '{% if st.status in "failed,paused" %}x{% endif %}',
    ],
)
def test_template_checker_flags(template: str) -> None:
    assert len(list(template_status_strings(template))) == 1


@pytest.mark.parametrize(
    "template",
    [
        "{% if st.status.is_settled %}x{% endif %}",
        '{% if action == "retry" %}x{% endif %}',
        '{% if state == "failed" %}x{% endif %}',
        '{% if bulk.status == "halted" %}x{% endif %}',
        '{{ process.status }} == "failed"',  # text, not a tag
    ],
)
def test_template_checker_allows(template: str) -> None:
    assert list(template_status_strings(template)) == []


def test_template_checker_reports_the_line() -> None:
    assert [line for line, _ in template_status_strings('a\nb\n{% if x.status == "paused" %}')] == [3]
