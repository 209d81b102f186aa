"""The work tree's boundary: where a path of a checkout may lead. Every file the files
shell reads from or writes to a checkout goes through here, so the rules live in one
place (repository authors are trusted to write manifests, not to reach the machine):

- Reading a manifest or ``.reconciler.yaml``: a path whose real location (symlinks
  followed) is outside the work tree is refused with :data:`OUTSIDE`; the caller skips
  that file like any invalid one. A symlink that stays inside is read.
- The derived files (the lockfile, ``triggers/`` and its records): no symlink at all on
  the path below the root, for reading or for writing, since writing through even a
  symlink that stays inside would overwrite another file. A :class:`PermanentError`
  names the path; callers check every path before writing any.
- Writing a manifest (the ``oc`` verbs' edits): its real location must be inside.

Writes open the last component with ``O_NOFOLLOW`` and walk the directories with
``O_NOFOLLOW`` file descriptors, so a symlink swapped in after a check is not followed
either. Must not decide what to read or write: the loader and the stores do.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

from reconciler.core.errors import PermanentError

OUTSIDE = "symlink to a path outside the repository: refused"
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class RefusedPath(OSError):
    """A path the work tree's rules refuse; ``str()`` says why, in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class FileTooLarge(OSError):
    """A file over the size limit the reader was given."""

    def __init__(self, size: int) -> None:
        super().__init__(f"file is {size} bytes")
        self.size = size


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def is_inside(root: Path, path: Path) -> bool:
    """Whether ``path``, symlinks followed, is ``root`` or below it."""
    real, top = _real(path), _real(root)
    return real == top or real.is_relative_to(top)


def resolve_inside(root: Path, path: Path) -> Path:
    """``path`` with symlinks followed; RefusedPath(OUTSIDE) when that leaves ``root``."""
    real, top = _real(path), _real(root)  # each resolved once: every file read asks
    if not (real == top or real.is_relative_to(top)):
        raise RefusedPath(OUTSIDE)
    return real


def read_inside(root: Path, path: Path, max_bytes: int | None = None) -> bytes:
    """The bytes of ``path``, a file of the work tree at ``root``. RefusedPath when it
    leads outside the tree or is not a regular file, FileTooLarge past ``max_bytes``,
    OSError when it cannot be read."""
    real = resolve_inside(root, path)
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | _CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RefusedPath("not a regular file: refused")
        if max_bytes is not None and info.st_size > max_bytes:
            raise FileTooLarge(info.st_size)
        data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise FileTooLarge(len(data))
    return data


def _symlink_refusal(relative: str) -> PermanentError:
    return PermanentError(
        f"{relative}: is a symlink where the reconciler keeps its own files (the "
        "lockfile and triggers/): refused, nothing written. Replace it with a plain "
        "file or directory in git."
    )


def check_derived(root: Path, relative: str) -> Path:
    """``root / relative`` after checking that no component below ``root`` is a symlink
    (PermanentError naming the first that is). The path need not exist."""
    current = root
    seen: list[str] = []
    for part in PurePosixPath(relative).parts:
        current = current / part
        seen.append(part)
        if current.is_symlink():
            raise _symlink_refusal("/".join(seen))
    return current


def read_derived(root: Path, relative: str) -> bytes | None:
    """A derived file's bytes, None when it does not exist; PermanentError when the path
    holds a symlink."""
    path = check_derived(root, relative)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | _CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symlink_refusal(relative) from exc
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise PermanentError(f"{relative}: not a regular file")
        return handle.read()


def write_derived(root: Path, relative: str, data: bytes, *, exclusive: bool = False) -> bool:
    """Write a derived file, creating its directories, never through a symlink: each
    directory is opened with O_NOFOLLOW, and so is the file. With ``exclusive``, an
    existing file is left alone and False returned. PermanentError names a symlink, or
    a path that cannot be written (a file where a directory should be)."""
    try:
        return _write_derived(root, relative, data, exclusive)
    except OSError as exc:
        raise PermanentError(f"{relative}: cannot write: {exc.strerror or exc}") from exc


def _write_derived(root: Path, relative: str, data: bytes, exclusive: bool) -> bool:
    parts = PurePosixPath(relative).parts
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    try:
        for index, part in enumerate(parts[:-1]):
            child = _enter(directory, part, "/".join(parts[: index + 1]))
            os.close(directory)
            directory = child
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | _CLOEXEC
        flags |= os.O_EXCL if exclusive else os.O_TRUNC
        try:
            fd = os.open(parts[-1], flags, 0o644, dir_fd=directory)
        except OSError as exc:
            if _is_link(parts[-1], directory):
                raise _symlink_refusal(relative) from exc
            if isinstance(exc, FileExistsError):
                return False
            raise
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return True
    finally:
        os.close(directory)


def _is_link(name: str, directory: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _enter(parent: int, name: str, shown: str) -> int:
    """Open directory ``name`` under the open directory ``parent``, creating it when
    missing; never through a symlink."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
    try:
        try:
            child = os.open(name, flags, dir_fd=parent)
        except FileNotFoundError:
            os.mkdir(name, 0o755, dir_fd=parent)
            child = os.open(name, flags, dir_fd=parent)
    except OSError as exc:
        if _is_link(name, parent):
            raise _symlink_refusal(shown) from exc
        raise
    return child


def write_inside(root: Path, relative: str, data: bytes) -> None:
    """Write a file of the work tree (a manifest a verb edits or creates): refused with
    RefusedPath when its real location is outside ``root``."""
    target = root / relative
    real = resolve_inside(root, target)
    real.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | _CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def remove_inside(root: Path, relative: str) -> None:
    """Delete a file of the work tree (undoing a verb's new file); a path that leads
    outside is left alone."""
    target = root / relative
    if target.is_symlink() or is_inside(root, target):
        target.unlink(missing_ok=True)
