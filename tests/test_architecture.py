"""The layering the README describes, checked: the core imports no shell (network, git,
files, processes, environment) and nothing outside the core but itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "reconciler" / "core"
FORBIDDEN = {"httpx", "git", "subprocess", "socket", "sqlite3", "shutil", "os", "watchfiles"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_no_shell(path: Path) -> None:
    for name in imports(path):
        top = name.split(".")[0]
        assert top not in FORBIDDEN, f"{path.name} imports {name}"
        if top == "reconciler":
            assert name.startswith("reconciler.core"), f"{path.name} imports {name}"
