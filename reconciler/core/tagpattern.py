"""The ``tag-pattern`` version policy's regular expression: checked, compiled, and used
to extract the ``version`` group from a tag (Flux's ``filterTags`` with ``extract``).

A pattern comes from a repository, and its author is trusted to write manifests, not to
stall the process: Python's backtracking ``re`` can take exponential time on patterns
such as ``(a+)+$`` and polynomial time on ``.*.*.*x``, and a registry serves thousands of
tags. So before it is used a pattern must be one a backtracking engine runs in linear
time per start position, which this module checks on the parsed pattern:

- what repeats more than once is a single character or class (``\\d+``, ``[a-f0-9]{7,}``),
  never a group or an alternation (``(\\.\\d+)*``: spell the cases out instead);
- what may follow a repetition cannot start with a character the repetition takes
  (``.*-``: write ``[^-]*-``), so the engine never has two ways to split a tag;
- likewise for what is optional (``a?a``, ``(?:-rc)?-``) and for alternatives
  (``(?:a|ab)``): the alternatives of a group start with different characters, at most
  one of them may match nothing, and an optional part may not match nothing; otherwise a
  chain of them (``a?a?a?...aaa``, ``(?:a|aa)(?:a|aa)...``) is exponential;
- case-insensitive matching counts the non-ASCII characters that match tag letters
  (``(?i)\\u017f``, the long s, matches ``s``; the Kelvin sign ``k``), in ``(?i)`` and ``(?i:...)`` alike;
- no back-references or look-arounds.

Tags hold only ``[A-Za-z0-9_.-]``, so character sets are worked out over those 65
characters. Pure: text in, a compiled pattern or a :class:`PatternError` out.
"""

from __future__ import annotations

import importlib
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# The stdlib's pattern parser (re._parser since 3.11): the tree ``re`` itself compiles.
_parser: Any = importlib.import_module("re._parser")

VERSION_GROUP = "version"
MAX_PATTERN_LENGTH = 256
MAX_NUMBER_DIGITS = 40
# The characters an image tag may hold (the distribution spec's tag grammar).
TAG_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_NUMERIC_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class PatternError(ValueError):
    """A pattern that is refused: ``message`` says why, ``offset`` where (0-based) when
    known."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class TagPattern:
    """A checked pattern with its ``version`` group."""

    text: str
    compiled: re.Pattern[str]

    def extract(self, tag: str) -> str | None:
        """The ``version`` group of the first match in ``tag`` (``re.search``: anchor with
        ``^`` and ``$`` to match whole tags), or None when it does not match or the group
        took no part."""
        match = self.compiled.search(tag)
        return None if match is None else match.group(VERSION_GROUP)


def numeric_value(text: str) -> Decimal | None:
    """``text`` as a number for the ``numerical`` order (digits, one optional fraction:
    ``12``, ``1.5``), exactly; None when it is not one."""
    if len(text) > MAX_NUMBER_DIGITS or not _NUMERIC_RE.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex admits only numbers
        return None


def compile_pattern(text: str) -> TagPattern:
    """Check and compile ``text``. Raises PatternError."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise PatternError(f"longer than {MAX_PATTERN_LENGTH} characters", MAX_PATTERN_LENGTH)
    try:
        compiled = re.compile(text)
        tree = _parser.parse(text)
    except re.error as exc:
        raise PatternError(f"not a regular expression: {exc.msg}", exc.pos) from None
    except (RecursionError, OverflowError, ValueError) as exc:
        raise PatternError(f"not a regular expression: {exc}") from None
    if VERSION_GROUP not in compiled.groupindex:
        raise PatternError(
            f"has no (?P<{VERSION_GROUP}>...) group: name the part of the tag to order by, "
            r"e.g. ^v(?P<version>\d+)$"
        )
    flags = int(tree.state.flags)
    if flags & ~(re.IGNORECASE | re.UNICODE | re.ASCII):
        raise PatternError("flags other than (?i) and (?a) are not supported")
    _Checker(bool(flags & re.IGNORECASE)).sequence(list(tree), frozenset(), True)
    return TagPattern(text, compiled)


def _name(op: Any) -> str:
    return str(getattr(op, "name", op))


_CATEGORIES = {
    "CATEGORY_DIGIT": frozenset(string.digits),
    "CATEGORY_WORD": frozenset(string.ascii_letters + string.digits + "_"),
    "CATEGORY_SPACE": frozenset(),
}
_REFUSED = {
    "GROUPREF": "back-references",
    "GROUPREF_EXISTS": "conditional groups",
    "ASSERT": "look-ahead and look-behind",
    "ASSERT_NOT": "look-ahead and look-behind",
    "ATOMIC_GROUP": "atomic groups",
    "POSSESSIVE_REPEAT": "possessive repeats",
}
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT")
# Characters outside ASCII that case-insensitive matching takes for tag letters (all of
# them: found by trying every code point against re itself).
_FOLDS = {0x130: "Ii", 0x131: "Ii", 0x17F: "Ss", 0x212A: "Kk"}
_AMBIGUOUS = (
    "the engine could try both ways at every such place, exponential in how many there are "
    "(give each alternative its own first character; make optional what cannot be empty "
    "and cannot start like what follows it)"
)


class _Checker:
    """Walks a parsed pattern right to left, knowing at each point which characters may
    come next (``follow``), and refuses a repetition that could give the engine two ways
    to split a tag."""

    def __init__(self, ignore_case: bool) -> None:
        self.ignore_case = ignore_case

    def chars(self, op: str, av: Any) -> frozenset[str] | None:
        """The tag characters a single-character item matches; None when the item is not
        one character."""
        if op == "LITERAL":
            found = frozenset({chr(av)}) & TAG_CHARS
            if self.ignore_case:
                found |= frozenset(_FOLDS.get(av, ""))
        elif op == "NOT_LITERAL":
            found = TAG_CHARS - {chr(av)}
        elif op == "ANY":
            found = TAG_CHARS
        elif op == "IN":
            found = self._set(av)
        else:
            return None
        if self.ignore_case:
            found = found | frozenset(c.swapcase() for c in found)
        return frozenset(found & TAG_CHARS)

    def _set(self, items: Sequence[tuple[Any, Any]]) -> frozenset[str]:
        negate = False
        found: set[str] = set()
        folds: set[str] = set()  # what case folding adds (left out of a negated set: wider)
        for raw_op, av in items:
            op = _name(raw_op)
            if op == "NEGATE":
                negate = True
            elif op == "LITERAL":
                found.add(chr(av))
                folds.update(_FOLDS.get(av, ""))
            elif op == "RANGE":
                found.update(c for c in TAG_CHARS if av[0] <= ord(c) <= av[1])
                for code, pair in _FOLDS.items():
                    if av[0] <= code <= av[1]:
                        folds.update(pair)
            elif op == "CATEGORY":
                category = _name(av)
                positive = category.replace("CATEGORY_NOT_", "CATEGORY_")
                chars = _CATEGORIES.get(positive.replace("CATEGORY_UNI_", "CATEGORY_"), TAG_CHARS)
                found.update(TAG_CHARS - chars if "_NOT_" in category else chars)
            else:
                found.update(TAG_CHARS)  # be generous: a wider set only refuses more
        if negate:
            return frozenset(TAG_CHARS - found)
        return frozenset(found | folds) if self.ignore_case else frozenset(found)

    def sequence(
        self, items: list[tuple[Any, Any]], follow: frozenset[str], may_end: bool
    ) -> tuple[frozenset[str], bool]:
        """Check ``items`` followed by characters in ``follow`` (``may_end``: or by the end
        of a match). Returns the characters the sequence may start with (with ``follow``
        when it may match nothing) and whether it may match nothing."""
        nullable = True
        for raw_op, av in reversed(items):
            first, empty = self.item(_name(raw_op), av, follow, may_end)
            if empty:
                follow = follow | first
            else:
                follow, may_end, nullable = first, False, False
        return follow, nullable

    def item(
        self, op: str, av: Any, follow: frozenset[str], may_end: bool
    ) -> tuple[frozenset[str], bool]:
        if op in _REFUSED:
            raise PatternError(f"{_REFUSED[op]} are not supported in a tag-pattern")
        single = self.chars(op, av)
        if single is not None:
            return single, False
        if op == "AT":
            return frozenset(), True
        if op == "SUBPATTERN":
            add_flags, del_flags = av[1], av[2]
            outer = self.ignore_case
            if add_flags & re.IGNORECASE:
                self.ignore_case = True
            if del_flags & re.IGNORECASE:
                self.ignore_case = False
            try:
                return self.sequence(list(av[-1]), follow, may_end)
            finally:
                self.ignore_case = outer
        if op == "BRANCH":
            firsts: set[str] = set()
            empty = False
            for alternative in av[1]:
                # A nullable alternative's first characters include ``follow``.
                first, nothing = self.sequence(list(alternative), follow, may_end)
                if (nothing and empty) or first & firsts:
                    what = "match nothing" if nothing and empty else "start alike"
                    raise PatternError(f"two alternatives may {what}: {_AMBIGUOUS}")
                firsts |= first
                empty = empty or nothing
            return frozenset(firsts), empty
        if op in _REPEATS:
            low, high, body = av
            body_items = list(body)
            if high <= 1:  # optional: the body once or not at all
                first, nothing = self.sequence(body_items, follow, may_end)
                if low == 0 and high == 1 and (nothing or first & follow):
                    what = "may match nothing" if nothing else "may start like what follows it"
                    raise PatternError(f"an optional part {what}: {_AMBIGUOUS}")
                return first, low == 0 or nothing
            one = self.chars(_name(body_items[0][0]), body_items[0][1]) if body_items else None
            if len(body_items) != 1 or one is None:
                raise PatternError(
                    "only a single character or class may repeat (\\d+, [a-f0-9]{7,}), not a "
                    "group or an alternation: a backtracking engine can take exponential "
                    "time on those"
                )
            # A fixed count ([0-9]{4}) has one way to match; a range of counts must know
            # where to stop.
            clash = sorted(one & follow) if high != low else []
            if clash:
                raise PatternError(
                    f"what follows a repetition may start with {clash[0]!r}, which the "
                    "repetition takes too: the engine could try every split of a tag (write "
                    "a class that excludes it, e.g. [^-]*- rather than .*-)"
                )
            return one, low == 0
        raise PatternError(f"{op.lower()} is not supported in a tag-pattern")
