"""A value that must never be shown: passwords, registry tokens, identity tokens.

Owns: :class:`Secret`, a wrapper whose ``str``, ``repr`` and ``format`` are redacted, which
refuses to be pickled or JSON-serialised by accident, and whose value is read only through
:meth:`Secret.reveal` at the one place that needs it (building an ``Authorization`` header).

Must not: do I/O. Pure, like the rest of ``reconciler.core``.
"""

from __future__ import annotations

import hmac
from typing import NoReturn

__all__ = ["REDACTED", "Secret"]

REDACTED = "***"


class Secret:
    """A secret string. Printing, logging or formatting it shows ``***``.

    ``reveal()`` returns the value; call it only where the value leaves the process for its
    rightful destination. Equality is constant-time; a secret is truthy when non-empty.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        return self._value

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        raise TypeError("the length of a Secret is not disclosed")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("a Secret cannot be serialised")
