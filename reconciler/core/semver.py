"""Semantic versions (semver.org 2.0.0) and version ranges with node-semver's meaning,
for the ``semver`` version policy.

Owns:
- reading a version from an image tag: ``MAJOR.MINOR.PATCH``, an optional pre-release
  (``-rc.1``) and build (``+b7``), an optional leading ``v``; nothing else is a version
  (``1.4``, ``latest`` and ``1.4.7.1`` are not: a floating tag is not a release);
- precedence (pre-release identifiers compared numerically or by ASCII, a release above
  its pre-releases, build metadata ignored), as a sort key;
- ranges as node-semver reads them: comparators (``<``, ``<=``, ``>``, ``>=``, ``=``),
  X-ranges (``1.x``, ``1.2.*``, ``1``), tilde (``~1.4``, ``~>1.4``), caret (``^1``),
  hyphen ranges (``1.2 - 2.3.4``), sets joined by spaces or commas (Masterminds'
  spelling), alternatives joined by ``||``; each desugared to plain comparators the way
  node-semver does (``~1.4`` is ``>=1.4.0 <1.5.0-0``);
- pre-releases: a pre-release satisfies a range only when a comparator of the same set
  names a pre-release of the same ``MAJOR.MINOR.PATCH`` (``>=1.5.0-rc.0`` admits
  ``1.5.0-rc.1``, ``^1`` does not), unless pre-releases are asked for, in which case
  they are ordinary versions and the X-range, tilde and caret lower bounds start at
  ``-0``, as node-semver's ``includePrerelease`` does.

A range that cannot be read raises :class:`RangeError` with the offset of the problem in
the text, so a manifest error points at the character. Pure: text in, data out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Identifiers: numeric ones without leading zeros, or alphanumerics and hyphens.
_NUMBER = r"0|[1-9][0-9]*"
_IDENT = r"[0-9A-Za-z-]+"
_VERSION_RE = re.compile(
    rf"v?(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?(?:\+(?P<build>{_IDENT}(?:\.{_IDENT})*))?"
)
_NUMERIC_RE = re.compile(r"[0-9]+")
# Versions past this many digits per number are not releases anyone tags (and a 10,000
# digit "number" must not cost a big-integer parse per tag).
MAX_NUMBER_DIGITS = 18


class RangeError(ValueError):
    """A range that cannot be read: ``message`` says why, ``offset`` where (0-based, in
    the range's text)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


# A pre-release identifier's place in precedence: numbers below words, numbers by value,
# words in ASCII order.
_Ident = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class Version:
    """A semantic version. ``key`` orders by precedence; two versions that differ only
    in build metadata (or a leading ``v``) have the same key."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[int, int, int, int, tuple[_Ident, ...]]:
        """The precedence sort key (semver.org section 11)."""
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        return (self.major, self.minor, self.patch, 0, tuple(map(_ident, self.prerelease)))

    @property
    def core(self) -> tuple[int, int, int]:
        """``(MAJOR, MINOR, PATCH)``."""
        return (self.major, self.minor, self.patch)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def _ident(text: str) -> _Ident:
    if _NUMERIC_RE.fullmatch(text):
        return (0, int(text), "")
    return (1, 0, text)


def parse_version(text: str) -> Version | None:
    """The version a tag names (``1.4.7``, ``v2.0.0-rc.1``), or None when it is not a full
    semantic version."""
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        return None
    numbers = [match["major"], match["minor"], match["patch"]]
    pre = tuple(match["pre"].split(".")) if match["pre"] else ()
    if any(len(n) > MAX_NUMBER_DIGITS for n in numbers) or any(
        _NUMERIC_RE.fullmatch(p) and (len(p) > MAX_NUMBER_DIGITS or (p[0] == "0" and p != "0"))
        for p in pre
    ):
        return None  # a leading zero in a numeric pre-release identifier is not semver
    build = tuple(match["build"].split(".")) if match["build"] else ()
    return Version(int(numbers[0]), int(numbers[1]), int(numbers[2]), pre, build)


# -- ranges ----------------------------------------------------------------------------

_OPERATORS = ("<=", ">=", "<", ">", "=")


@dataclass(frozen=True, slots=True)
class Comparator:
    """``operator`` and ``version``: ``>=1.4.0``."""

    operator: str  # < <= > >= =
    version: Version

    def test(self, version: Version) -> bool:
        """Whether ``version`` satisfies this comparator (precedence only)."""
        mine, theirs = self.version.key, version.key
        if self.operator == "<":
            return theirs < mine
        if self.operator == "<=":
            return theirs <= mine
        if self.operator == ">":
            return theirs > mine
        if self.operator == ">=":
            return theirs >= mine
        return theirs == mine

    def __str__(self) -> str:
        return f"{self.operator}{self.version}"


@dataclass(frozen=True, slots=True)
class Range:
    """A range: alternatives (``||``), each a set of comparators all of which must hold.
    An empty set admits every version (``*``); ``NOTHING`` in a set admits none."""

    text: str
    sets: tuple[tuple[Comparator, ...], ...]
    include_prereleases: bool = False

    def satisfied_by(self, version: Version) -> bool:
        """node-semver's ``satisfies``: some set holds, with its pre-release rule."""
        return any(self._test_set(s, version) for s in self.sets)

    def _test_set(self, comparators: tuple[Comparator, ...], version: Version) -> bool:
        if not all(c.test(version) for c in comparators):
            return False
        if version.prerelease and not self.include_prereleases:
            # Only a set that names a pre-release of the same MAJOR.MINOR.PATCH lets a
            # pre-release in: asking for >=1.5.0-rc.0 is asking for 1.5.0's release
            # candidates, not for every pre-release above it.
            return any(c.version.prerelease and c.version.core == version.core for c in comparators)
        return True

    def describe(self) -> str:
        """The desugared comparators, for messages: ``>=1.4.0 <1.5.0-0``."""
        return " || ".join(" ".join(map(str, s)) or "*" for s in self.sets)


# An impossible comparator: node-semver's "<0.0.0-0".
NOTHING = Comparator("<", Version(0, 0, 0, ("0",)))

# A partial version as written: numbers, or None for x / X / * / missing.
_Partial = tuple[int | None, int | None, int | None, tuple[str, ...]]


class _Reader:
    """A cursor over one range's text; errors carry the offset."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def fail(self, message: str, offset: int | None = None) -> RangeError:
        return RangeError(message, self.pos if offset is None else offset)


_PARTIAL_RE = re.compile(
    rf"v?(?P<major>{_NUMBER}|[xX*])(?:\.(?P<minor>{_NUMBER}|[xX*])"
    rf"(?:\.(?P<patch>{_NUMBER}|[xX*])(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?"
    rf"(?:\+{_IDENT}(?:\.{_IDENT})*)?)?)?"
)


# What a version token may be made of: the text up to the next separator.
_TOKEN_RE = re.compile(r"[0-9A-Za-z.*+-]+")


def _partial(reader: _Reader) -> _Partial:
    start = reader.pos
    token = _TOKEN_RE.match(reader.text, start)
    token_end = token.end() if token else start
    match = _PARTIAL_RE.match(reader.text, start)
    end = match.end() if match else start
    if match is None or end < token_end:
        word = reader.text[start:token_end]
        if match is not None and match["patch"] is None and reader.text[end : end + 1] == "-":
            raise reader.fail("a pre-release needs a full MAJOR.MINOR.PATCH", start)
        raise reader.fail(
            f"{word!r} is not a version: MAJOR[.MINOR[.PATCH[-PRERELEASE]]], numbers "
            "without leading zeros, x or * for any",
            start,
        )
    if end < len(reader.text) and reader.text[end] not in " \t,|":
        raise reader.fail(f"unexpected {reader.text[end]!r} after the version", end)
    reader.pos = end

    def number(name: str) -> int | None:
        text = match[name]
        if text is None or text in "xX*":
            return None
        if len(text) > MAX_NUMBER_DIGITS:
            raise reader.fail("a version number that long is not a release", start)
        return int(text)

    major, minor, patch = number("major"), number("minor"), number("patch")
    pre = tuple(match["pre"].split(".")) if match["pre"] else ()
    # After an x, the rest is x too (1.x.3 is 1.x, as node-semver reads it).
    if major is None:
        minor = patch = None
    if minor is None:
        patch = None
    if pre and patch is None:
        raise reader.fail("a pre-release needs a full MAJOR.MINOR.PATCH", start)
    for part in pre:
        if _NUMERIC_RE.fullmatch(part) and part != "0" and part[0] == "0":
            raise reader.fail(f"pre-release identifier {part!r} has a leading zero", start)
    return major, minor, patch, pre


def _full(p: _Partial) -> Version:
    return Version(p[0] or 0, p[1] or 0, p[2] or 0, p[3])


def _bump(major: int, minor: int | None = None) -> Version:
    """The lowest version of the next major (minor None) or next minor, as ``-0``."""
    if minor is None:
        return Version(major + 1, 0, 0, ("0",))
    return Version(major, minor + 1, 0, ("0",))


def _low(version: Version, include: bool) -> Comparator:
    """A lower bound from an X-range, tilde or caret: at ``-0`` with pre-releases."""
    if include and not version.prerelease:
        version = Version(version.major, version.minor, version.patch, ("0",))
    return Comparator(">=", version)


def _x_range(p: _Partial, include: bool) -> list[Comparator]:
    major, minor, patch, _ = p
    if major is None:
        return []
    if minor is None:
        return [_low(Version(major, 0, 0), include), Comparator("<", _bump(major))]
    if patch is None:
        return [_low(Version(major, minor, 0), include), Comparator("<", _bump(major, minor))]
    return [Comparator("=", _full(p))]


def _tilde(p: _Partial, include: bool) -> list[Comparator]:
    major, minor, patch, _ = p
    if major is None or minor is None or patch is None:
        return _x_range(p, include)
    return [Comparator(">=", _full(p)), Comparator("<", _bump(major, minor))]


def _caret(p: _Partial, include: bool) -> list[Comparator]:
    major, minor, patch, _ = p
    if major is None or minor is None:
        return _x_range(p, include)
    if patch is None:
        upper = _bump(major, minor) if major == 0 else _bump(major)
        return [_low(Version(major, minor, 0), include), Comparator("<", upper)]
    if major == 0 and minor == 0:
        upper = Version(0, 0, patch + 1, ("0",))
    elif major == 0:
        upper = _bump(0, minor)
    else:
        upper = _bump(major)
    return [Comparator(">=", _full(p)), Comparator("<", upper)]


def _primitive(operator: str, p: _Partial) -> list[Comparator]:
    """``op`` with a partial version, as node-semver's replaceXRange reads it."""
    major, minor, patch, _ = p
    if major is None:
        return [NOTHING] if operator in ("<", ">") else []
    if patch is not None:
        return [Comparator(operator, _full(p))]
    if operator == "=":
        return _x_range(p, False)
    if operator == ">":  # >1 is >=2.0.0; >1.2 is >=1.3.0
        bumped = Version(major + 1, 0, 0) if minor is None else Version(major, minor + 1, 0)
        return [Comparator(">=", bumped)]
    if operator == "<=":  # <=1.2 is <1.3.0-0
        return [Comparator("<", _bump(major, minor))]
    if operator == "<":  # <1.2 is <1.2.0-0
        return [Comparator("<", Version(major, minor or 0, 0, ("0",)))]
    return [Comparator(">=", Version(major, minor or 0, 0))]


def _hyphen(low: _Partial, high: _Partial, include: bool) -> list[Comparator]:
    out: list[Comparator] = []
    if low[0] is not None:
        out.append(_low(_full(low), include) if low[2] is None else Comparator(">=", _full(low)))
    major, minor, patch, _ = high
    if major is None:
        return out
    if minor is None:
        out.append(Comparator("<", _bump(major)))
    elif patch is None:
        out.append(Comparator("<", _bump(major, minor)))
    else:
        out.append(Comparator("<=", _full(high)))
    return out


MAX_RANGE_LENGTH = 256


def parse_range(text: str, *, include_prereleases: bool = False) -> Range:
    """Read a range (see the module's docstring). Raises RangeError with the offset of
    the problem."""
    if len(text) > MAX_RANGE_LENGTH:
        raise RangeError(f"longer than {MAX_RANGE_LENGTH} characters", MAX_RANGE_LENGTH)
    reader = _Reader(text)
    sets: list[tuple[Comparator, ...]] = []
    reader.skip_spaces()
    if reader.at_end():
        raise reader.fail("empty: give a range such as ~1.4, ^1 or >=1.4 <2 (* for any)")
    while True:
        sets.append(tuple(_comparator_set(reader, include_prereleases)))
        if reader.at_end():
            break
        if not reader.peek("||"):  # pragma: no cover - _comparator_set stops only here
            raise reader.fail("expected ||")
        reader.pos += 2
        reader.skip_spaces()
        if reader.at_end() or reader.peek("||"):
            raise reader.fail("expected a range after ||")
    return Range(text, tuple(sets), include_prereleases)


def _comparator_set(reader: _Reader, include: bool) -> list[Comparator]:
    out: list[Comparator] = []
    reader.skip_spaces()
    while not reader.at_end() and not reader.peek("||"):
        if reader.peek(","):
            if not out:
                raise reader.fail("',' with no comparator before it")
            reader.pos += 1
            reader.skip_spaces()
            if reader.at_end() or reader.peek("||") or reader.peek(","):
                raise reader.fail("expected a comparator after ','")
            continue
        out.extend(_one(reader, include))
        reader.skip_spaces()
    return out


def _one(reader: _Reader, include: bool) -> list[Comparator]:
    start = reader.pos
    if reader.peek("~>") or reader.peek("~"):
        reader.pos += 2 if reader.peek("~>") else 1
        reader.skip_spaces()
        return _tilde(_partial(reader), include)
    if reader.peek("^"):
        reader.pos += 1
        reader.skip_spaces()
        return _caret(_partial(reader), include)
    for operator in _OPERATORS:
        if reader.peek(operator):
            reader.pos += len(operator)
            reader.skip_spaces()
            if reader.at_end() or reader.text[reader.pos] in "<>=~^|,":
                raise reader.fail(f"expected a version after {operator!r}")
            return _primitive(operator, _partial(reader))
    if not (reader.text[reader.pos].isdigit() or reader.text[reader.pos] in "vxX*"):
        raise reader.fail(
            f"unexpected {reader.text[reader.pos]!r}: a comparator is an operator (< <= > >= "
            "= ~ ^) and a version, a version alone, or A - B"
        )
    low = _partial(reader)
    after = reader.pos
    reader.skip_spaces()
    if reader.peek("- ") and reader.pos > after:
        reader.pos += 1
        reader.skip_spaces()
        if reader.at_end():
            raise reader.fail("expected a version after ' - '")
        return _hyphen(low, _partial(reader), include)
    reader.pos = after
    if start == after:  # pragma: no cover - _partial consumed something or raised
        raise reader.fail("expected a version")
    return _x_range(low, include)
