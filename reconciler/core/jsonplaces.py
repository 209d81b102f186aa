"""JSON text with the offset of every key and value near its top, for messages that
point into a JSON string (an annotation): :func:`load_with_places` parses with the
standard library and records where each key and value of the first ``depth`` levels
starts and ends; :func:`string_offsets` says where each character of one string literal
stands in the text, escapes included.

Pure: text in, data out. Nesting deeper than the standard parser allows is a
``JSONProblem``, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from reconciler.core.violations import Path

_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()


class JSONProblem(ValueError):
    """The text is not JSON; ``offset`` is where the parser stopped."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Span:
    """Where a value stands in the text: ``start`` and ``end`` offsets, and the offset of
    its key (the opening quote) when it is the value of an object member."""

    start: int
    end: int
    key: int | None = None


def load_with_places(text: str, depth: int = 4) -> tuple[Any, dict[Path, Span]]:
    """The JSON value of ``text`` and the :class:`Span` of every value down to
    ``depth`` levels, by path (``(0, "from", "kind")``). Raises JSONProblem."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONProblem(exc.msg, exc.pos) from exc
    except RecursionError as exc:
        raise JSONProblem("nested too deeply", 0) from exc
    spans: dict[Path, Span] = {}
    _walk(text, _skip(text, 0), (), None, spans, depth)
    return value, spans


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _walk(
    text: str, i: int, path: Path, key: int | None, spans: dict[Path, Span], depth: int
) -> int:
    """Record the value at ``i`` (already valid JSON) and return where it ends."""
    start = i
    opener = text[i]
    if depth > 0 and opener in "[{":
        closer = "]" if opener == "[" else "}"
        i = _skip(text, i + 1)
        index = 0
        while text[i] != closer:
            member_key: int | None = None
            part: str | int = index
            if opener == "{":
                member_key = i
                part, i = _DECODER.raw_decode(text, i)
                i = _skip(text, i) + 1  # the colon
                i = _skip(text, i)
            i = _walk(text, i, (*path, part), member_key, spans, depth - 1)
            i = _skip(text, i)
            if text[i] == ",":
                i = _skip(text, i + 1)
            index += 1
        end = i + 1
    else:
        _, end = _DECODER.raw_decode(text, i)
    spans[path] = Span(start, end, key)
    return end


def string_offsets(literal: str) -> list[int]:
    """For a JSON string literal (with its quotes), the offset in ``literal`` of each
    character of the decoded string, and one more for the closing quote."""
    offsets: list[int] = []
    i = 1
    while i < len(literal) - 1:
        offsets.append(i)
        if literal[i] == "\\":
            i += 6 if literal[i + 1 : i + 2] == "u" else 2
        else:
            i += 1
    offsets.append(len(literal) - 1)
    return offsets
