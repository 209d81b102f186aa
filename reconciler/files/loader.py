"""Reading the checkout's own files from disk: which files of a repo are manifests, size
limits, text decoding, and ``.reconciler.yaml``. Parsing is ``reconciler.core``'s job;
this module only does the I/O. It never writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.manifests import ManifestObject
from reconciler.core.repoconfig import RepoConfig, parse_repo_config
from reconciler.core.violations import Violation
from reconciler.files import keyfiles
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
    found: list[Path] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if not filename.endswith(MANIFEST_SUFFIXES):
                continue
            path = Path(directory) / filename
            relative = path.relative_to(root).as_posix()
            if not is_machine_written(relative):
                found.append(path)
    return found


def load_file(
    path: Path, display: str, default_namespace: str, cache: ContentCache | None = None
) -> LoadedManifests:
    """One manifest file: its objects, and its problems as violations (never raised)."""
    result = LoadedManifests(files=[display])
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            result.violations.append(
                Violation(
                    display,
                    1,
                    1,
                    "",
                    "",
                    f"refused: file is {size} bytes, over the {MAX_FILE_BYTES} byte limit",
                )
            )
            return result
        raw = path.read_bytes()
    except OSError as exc:
        result.violations.append(Violation(display, 1, 1, "", "", f"cannot read: {exc.strerror}"))
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


def load_paths(
    paths: Sequence[Path],
    default_namespace: str = "default",
    relative_to: Path | None = None,
    cache: ContentCache | None = None,
) -> LoadedManifests:
    """Load files and directories (directories are walked like a repo)."""
    total = LoadedManifests()
    for path in paths:
        if path.is_dir():
            files: Iterable[Path] = manifest_files(path)
            base = relative_to or path
        else:
            files = [path]
            base = relative_to or path.parent
        for file in files:
            try:
                display = file.relative_to(base).as_posix()
            except ValueError:
                display = file.as_posix()
            loaded = load_file(file, display, default_namespace, cache)
            total.objects.extend(loaded.objects)
            total.violations.extend(loaded.violations)
            total.files.extend(loaded.files)
            total.other_documents += loaded.other_documents
    return total


def load_repo(
    root: Path, default_namespace: str = "default", cache: ContentCache | None = None
) -> LoadedManifests:
    """Every manifest file of the checkout at ``root`` (see :func:`manifest_files`)."""
    return load_paths([root], default_namespace, relative_to=root, cache=cache)


def read_repo_config(root: Path) -> tuple[RepoConfig, list[Violation]]:
    """The checkout's ``.reconciler.yaml`` (defaults when there is none); its problems
    are violations."""
    path = root / REPO_CONFIG_NAME
    if not path.is_file():
        return RepoConfig(), []
    config, problems = parse_repo_config(path.read_text(encoding="utf-8"), REPO_CONFIG_NAME)
    # The public keys it names (signatures.keys) are files of the repo too.
    return keyfiles.with_key_files(root, config, problems)
