"""The layering the README describes, checked: the core imports no shell (network, git,
files, processes, environment) and nothing outside the core but itself; the registry
shell's plain modules (values, reasons, limits, what bodies mean) import no httpx, so code
that only holds their values does not load the HTTP client; the product imports no test
support, and the wheel ships the product only."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "reconciler" / "core"
REGISTRY = CORE.parent / "registry"
REGISTRY_PLAIN = (
    "errors",
    "limits",
    "manifests",
    "media_types",
    "models",
    "publickeys",
    "tagcache",
    "taglists",
    "targets",
)
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


PACKAGE = CORE.parent
ROOT = PACKAGE.parent


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_product_does_not_import_test_support(path: Path) -> None:
    """Test and demo tooling lives in testsupport/, outside the wheel: the product must
    run without it."""
    for name in imports(path):
        assert name.split(".")[0] != "testsupport", f"{path.relative_to(ROOT)} imports {name}"


def test_wheel_ships_the_product_only() -> None:
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]
    assert wheel["packages"] == ["reconciler"]
    assert all(not target.startswith("testsupport") for target in wheel["force-include"].values())


@pytest.mark.parametrize("name", REGISTRY_PLAIN)
def test_registry_plain_module_imports_no_httpx(name: str) -> None:
    plain = {f"reconciler.registry.{n}" for n in REGISTRY_PLAIN} | {"reconciler.registry"}
    for imported in imports(REGISTRY / f"{name}.py"):
        assert imported.split(".")[0] != "httpx", f"{name}.py imports {imported}"
        if imported.startswith("reconciler.") and not imported.startswith("reconciler.core"):
            assert imported in plain, f"{name}.py imports {imported}"
