"""Calendar versions for the ``calver`` version policy: a layout such as ``YYYY.0M.0D``
or ``YYYYMMDD-N`` read into a matcher, and a tag read into a date and a build number
that order it.

Layout tokens, after calver.org:

========  ====================================================
``YYYY``  the full year (``2026``)
``YY``    the year since 2000, not padded (``6``, ``26``)
``0Y``    the year since 2000, zero-padded (``06``, ``26``)
``MM``    the month, 1 to 12, zero-padding allowed (``1``, ``01``, ``12``); two
          digits when a number follows it directly (``YYYYMMDD``)
``0M``    the month, zero-padded (``01`` ... ``12``)
``DD``    the day of the month, zero-padding allowed; two digits when a number
          follows it directly
``0D``    the day, zero-padded
``N``     a build number (``MICRO`` is the same): digits
========  ====================================================

Anything else is literal: lower-case letters, digits, ``.``, ``-`` and ``_``. A layout
names a year once, a month and a day at most once each (a day only with a month), and a
build number at most once. A tag matches when its whole name fits the layout and its date
is a real one (no 2026.02.30). Tags order by (year, month, day, build number).

Pure: text in, data out; errors carry the offset of the problem in the layout.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

# Longest first: YYYY before YY, MICRO before MM.
_TOKENS = {
    "YYYY": ("year", r"[0-9]{4}"),
    "MICRO": ("build", r"[0-9]{1,18}"),
    "YY": ("short_year", r"[1-9][0-9]{0,2}|0"),
    "0Y": ("short_year", r"[0-9]{2,3}"),
    "MM": ("month", r"1[0-2]|0?[1-9]"),
    "0M": ("month", r"1[0-2]|0[1-9]"),
    "DD": ("day", r"3[01]|[12][0-9]|0?[1-9]"),
    "0D": ("day", r"3[01]|[12][0-9]|0[1-9]"),
    "N": ("build", r"[0-9]{1,18}"),
}
_LITERAL = re.compile(r"[a-z0-9._-]")
_PADDED = {"MM": "0M", "DD": "0D"}
MAX_LAYOUT_LENGTH = 64


class LayoutError(ValueError):
    """A layout that cannot be used: ``message`` says why, ``offset`` where (0-based)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


CalverKey = tuple[int, int, int, int]


@dataclass(frozen=True)
class Layout:
    """A checked layout and the regular expression it stands for."""

    text: str
    compiled: re.Pattern[str]

    def key(self, tag: str) -> CalverKey | None:
        """(year, month, day, build) of ``tag``, zero for what the layout does not name;
        None when the tag does not fit the layout or its date is not a real one."""
        match = self.compiled.fullmatch(tag)
        if match is None:
            return None
        found = match.groupdict()
        year = int(found["year"]) if found.get("year") else 2000 + int(found["short_year"])
        month = int(found["month"]) if found.get("month") else 0
        day = int(found["day"]) if found.get("day") else 0
        if month and day:
            try:
                dt.date(year, month, day)
            except ValueError:
                return None
        build = int(found["build"]) if found.get("build") else 0
        return (year, month, day, build)


def parse_layout(text: str) -> Layout:
    """Read a layout. Raises LayoutError naming the offending token or character."""
    if not text:
        raise LayoutError("empty: give a layout such as YYYY.0M.0D or YYYYMMDD-N", 0)
    if len(text) > MAX_LAYOUT_LENGTH:
        raise LayoutError(f"longer than {MAX_LAYOUT_LENGTH} characters", MAX_LAYOUT_LENGTH)
    pieces: list[tuple[str | None, str, int]] = []  # (token or None, text, offset)
    seen: dict[str, int] = {}
    position = 0
    while position < len(text):
        token = next((t for t in _TOKENS if text.startswith(t, position)), None)
        if token is not None:
            group = _TOKENS[token][0]
            if (
                group in seen
                or (group == "short_year" and "year" in seen)
                or (group == "year" and "short_year" in seen)
            ):
                raise LayoutError(f"{token} names the {_WORDS[group]} a second time", position)
            seen[group] = position
            pieces.append((token, token, position))
            position += len(token)
            continue
        char = text[position]
        if not _LITERAL.fullmatch(char):
            raise LayoutError(
                f"unexpected {char!r}: tokens are YYYY, YY, 0Y, MM, 0M, DD, 0D, N (or MICRO); "
                "other characters may be lower-case letters, digits, '.', '-' and '_'",
                position,
            )
        pieces.append((None, char, position))
        position += 1
    parts: list[str] = []
    for index, (token, piece, offset) in enumerate(pieces):
        if token is None:
            parts.append(re.escape(piece))
            continue
        after = pieces[index + 1] if index + 1 < len(pieces) else None
        # With a number right after it, a token of varying width would make the tag
        # ambiguous (YYYYMMDD: is 2024111 the 1st of November or the 11th of January?):
        # a month or day reads as two digits there; a short year or build is refused.
        glued = after is not None and (after[0] is not None or after[1].isdigit())
        if glued and token in _PADDED:
            token = _PADDED[token]
        elif glued and token in ("YY", "0Y", "N", "MICRO"):
            raise LayoutError(
                f"{token} has no fixed width: put a separator ('.', '-', '_') between it "
                "and the number after it",
                offset,
            )
        group, pattern = _TOKENS[token]
        parts.append(f"(?P<{group}>{pattern})")
    if "year" not in seen and "short_year" not in seen:
        raise LayoutError("names no year (YYYY, YY or 0Y)", 0)
    if "day" in seen and "month" not in seen:
        raise LayoutError("names a day but no month", seen["day"])
    return Layout(text, re.compile("".join(parts)))


_WORDS = {"year": "year", "short_year": "year", "month": "month", "day": "day", "build": "build"}
