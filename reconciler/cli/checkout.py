"""A checkout of the GitOps repository as the ``oc`` verbs see it: its settings, every
manifest with its validation verdict, and the committed lock; where a new object's file
goes and how it is indented."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from reconciler.core import editing
from reconciler.core.errors import ConfigurationError
from reconciler.core.lockfile import Lock
from reconciler.core.manifests import IMAGE_STREAM, ManifestObject
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.validation import ValidationReport
from reconciler.core.violations import Violation
from reconciler.files import worktree
from reconciler.files.loader import LOCKFILE_NAME, REPO_CONFIG_NAME, manifest_files
from reconciler.files.lockstore import read_lock
from reconciler.passes.plan import validate_repo


def not_a_checkout(path: Path) -> str | None:
    """Why ``path`` is not a checkout of the GitOps repository, or None when it is one: a
    directory inside a git work tree, or holding a ``.reconciler.yaml``, an
    ``images.lock.yaml`` or at least one manifest file. A verb run anywhere else would
    report on nothing ("valid: 0 objects") or write a repository where none was meant."""
    if not path.is_dir():
        return f"{path}: not a directory (a checkout of the GitOps repository)"
    resolved = path.resolve()
    if any((d / ".git").exists() for d in (resolved, *resolved.parents)):
        return None
    if (path / REPO_CONFIG_NAME).is_file() or (path / LOCKFILE_NAME).is_file():
        return None
    if manifest_files(path):
        return None
    return (
        f"{path}: not a checkout of the GitOps repository (no .git above it, no "
        f"{REPO_CONFIG_NAME}, {LOCKFILE_NAME} or *.yaml manifest in it); give --repo PATH, "
        "or run `git init` there first"
    )


def require_checkout(path: Path) -> Path:
    """``path``, or ConfigurationError (exit 2) when it is not a checkout."""
    problem = not_a_checkout(path)
    if problem is not None:
        raise ConfigurationError(problem)
    return path


@dataclass
class Checkout:
    root: Path
    config: RepoConfig
    report: ValidationReport
    lock: Lock
    lock_bytes: bytes | None

    @classmethod
    def open(cls, repo: str) -> Checkout:
        root = require_checkout(Path(repo))
        config, report, _ = validate_repo(root)
        lock, raw = read_lock(root)
        return cls(root, config, report, lock, raw)

    def namespace(self, args: argparse.Namespace) -> str:
        return str(getattr(args, "namespace", None) or self.config.default_namespace)

    @property
    def objects(self) -> list[ManifestObject]:
        return [o for o in (*self.report.valid, *self.report.invalid) if not o.in_template]

    def streams(self) -> list[ManifestObject]:
        return [o for o in self.objects if o.kind == IMAGE_STREAM]

    def find(self, kind: str, namespace: str, name: str) -> ManifestObject | None:
        for obj in self.objects:
            if obj.kind == kind and obj.namespace == namespace and obj.name == name:
                return obj
        return None

    def find_stream(self, namespace: str, name: str) -> ManifestObject | None:
        return self.find(IMAGE_STREAM, namespace, name)

    def errors_for(self, obj: ManifestObject) -> list[Violation]:
        return [v for v in self.report.errors if v.file == obj.file]

    def new_file_path(self, kind: str, name: str, default_dir: str) -> str:
        """Where a new object of ``kind`` goes: the directory that holds most objects of
        that kind, else ``default_dir``; ``<name>.yaml`` unless taken."""
        counts: dict[str, int] = {}
        for obj in self.objects:
            if obj.kind == kind:
                parent = Path(obj.file).parent.as_posix()
                counts[parent] = counts.get(parent, 0) + 1
        directory = max(sorted(counts), key=lambda d: counts[d]) if counts else default_dir
        base = Path(directory) if directory != "." else Path()
        candidate = base / f"{name}.yaml"
        if (self.root / candidate).exists():
            candidate = base / f"{name}-{kind.lower()}.yaml"
        return candidate.as_posix()

    def style_for_new(self, kind: str) -> editing.Style:
        """New files follow the indentation of an existing file of the same kind."""
        for obj in self.objects:
            if obj.kind == kind:
                try:
                    raw = worktree.read_inside(self.root, self.root / obj.file)
                    text = raw.decode("utf-8-sig")
                except (OSError, UnicodeDecodeError):
                    continue
                return editing.detect_style(text)
        return editing.DEFAULT_STYLE
