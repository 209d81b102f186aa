"""Reading the public key files ``.reconciler.yaml`` names (``signatures.keys``) from the
work tree: inside it only (a path that leaves it, or a symlink, is refused), size-capped,
UTF-8, and screened (``reconciler.core.signatures.screen_public_key``: a private key is
refused and never echoed). Never writes; decides nothing beyond "can this file be read".
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath

from reconciler.core.repoconfig import RepoConfig
from reconciler.core.signatures import MAX_KEY_BYTES, RepoKey, screen_public_key
from reconciler.core.violations import Violation


def _read(root: Path, written: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, why not)."""
    relative = PurePosixPath(written.strip())
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        return None, (
            f"{written!r}: give a path inside the repository, relative to its root "
            "(keys outside it belong to the machine: --signature-key)"
        )
    path = root.joinpath(*relative.parts)
    try:
        # Every step of the path, not only the last: a symlinked directory leaves the
        # work tree as surely as a symlinked file.
        step = root
        for part in relative.parts:
            step = step / part
            if step.is_symlink():
                return (
                    None,
                    f"{written}: a symlink; refused (nothing outside the work tree is read)",
                )
        if not path.resolve().is_relative_to(root.resolve()):
            return None, f"{written}: outside the work tree; refused"
        if not path.is_file():
            return None, f"{written}: no such file in the repository"
        if path.stat().st_size > MAX_KEY_BYTES:
            return None, f"{written}: over {MAX_KEY_BYTES} bytes, no public key is that long"
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"{written}: cannot read: {exc.strerror}"
    except ValueError:  # a NUL byte in the path
        return None, f"{written!r}: not a path"
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, f"{written}: not UTF-8 text (a PEM public key is)"


def with_key_files(
    root: Path, config: RepoConfig, problems: list[Violation]
) -> tuple[RepoConfig, list[Violation]]:
    """``config`` with the text of each key file filled in, and ``problems`` with one more
    per key that cannot be used (placed in the key file when it was read, else in
    ``.reconciler.yaml``)."""
    if not config.signatures.keys:
        return config, problems
    out = list(problems)
    keys: list[RepoKey] = []
    for key in config.signatures.keys:
        if key.inline or key.problem is not None:
            keys.append(key)
            continue
        text, problem = _read(root, key.written)
        if text is not None:
            problem = screen_public_key(text)
            if problem is not None:
                out.append(
                    Violation(key.written, 1, 1, "", "", f"signature key {key.name}: {problem}")
                )
        else:
            out.append(
                Violation(".reconciler.yaml", 1, 1, "", f"signatures.keys.{key.name}", str(problem))
            )
        keys.append(replace(key, pem=text if problem is None else None, problem=problem))
    signatures = replace(config.signatures, keys=tuple(keys))
    return replace(config, signatures=signatures), out
