"""A version policy's exclusion list (``exclude-tags``, as Argo CD Image Updater's
``ignore-tags`` and Renovate's ``ignoreVersions``): tag names and shell-style globs
(``*``, ``?``; no character classes) that are never candidates, so a known-bad release
can be skipped without a hold or a contorted range.

Owns the list's spelling (comma-separated, spaces around entries allowed), what an entry
may be (:func:`entry_problem`, shared by the annotation's check and the lock's reader)
and what it matches (:func:`excluded`, with :func:`fnmatch.fnmatchcase`). Pure.
"""

from __future__ import annotations

import fnmatch
import functools
import re

MAX_ENTRIES = 64
MAX_ENTRY_LENGTH = 128
_ENTRY_CHARS = re.compile(r"[A-Za-z0-9_.*?-]")


class ExcludeError(ValueError):
    """An exclusion list that cannot be used: ``message``, and ``offset``, the place of
    the problem in the annotation's value."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def entry_problem(entry: str) -> tuple[str, int] | None:
    """What is wrong with one entry, and where in it (None: nothing)."""
    if not entry:
        return "an empty entry: list tag names or globs (1.4.8, 1.5.*) between commas", 0
    for at, ch in enumerate(entry):
        if not _ENTRY_CHARS.fullmatch(ch):
            return (
                f"{ch!r} cannot be in an entry: tag name characters (letters, digits, _ . -) "
                "and the globs * and ?",
                at,
            )
    if len(entry) > MAX_ENTRY_LENGTH:
        return f"an entry of at most {MAX_ENTRY_LENGTH} characters", MAX_ENTRY_LENGTH
    return None


def split_entries(text: str) -> list[tuple[str, int]]:
    """Each entry of ``text`` without the spaces around it, with its offset in ``text``."""
    out = []
    start = 0
    for part in text.split(","):
        stripped = part.strip(" \t")
        lead = len(part) - len(part.lstrip(" \t"))
        out.append((stripped, start + lead))
        start += len(part) + 1
    return out


def parse_excludes(text: str) -> tuple[str, ...]:
    """The entries of an ``exclude-tags`` value, as written. Raises ExcludeError at the
    first problem: an empty entry, a character no tag has, an entry too long, too many
    entries."""
    entries = split_entries(text)
    if len(entries) > MAX_ENTRIES:
        # Placed at the first entry too many.
        raise ExcludeError(
            f"at most {MAX_ENTRIES} entries (got {len(entries)})", entries[MAX_ENTRIES][1]
        )
    for entry, offset in entries:
        problem = entry_problem(entry)
        if problem is not None:
            raise ExcludeError(problem[0], offset + problem[1])
    return tuple(entry for entry, _ in entries)


@functools.lru_cache(maxsize=1024)
def _matcher(patterns: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    names = frozenset(p for p in patterns if "*" not in p and "?" not in p)
    # fnmatch reads [...] as a character class: not ours, so a bracket stands for itself
    # (the checks refuse one before it gets here).
    globs = tuple(p.replace("[", "[[]") for p in patterns if p not in names)
    return names, globs


def excluded(tag: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``tag`` is one of ``patterns`` or matches one of their globs (case
    matters, as in tag names)."""
    if not patterns:
        return False
    names, globs = _matcher(patterns)
    return tag in names or any(fnmatch.fnmatchcase(tag, glob) for glob in globs)
