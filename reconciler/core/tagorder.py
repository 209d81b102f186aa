"""Which tags of a repository a bulk import (``import-image --all``) takes when the
repository has more than ``maxImagesBulkImportedPerRepository``: OpenShift's order.

OpenShift's importer (openshift/openshift-apiserver
``pkg/image/apiserver/importer/importer.go``, ``importRepositoryFromDocker``) lists the
repository's tags, treats an empty tag as ``latest``, de-duplicates and sorts them, orders
them with ``imageutil.PrioritizeTags`` (openshift/library-go
``pkg/image/imageutil/helpers.go``) and imports the first N; the rest are reported as
additional tags, not imported. ``PrioritizeTags``' order:

1. ``latest``;
2. minor versions (``5.1``, ``v5.1``, ``5.1-rc1``), newest first;
3. full semantic versions (``5.1.3``, ``v5.1.3-other``), newest first;
4. everything else, by name (byte order).

Versions compare as github.com/blang/semver/v4 does (pre-releases before their release);
two equal versions put the one without a ``v`` prefix first. This module reproduces that
exactly, down to what blang's ``Parse`` refuses (leading zeros, empty or non-alphanumeric
pre-release parts: those tags are "everything else").

Pure: names in, names out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["prioritize_tags"]

# library-go's regular expressions (Go's \d is ASCII only).
_MINOR = re.compile(r"^[0-9]+\.[0-9]+$")
_MINOR_WITH_PATCH = re.compile(r"^([0-9]+\.[0-9]+)-[0-9A-Za-z_]+$")
_NUMBERS = frozenset("0123456789")
_ALPHANUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_MAX_UINT64 = 2**64 - 1

LATEST, MINOR, FULL, OTHER = 0, 1, 2, 3

# A pre-release identifier: (is numeric, number, text).
_Pre = tuple[bool, int, str]


@dataclass(frozen=True)
class Version:
    """A semantic version as blang/semver reads it (build metadata dropped: it never
    counts in a comparison)."""

    major: int
    minor: int
    patch: int
    pre: tuple[_Pre, ...]


def _number(text: str) -> int | None:
    """blang's rule for a numeric part: digits only, no leading zero, fits uint64."""
    if not text or not set(text) <= _NUMBERS:
        return None
    if len(text) > 1 and text[0] == "0":
        return None
    value = int(text)
    return value if value <= _MAX_UINT64 else None


def parse_semver(text: str) -> Version | None:
    """``text`` as blang/semver/v4 ``Parse`` reads it, or None where it refuses it."""
    parts = text.split(".", 2)
    if len(parts) != 3:
        return None
    major, minor = _number(parts[0]), _number(parts[1])
    if major is None or minor is None:
        return None
    patch_text = parts[2]
    build: list[str] = []
    if "+" in patch_text:
        patch_text, _, build_text = patch_text.partition("+")
        build = build_text.split(".")
    pre_texts: list[str] = []
    if "-" in patch_text:
        patch_text, _, pre_text = patch_text.partition("-")
        pre_texts = pre_text.split(".")
    patch = _number(patch_text)
    if patch is None:
        return None
    pre: list[_Pre] = []
    for item in pre_texts:
        if not item:
            return None
        if set(item) <= _NUMBERS:
            number = _number(item)
            if number is None:
                return None
            pre.append((True, number, ""))
        elif set(item) <= _ALPHANUM:
            pre.append((False, 0, item))
        else:
            return None
    if any(not b or not set(b) <= _ALPHANUM for b in build):
        return None
    return Version(major, minor, patch, tuple(pre))


def _compare_pre(a: _Pre, b: _Pre) -> int:
    if a[0] != b[0]:
        return -1 if a[0] else 1  # numeric identifiers sort before alphanumeric ones
    if a[0]:
        return (a[1] > b[1]) - (a[1] < b[1])
    return (a[2] > b[2]) - (a[2] < b[2])


def compare_semver(a: Version, b: Version) -> int:
    """blang's ``Version.Compare``: -1, 0 or 1 (build metadata ignored)."""
    for x, y in ((a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)):
        if x != y:
            return 1 if x > y else -1
    if not a.pre and not b.pre:
        return 0
    if not a.pre:
        return 1
    if not b.pre:
        return -1
    for x_pre, y_pre in zip(a.pre, b.pre, strict=False):
        result = _compare_pre(x_pre, y_pre)
        if result:
            return result
    return (len(a.pre) > len(b.pre)) - (len(a.pre) < len(b.pre))


@dataclass(frozen=True)
class _Prioritized:
    tag: str
    priority: int
    version: Version | None = None
    prefix: str = ""


def _prioritize(tag: str) -> _Prioritized:
    if tag == "latest":
        return _Prioritized(tag, LATEST)
    short, prefix = (tag[1:], "v") if tag.startswith("v") else (tag, "")
    version = parse_semver(short)
    if version is not None:
        return _Prioritized(tag, FULL, version, prefix)
    if _MINOR.match(short):
        version = parse_semver(short + ".0")
        if version is not None:
            return _Prioritized(tag, MINOR, version, prefix)
    match = _MINOR_WITH_PATCH.match(short)
    if match:
        version = parse_semver(short.replace(match[1], match[1] + ".0", 1))
        if version is not None:
            return _Prioritized(tag, MINOR, version, prefix)
    return _Prioritized(tag, OTHER, None, prefix)


def _less(a: _Prioritized, b: _Prioritized) -> bool:
    """library-go's ``prioritizedTags.Less``."""
    if a.priority != b.priority:
        return a.priority < b.priority
    if a.priority == OTHER:
        return a.tag.encode() < b.tag.encode()  # Go compares strings byte by byte
    if a.version is None or b.version is None:  # latest against latest: equal
        return False
    result = compare_semver(a.version, b.version)
    if result > 0:  # the newer version comes first
        return True
    return result == 0 and a.prefix < b.prefix


def _cmp(a: _Prioritized, b: _Prioritized) -> int:
    return -1 if _less(a, b) else (1 if _less(b, a) else 0)


def prioritize_tags(tags: Iterable[str]) -> list[str]:
    """The repository's tags in the order OpenShift imports them (see the module
    docstring): an empty tag read as ``latest``, duplicates dropped. Take the first N
    for a bulk import capped at N."""
    unique = {("latest" if t == "" else t) for t in tags}
    # Go sorts the set's sorted list in place with sort.Sort; no two distinct tags
    # compare equal under Less, so the (unstable) sort's result is this one.
    ordered = sorted(unique, key=lambda t: t.encode())
    return [p.tag for p in sorted(map(_prioritize, ordered), key=functools.cmp_to_key(_cmp))]
