"""Text fit to print or commit: control characters escaped. A name or a message may
come from a repository, where a NUL, an escape sequence or a lone surrogate can stand
in any string; printed raw, it would garble a terminal, and in a commit message it
makes git refuse the commit.

Pure: strings in, strings out.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, lone surrogates (they cannot be encoded), the line and
# paragraph separators, and the bidirectional overrides that reorder what is shown.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, keep: str = "") -> str:
    """``text`` with every control character escaped as ``\\xNN`` (``\\uNNNN`` past
    0xff), except those in ``keep`` (e.g. ``"\\n"`` for a multi-line message)."""
    if not _UNSAFE.search(text):
        return text
    if not keep:
        return _UNSAFE.sub(_escape, text)
    return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)
