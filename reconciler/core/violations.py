"""Validation results as data: one ``Violation`` per problem, with file, line, column,
object and field path, and the three ways we print them (text, JSON, GitHub annotations).

A violation never stops anything by itself; the reconcile pass decides what an invalid
object means (it is skipped, its existing lock entries are kept).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from reconciler.core.memo import pickled_by_fields
from reconciler.core.printable import escape_controls

Severity = Literal["error", "warning"]
# A field's path inside an object: mapping keys and sequence indexes.
Path = tuple[str | int, ...]


def render_path(path: Path) -> str:
    """``("spec", "tags", 0, "from")`` -> ``spec.tags[0].from``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@pickled_by_fields
@dataclass(frozen=True, order=True, slots=True)
class Violation:
    """One problem with one place in one file. ``line`` and ``column`` are 1-based."""

    file: str
    line: int
    column: int
    object: str  # "Kind/namespace/name", or "" for a whole-file problem
    path: str  # "spec.tags[0].from.kind", or "" for the object or file itself
    message: str
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        """True for an error, which makes its object invalid; False for a warning."""
        return self.severity == "error"

    def text(self) -> str:
        """``file:line:column: object: path: message`` (empty parts left out), warnings
        marked. One line: control characters (from a name in the repo) are escaped."""
        where = f"{self.file}:{self.line}:{self.column}"
        parts = [where]
        if self.object:
            parts.append(self.object)
        if self.path:
            parts.append(self.path)
        prefix = "warning: " if self.severity == "warning" else ""
        return escape_controls(": ".join(parts) + f": {prefix}{self.message}")

    def github(self) -> str:
        """A GitHub Actions workflow command (``::error file=...``) that annotates the
        place; values escaped as GitHub requires, control characters escaped."""
        level = "error" if self.is_error else "warning"
        title = escape_controls(self.object or self.file)
        body = escape_controls(f"{self.path}: {self.message}" if self.path else self.message)
        return (
            f"::{level} file={_gh_prop(escape_controls(self.file))},line={self.line},"
            f"col={self.column},title={_gh_prop(title)}::{_gh_data(body)}"
        )


def _gh_prop(value: str) -> str:
    # GitHub workflow-command escaping for property values.
    return (
        value.replace("%", "%25")
        .replace("\r", "%0D")
        .replace("\n", "%0A")
        .replace(":", "%3A")
        .replace(",", "%2C")
    )


def _gh_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def sort_violations(violations: Iterable[Violation]) -> list[Violation]:
    """Sorted by file, line, column, object, path, message, severity; exact
    duplicates dropped."""
    return sorted(set(violations))


def format_violations(violations: Sequence[Violation], output: str) -> str:
    """Render violations as ``text`` (one per line), ``json`` (a list) or ``github``."""
    ordered = sort_violations(violations)
    if output == "json":
        return json.dumps([asdict(v) for v in ordered], indent=2)
    if output == "github":
        return "\n".join(v.github() for v in ordered)
    return "\n".join(v.text() for v in ordered)
