"""Where each character of a YAML string value stands in its file: the line and column
of every character of a plain, single-quoted, double-quoted, literal (``|``) or folded
(``>``) scalar, so that a problem found inside the string (a JSON token in an annotation)
is reported where the author wrote it.

The scalar is found from its key's position and re-read here, following the YAML 1.2
rules for escapes, folding and chomping. The result is checked against the value the
parser loaded: when the two differ (a form this module does not follow), the answer is
None and the caller reports at the key instead. A wrong column is never given.

Pure: text in, positions out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

Place = tuple[int, int]  # 1-based line and column

_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def split_lines(text: str) -> tuple[str, ...]:
    """``text`` split at line feeds, as the functions here take it. The last few texts
    are remembered: problems in many objects of one large file split it once."""
    return _split(text)


@functools.lru_cache(maxsize=4)
def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n"))


def value_places(
    lines: Sequence[str], key_line: int, key_column: int, value: str
) -> list[Place] | None:
    """The place of each character of ``value`` (and one more: where it ends), for the
    mapping value whose key starts at ``key_line``:``key_column`` (1-based) in ``lines``
    (see :func:`split_lines`); None when the scalar there does not read back as
    ``value``."""
    start = _value_start(lines, key_line, key_column)
    if start is None:
        return None
    row, col = start
    return _read(lines, row, col, value)


def scalar_span(
    lines: Sequence[str], key_line: int, key_column: int, value: str
) -> tuple[int, int, int, str] | None:
    """Where the scalar ``value`` of the key at ``key_line``:``key_column`` is written,
    when it is on one line: its line, the column where its token (quotes included)
    starts and the column just after it ends (1-based), and its style (``plain``, ``'``
    or ``"``). None for a block scalar, one over several lines, or one that does not
    read back as ``value``."""
    start = _value_start(lines, key_line, key_column)
    if start is None:
        return None
    row, col = start
    places = _read(lines, row, col, value)
    first = lines[row][col]
    if places is None or first in "|>" or any(p[0] != row + 1 for p in places):
        return None
    if first in "'\"":
        return row + 1, col + 1, places[-1][1] + 1, first
    return row + 1, col + 1, places[-1][1], "plain"


def _value_start(lines: Sequence[str], key_line: int, key_column: int) -> tuple[int, int] | None:
    """The row and column (0-based) where the value of the key at ``key_line``:
    ``key_column`` starts, when it starts on the key's line."""
    if not 1 <= key_line <= len(lines):
        return None
    row = key_line - 1
    after = _after_key(lines[row], key_column - 1)
    if after is None:
        return None
    line, col = lines[row], after
    while col < len(line) and line[col] in " \t":
        col += 1
    if col >= len(line) or line[col] == "#":
        return None  # the value starts on a later line: not a form we follow
    return row, col


def _read(lines: Sequence[str], row: int, col: int, value: str) -> list[Place] | None:
    line = lines[row]
    first = line[col]
    found: tuple[str, list[Place]] | None
    if first == "'":
        found = _quoted(lines, row, col, double=False)
    elif first == '"':
        found = _quoted(lines, row, col, double=True)
    elif first in "|>":
        found = _block(lines, row, col)
    else:
        found = _plain(line, row, col)
    if found is None or found[0] != value:
        return None
    return found[1]


def _after_key(line: str, col: int) -> int | None:
    """The column just after ``key:`` for a key starting at ``col``."""
    if col >= len(line):
        return None
    quote = line[col]
    if quote in "'\"":
        i = col + 1
        while i < len(line):
            if quote == '"' and line[i] == "\\":
                i += 2
                continue
            if line[i] == quote:
                if quote == "'" and line[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                break
            i += 1
        i += 1
        while i < len(line) and line[i] in " \t":
            i += 1
        return i + 1 if line[i : i + 1] == ":" else None
    i = line.find(": ", col)
    if i < 0:
        return len(line) if line.endswith(":") else None
    return i + 1


def _plain(line: str, row: int, col: int) -> tuple[str, list[Place]]:
    end = line.find(" #", col)
    text = (line[col:] if end < 0 else line[col:end]).rstrip(" \t")
    return text, [(row + 1, col + 1 + i) for i in range(len(text) + 1)]


def _quoted(
    lines: Sequence[str], row: int, col: int, *, double: bool
) -> tuple[str, list[Place]] | None:
    quote = '"' if double else "'"
    out: list[str] = []
    places: list[Place] = []
    i = col + 1
    while row < len(lines):
        line = lines[row]
        while i < len(line):
            ch = line[i]
            if ch == quote:
                if not double and line[i + 1 : i + 2] == "'":
                    out.append("'")
                    places.append((row + 1, i + 1))
                    i += 2
                    continue
                places.append((row + 1, i + 1))
                return "".join(out), places
            if double and ch == "\\":
                if i + 1 >= len(line):  # an escaped line break: no space
                    row, i = _next_content(lines, row, out, places, escaped=True)
                    break
                code = line[i + 1]
                if code in _ESCAPES:
                    out.append(_ESCAPES[code])
                    places.append((row + 1, i + 1))
                    i += 2
                    continue
                width = _HEX_ESCAPES.get(code)
                if width is None:
                    return None
                try:
                    out.append(chr(int(line[i + 2 : i + 2 + width], 16)))
                except ValueError:
                    return None
                places.append((row + 1, i + 1))
                i += 2 + width
                continue
            out.append(ch)
            places.append((row + 1, i + 1))
            i += 1
        else:
            # The line ends inside the string: trailing blanks go, the break folds.
            while out and out[-1] in " \t" and places[-1][0] == row + 1:
                out.pop()
                places.pop()
            row, i = _next_content(lines, row, out, places, escaped=False)
    return None


def _next_content(
    lines: Sequence[str], row: int, out: list[str], places: list[Place], *, escaped: bool
) -> tuple[int, int]:
    """Fold the line break after ``row`` into ``out``; the row and column where the
    string goes on."""
    end = (row + 1, len(lines[row]) + 1)
    row += 1
    empty = 0
    while row < len(lines) and not lines[row].strip(" \t"):
        empty += 1
        row += 1
    if empty:
        out.extend("\n" * empty)
        places.extend([end] * empty)
    elif not escaped:
        out.append(" ")
        places.append(end)
    if row >= len(lines):
        return row, 0
    line = lines[row]
    return row, len(line) - len(line.lstrip(" \t"))


def _block(lines: Sequence[str], row: int, col: int) -> tuple[str, list[Place]] | None:
    header = lines[row][col:].split("#", 1)[0].strip()
    style, indicators = header[0], header[1:]
    chomp = "".join(c for c in indicators if c in "+-")
    digits = "".join(c for c in indicators if c.isdigit())
    if len(chomp) + len(digits) != len(indicators) or len(chomp) > 1 or len(digits) > 1:
        return None
    body: list[tuple[int, str]] = []  # (row, line) of each line of the scalar
    indent = 0
    if digits:
        parent = len(lines[row]) - len(lines[row].lstrip(" "))
        indent = parent + int(digits)
    r = row + 1
    while r < len(lines):
        line = lines[r]
        if not line.strip(" "):
            body.append((r, line))
            r += 1
            continue
        lead = len(line) - len(line.lstrip(" "))
        if not indent:
            indent = lead
        if lead < indent or (lead == 0 and indent == 0):
            break
        body.append((r, line))
        r += 1
    while body and not body[-1][1].strip(" "):
        body.pop()  # trailing empty lines: chomping, below
    if not indent:
        return "", [(row + 2, 1)]
    out: list[str] = []
    places: list[Place] = []
    previous: str | None = None  # the kind of the last content line: "normal" or "more"
    empty = 0
    for r, line in body:
        content = line[indent:]
        if not content.strip(" ") and len(line) <= indent:
            empty += 1
            continue
        kind = "more" if content[:1] in (" ", "\t") else "normal"
        if previous is not None:
            end = places[-1] if places else (r + 1, 1)
            if style == "|" or "more" in (kind, previous):
                joiner = "\n" * (1 + empty)  # the break is kept
            else:
                joiner = "\n" * empty or " "  # folded: a lone break is a space
            out.extend(joiner)
            places.extend([(end[0], end[1] + 1)] * len(joiner))
        elif empty:
            out.extend("\n" * empty)
            places.extend([(r + 1, 1)] * empty)
        empty = 0
        for i, ch in enumerate(content):
            out.append(ch)
            places.append((r + 1, indent + i + 1))
        previous = kind
    last_row, last_line = body[-1] if body else (row, lines[row])
    end_place = (last_row + 1, len(last_line) + 1)
    text = "".join(out)
    if chomp != "-" and text:
        text += "\n"
        places.append(end_place)
    places.append(end_place)
    return text, places
