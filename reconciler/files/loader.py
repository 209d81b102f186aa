"""Reading the checkout's own files from disk: which files of a repo are manifests, size
limits, text decoding, and ``.reconciler.yaml``. Parsing is ``reconciler.core``'s job;
this module only does the I/O. It never writes, and never reads outside the work tree:
a file whose symlink leads out is a violation (:mod:`reconciler.files.worktree`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.manifests import ManifestObject
from reconciler.core.repoconfig import RepoConfig, parse_repo_config
from reconciler.core.violations import Violation
from reconciler.files import keyfiles, worktree
from reconciler.files.contentcache import ContentCache

LOCKFILE_NAME = "images.lock.yaml"
TRIGGERS_DIR = "triggers"
REPO_CONFIG_NAME = ".reconciler.yaml"
MAX_FILE_BYTES = 4 * 1024 * 1024
MANIFEST_SUFFIXES = (".yaml", ".yml")
# Accepted when named explicitly (``reconciler validate x.json``); JSON is YAML.
EXPLICIT_SUFFIXES = (*MANIFEST_SUFFIXES, ".json")


@dataclass
class LoadedManifests:
    """What a set of files held: objects, problems (violations), the files read."""

    objects: list[ManifestObject] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    other_documents: int = 0


def is_machine_written(relative: str) -> bool:
    """The lockfile, trigger records and the repo config are not manifests."""
    parts = Path(relative).parts
    return relative in (LOCKFILE_NAME, REPO_CONFIG_NAME) or (
        len(parts) > 1 and parts[0] == TRIGGERS_DIR
    )


def manifest_files(root: Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` under ``root`` except hidden directories, the lockfile
    and trigger records, in a stable order."""
    return [path for path, _ in _manifest_entries(root)]


def _manifest_entries(root: Path) -> list[tuple[Path, str]]:
    """:func:`manifest_files` with each file's path from ``root`` (``a/b.yaml``), worked
    out per directory with strings: pathlib per file was a tenth of a no-op pass."""
    found: list[tuple[Path, str]] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(directory)
        prefix = os.path.relpath(directory, root).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        for filename in sorted(filenames):
            if not filename.endswith(MANIFEST_SUFFIXES):
                continue
            relative = prefix + filename
            if relative not in (LOCKFILE_NAME, REPO_CONFIG_NAME) and not relative.startswith(
                TRIGGERS_DIR + "/"
            ):  # is_machine_written, without pathlib
                found.append((base / filename, relative))
    return found


def load_file(
    path: Path,
    display: str,
    default_namespace: str,
    cache: ContentCache | None = None,
    root: Path | None = None,
    blob: str | None = None,
) -> LoadedManifests:
    """One manifest file: its objects, and its problems as violations (never raised).
    With ``root`` (the work tree it belongs to), a path that leads outside it is refused
    unread. ``blob`` is the file's git blob id when git listed it as a regular file of
    the tree: then a file parsed before is not even read."""
    result = LoadedManifests(files=[display])
    known = cache.parsed_blob(blob, display, default_namespace) if cache and blob else None
    if known is not None:
        result.objects.extend(known.objects)
        result.violations.extend(known.violations)
        result.other_documents += known.other_documents
        return result
    raw = _read(path, display, root, result.violations)
    if raw is None:
        return result
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        result.violations.append(Violation(display, line, 1, "", "", "not UTF-8 text"))
        return result
    parsed = (cache or ContentCache()).parsed_file(raw, text, display, default_namespace)
    result.objects.extend(parsed.objects)
    result.violations.extend(parsed.violations)
    result.other_documents += parsed.other_documents
    return result


def _read(path: Path, display: str, root: Path | None, problems: list[Violation]) -> bytes | None:
    """The file's bytes, or None with a violation added: outside the work tree, over the
    size limit, unreadable."""
    try:
        if root is None:
            return _read_named(path)
        return worktree.read_inside(root, path, MAX_FILE_BYTES)
    except worktree.FileTooLarge as exc:
        message = f"refused: file is {exc.size} bytes, over the {MAX_FILE_BYTES} byte limit"
    except worktree.RefusedPath as exc:
        message = str(exc)
    except OSError as exc:
        message = f"cannot read: {exc.strerror or exc}"
    problems.append(Violation(display, 1, 1, "", "", message))
    return None


def _read_named(path: Path) -> bytes:
    """A file named outside any work tree (``reconciler validate /some/file.yaml``): the
    user chose it, so only the size limit applies."""
    real = Path(os.path.realpath(path))
    return worktree.read_inside(real.parent, real, MAX_FILE_BYTES)


def load_paths(
    paths: Sequence[Path],
    default_namespace: str = "default",
    relative_to: Path | None = None,
    cache: ContentCache | None = None,
    root: Path | None = None,
    blobs: Mapping[str, str] | None = None,
) -> LoadedManifests:
    """Load files and directories (directories are walked like a repo). With ``root``,
    nothing outside that work tree is read: a path leading out is a violation. Without
    it, a walked directory is the boundary for what it holds. ``blobs``: the git blob id
    of each regular file by its path as shown (see :func:`load_repo`)."""
    total = LoadedManifests()
    for path in paths:
        if path.is_dir():
            entries = _manifest_entries(path)
            files: Iterable[Path] = [file for file, _ in entries]
            base = relative_to or path
            boundary: Path | None = root or path
            # Walked from base itself: the walk knows each file's path from it.
            shown = {file: relative for file, relative in entries} if base == path else {}
        else:
            files = [path]
            base = relative_to or path.parent
            boundary = root
            shown = {}
        for file in files:
            try:
                display = shown.get(file) or file.relative_to(base).as_posix()
            except ValueError:
                display = file.as_posix()
            blob = blobs.get(display) if blobs is not None else None
            loaded = load_file(file, display, default_namespace, cache, boundary, blob)
            total.objects.extend(loaded.objects)
            total.violations.extend(loaded.violations)
            total.files.extend(loaded.files)
            total.other_documents += loaded.other_documents
    return total


def load_repo(
    root: Path,
    default_namespace: str = "default",
    cache: ContentCache | None = None,
    blobs: Mapping[str, str] | None = None,
) -> LoadedManifests:
    """Every manifest file of the checkout at ``root`` (see :func:`manifest_files`).
    ``blobs`` is what git says the work tree holds, when it says so (a clone right after
    its sync): repo path -> blob id of each regular file. A file it lists whose blob the
    cache knows is not read at all; any other is read from disk as usual."""
    return load_paths(
        [root], default_namespace, relative_to=root, cache=cache, root=root, blobs=blobs
    )


def read_repo_config(root: Path) -> tuple[RepoConfig, list[Violation]]:
    """The checkout's ``.reconciler.yaml`` (defaults when there is none); its problems
    are violations. A symlink leading outside the checkout is refused unread."""
    path = root / REPO_CONFIG_NAME
    if not path.is_file() and not path.is_symlink():
        return RepoConfig(), []
    problems: list[Violation] = []
    raw = _read(path, REPO_CONFIG_NAME, root, problems)
    if raw is None:
        return RepoConfig(), problems
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return RepoConfig(), [Violation(REPO_CONFIG_NAME, line, 1, "", "", "not UTF-8 text")]
    config, parsed = parse_repo_config(text, REPO_CONFIG_NAME)
    # The public keys it names (signatures.keys) are files of the repo too.
    return keyfiles.with_key_files(root, config, [*problems, *parsed])
