"""The core's public API is documented: every module of ``reconciler.core`` has a
docstring, and so has every public function, class, method and property in it, saying
what it takes and what it promises. Private names (a leading underscore, dunders
included) are exempt, and so is whatever a public class's decorator generates, since it
is not in the source."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "reconciler" / "core"
MODULES = sorted(CORE.rglob("*.py"))

Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _is_overload(node: Definition) -> bool:
    # The implementation after a run of @overload stubs carries the docstring.
    return any(
        (isinstance(d, ast.Name) and d.id == "overload")
        or (isinstance(d, ast.Attribute) and d.attr == "overload")
        for d in node.decorator_list
    )


def undocumented(body: Sequence[ast.stmt], prefix: str = "") -> Iterator[str]:
    """Qualified names of the public definitions in ``body`` (recursing into public
    classes) that have no docstring, each with its line."""
    for node in body:
        if not isinstance(node, Definition) or node.name.startswith("_"):
            continue
        if ast.get_docstring(node) is None and not _is_overload(node):
            yield f"{prefix}{node.name} (line {node.lineno})"
        if isinstance(node, ast.ClassDef):
            yield from undocumented(node.body, f"{prefix}{node.name}.")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_documents_its_public_api(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{path.name}: no module docstring (what it owns, what not)"
    missing = list(undocumented(tree.body))
    assert not missing, f"{path.name}: no docstring on " + ", ".join(missing)


SAMPLE = '''
class Public:
    """Documented."""

    x: int

    def __init__(self) -> None:
        pass

    def method(self) -> None:
        pass

    @property
    def prop(self) -> int:
        return 1

    def _private(self) -> None:
        pass


class _Hidden:
    def method(self) -> None:
        pass


def function() -> None:
    pass


async def task() -> None:
    """Documented."""
'''


def test_the_check_finds_what_it_should() -> None:
    """The rule itself: dunders, private names and members of private classes pass."""
    found = [name.split(" ")[0] for name in undocumented(ast.parse(SAMPLE).body)]
    assert found == ["Public.method", "Public.prop", "function"]
