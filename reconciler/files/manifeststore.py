"""Writing a write-back's manifest edits into the work tree: each file gets the new text
the core decided on, with its own line endings and byte-order mark, and only when its
bytes change. A path that leaves the work tree, or is a symlink, is never written.
Deciding what to write is the core's job (``reconciler.core.writeback``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.core.writeback import ManifestEdit

_BOM = b"\xef\xbb\xbf"


def encode_like(raw: bytes, text: str) -> bytes:
    """``text`` (LF line endings) as bytes in the style of ``raw``: CRLF endings and a
    byte-order mark when ``raw`` has them."""
    if b"\r\n" in raw:
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    return _BOM + data if raw.startswith(_BOM) else data


def _inside(root: Path, relative: str) -> Path | None:
    """The file at ``relative``, or None when it is a symlink or outside ``root``."""
    path = root / relative
    if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
        return None
    return path


def write_edits(root: Path, edits: Sequence[ManifestEdit]) -> list[str]:
    """Write each edit whose bytes differ from the file's (a symlink, or a path outside
    ``root``, is left alone); returns the repo-relative paths written."""
    written: list[str] = []
    for edit in edits:
        path = _inside(root, edit.file)
        if path is None or not path.is_file():
            continue
        raw = path.read_bytes()
        data = encode_like(raw, edit.text)
        if data == raw:
            continue
        path.write_bytes(data)
        written.append(edit.file)
    return written
