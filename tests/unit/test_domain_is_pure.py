"""webapp/domain holds pure rules: no Flask, no SQLAlchemy, no reading the clock.

The files are read with `ast` only, so this test never imports the webapp package.
"""

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "webapp" / "domain"
MODULES = sorted(DOMAIN.glob("*.py"))
FORBIDDEN_ROOTS = ("flask", "sqlalchemy", "flask_sqlalchemy", "flask_login", "flask_wtf")
CLOCK_CALLS = {"now", "today", "utcnow"}


def imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def test_it_finds_the_domain_modules():
    assert {"units.py", "windows.py", "authorization_rules.py"} <= {m.name for m in MODULES}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_it_imports_neither_flask_nor_sqlalchemy(module):
    for name in imported_modules(ast.parse(module.read_text())):
        root = name.lstrip(".").split(".")[0]
        assert root not in FORBIDDEN_ROOTS and not root.startswith("flask"), name
        # the webapp package itself builds the Flask app; only sibling rules are fair game
        assert not name.startswith(".."), name
        if root == "webapp":
            assert name.startswith("webapp.domain"), name


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_it_never_reads_the_clock(module):
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in CLOCK_CALLS, f"{module.name}:{node.lineno}"
