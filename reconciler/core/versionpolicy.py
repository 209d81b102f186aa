"""Version policies: which of a repository's tags a policy tag may pin, and in what order.

A :class:`~reconciler.core.lockrecords.PolicySpec` (what the annotations declare) compiles
to a :class:`VersionPolicy`: ``semver`` (a node-semver range, :mod:`reconciler.core.semver`),
``tag-pattern`` (a regular expression whose ``version`` group is ordered numerically or
alphabetically, :mod:`reconciler.core.tagpattern`) or ``calver`` (a layout,
:mod:`reconciler.core.calver`).

The order is total and stable: a tag's place depends on its own name only, and two tags
the policy ranks equal (``1.4.7`` and ``v1.4.7``; ``v10`` and ``v010`` numerically) are
ordered by name, the greater name in code-point order first. So the same tag list in any
order, with duplicates or not, always gives the same choice. Tags that are not image tag
names (``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``) are never candidates, nor are the tags
the policy's ``exclude-tags`` list names or matches (:mod:`reconciler.core.tagexclude`).

Pure: tags in, an ordering out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from reconciler.core.calver import Layout, LayoutError, parse_layout
from reconciler.core.lockrecords import ALPHABETICAL, NUMERICAL, PolicySpec
from reconciler.core.semver import Range, RangeError, parse_range, parse_version
from reconciler.core.tagexclude import excluded
from reconciler.core.tagpattern import PatternError, TagPattern, compile_pattern, numeric_value

TAG_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")

SEMVER = "semver"
PATTERN = "tag-pattern"
CALVER = "calver"


class PolicyError(ValueError):
    """A policy that cannot be used. ``kind`` is the policy's kind (``semver``,
    ``tag-pattern``, ``calver``), ``offset`` the place of the problem in its text (None:
    the whole value)."""

    def __init__(self, kind: str, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class VersionPolicy:
    """A compiled policy. :meth:`key` places a tag in the policy's order (None: not a
    candidate); :func:`rank` orders a listing."""

    spec: PolicySpec
    semver: Range | None = None
    pattern: TagPattern | None = None
    calver: Layout | None = None

    def key(self, tag: str) -> tuple[Any, ...] | None:
        """Where ``tag`` stands in the policy's order, ties not yet broken; None when the
        policy does not admit it (an ``exclude-tags`` entry names or matches it, too)."""
        if not TAG_NAME_RE.fullmatch(tag) or excluded(tag, self.spec.exclude):
            return None
        if self.semver is not None:
            version = parse_version(tag)
            if version is None or not self.semver.satisfied_by(version):
                return None
            return version.key
        if self.pattern is not None:
            value = self.pattern.extract(tag)
            if value is None:
                return None
            if (self.spec.order or NUMERICAL) == ALPHABETICAL:
                return (value,)
            number: Decimal | None = numeric_value(value)
            return None if number is None else (number,)
        assert self.calver is not None
        return self.calver.key(tag)

    def describe(self) -> str:
        """``semver ~1.4`` and the like, for messages and the lock's readers."""
        return self.spec.describe()


def compile_policy(spec: PolicySpec) -> VersionPolicy:
    """Compile ``spec``. Raises PolicyError saying which part is wrong and where."""
    if spec.semver is not None:
        try:
            return VersionPolicy(
                spec, semver=parse_range(spec.semver, include_prereleases=spec.prereleases)
            )
        except RangeError as exc:
            raise PolicyError(SEMVER, exc.message, exc.offset) from None
    if spec.pattern is not None:
        if (spec.order or NUMERICAL) not in (NUMERICAL, ALPHABETICAL):
            raise PolicyError(PATTERN, f"order must be {NUMERICAL} or {ALPHABETICAL}")
        try:
            return VersionPolicy(spec, pattern=compile_pattern(spec.pattern))
        except PatternError as exc:
            raise PolicyError(PATTERN, exc.message, exc.offset) from None
    if spec.calver is not None:
        try:
            return VersionPolicy(spec, calver=parse_layout(spec.calver))
        except LayoutError as exc:
            raise PolicyError(CALVER, exc.message, exc.offset) from None
    raise PolicyError(SEMVER, "names no policy (semver, tag-pattern or calver)")


@dataclass(frozen=True, order=True)
class Candidate:
    """A tag a policy admits, sortable: ``key`` (the policy's order) then the name."""

    key: tuple[Any, ...]
    tag: str


def rank(policy: VersionPolicy, tags: Iterable[str]) -> list[Candidate]:
    """The tags ``policy`` admits, best first, each once. Total and stable (see the
    module's docstring)."""
    out = []
    for tag in set(tags):
        key = policy.key(tag)
        if key is not None:
            out.append(Candidate(key, tag))
    out.sort(reverse=True)
    return out


def compare(policy: VersionPolicy, a: str, b: str) -> int | None:
    """-1, 0 or 1 as ``a`` stands below, with, or above ``b`` in the policy's order (ties
    by name, as :func:`rank`); None when the policy does not admit one of them."""
    key_a, key_b = policy.key(a), policy.key(b)
    if key_a is None or key_b is None:
        return None
    left, right = Candidate(key_a, a), Candidate(key_b, b)
    return (left > right) - (left < right)
