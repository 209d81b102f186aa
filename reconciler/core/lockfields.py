"""Reading a lockfile's fields: the checks every field of ``images.lock.yaml`` passes
(present, of its type, one of its values, a digest, an RFC 3339 time), each failing with a
:class:`FieldError` that names the field and its path, which
:func:`reconciler.core.lockfile.parse_lock` turns into a line and column.

Shared by the lock model (``reconciler.core.lockfile``) and the records of how a tag was
chosen (``reconciler.core.lockrecords``). Pure: data in, values or errors out.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

# What parse_lock accepts: a digest (sha256, lowercase hex), a time, and the values of
# from.kind, importPolicy.importMode and referencePolicy.
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
# RFC 3339 date-time (section 5.6); the separator may be "T", "t" or a space.
RFC3339_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
SOURCE_KINDS = ("DockerImage", "ImageStreamTag", "ImageStreamImage", "Push")
IMPORT_MODES = ("Legacy", "PreserveOriginal")
REFERENCE_POLICIES = ("Source", "Local")

Path = tuple[Any, ...]  # mapping keys and sequence indexes from the document's root


class FieldError(Exception):
    """A structural or value error at ``path``; parse_lock turns it into a LockfileError
    with the line and column of that path in the text."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def req(data: Mapping[str, Any], key: str, where: str, path: Path, kind: type = str) -> Any:
    """``data[key]``, which must be there and of ``kind``."""
    value = data.get(key)
    # bool is an int in Python; a generation of "true" is not a number.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FieldError(f"{where}: field {key!r} missing or not a {kind.__name__}", (*path, key))
    return value


def opt(data: Mapping[str, Any], key: str, where: str, path: Path, kind: type = str) -> Any:
    """``data[key]`` when it is there (of ``kind``), else None."""
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        raise FieldError(f"{where}: field {key!r} is not a {kind.__name__}", (*path, key))
    return value


def flag(data: Mapping[str, Any], key: str, where: str, path: Path) -> bool:
    """``data[key]`` as true or false (absent: false)."""
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise FieldError(
            f"{where}: field {key!r} must be true or false (got {value!r})", (*path, key)
        )
    return value


def one_of(
    data: Mapping[str, Any],
    key: str,
    allowed: tuple[str, ...],
    default: str | None,
    where: str,
    path: Path,
) -> str:
    """``data[key]`` (or ``default``), which must be one of ``allowed``."""
    value = data.get(key, default)
    if value not in allowed or not isinstance(value, str):
        raise FieldError(
            f"{where}: field {key!r} must be one of {', '.join(allowed)} (got {value!r})",
            (*path, key),
        )
    return value


def check_digest(value: str | None, key: str, where: str, path: Path) -> None:
    """Refuse ``value`` unless it is None or ``sha256:`` and 64 lowercase hex."""
    if value is not None and not DIGEST_RE.fullmatch(value):
        raise FieldError(
            f"{where}: field {key!r} is not sha256:<64 lowercase hex> (got {value!r})",
            (*path, key),
        )


def check_time(value: str, key: str, where: str, path: Path) -> None:
    """Refuse ``value`` unless it is an RFC 3339 time."""
    ok = RFC3339_RE.fullmatch(value) is not None
    if ok:
        try:
            dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00").replace(" ", "T"))
        except ValueError:
            ok = False  # e.g. month 13, or a leap second fromisoformat cannot hold
    if not ok:
        raise FieldError(
            f"{where}: field {key!r} is not an RFC 3339 time such as 2024-01-31T12:00:00Z "
            f"(got {value!r})",
            (*path, key),
        )
