"""``reconciler validate [PATH...]``: check manifests against the schemas, then the checks
that need more than one object (aliases, triggers, namespaces). Inside a repository (a
``.reconciler.yaml`` above the paths) every manifest of it is context, and only problems
in what was named are reported."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TextIO

from reconciler.cli import flags
from reconciler.cli.command import EXIT_OK, EXIT_PROBLEMS, Subparsers, add_verb
from reconciler.core.errors import ConfigurationError
from reconciler.core.manifests import IMAGE_STREAM
from reconciler.core.tagrules import expired_holds
from reconciler.core.validation import validate_objects
from reconciler.core.violations import Violation, format_violations, sort_violations
from reconciler.files import loader, schemas, worktree

EXAMPLES = """\
  reconciler validate                      # every manifest under the current directory
  reconciler validate streams/ -o github   # annotations for a CI job
  reconciler validate -o json imagestreams/marsview.yaml
"""


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "validate",
        description="Exit 0 when valid, 1 when invalid, 2 when it could not run (a "
        "directory that is not a checkout: no .git above it, no .reconciler.yaml, lockfile or "
        "manifest in it).",
        run=run,
        examples=EXAMPLES,
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: .)")
    p.add_argument("-o", "--output", choices=["text", "json", "github"], default="text")
    p.add_argument("--now", help=argparse.SUPPRESS)  # the clock (expired holds), for tests
    flags.add_registry_flags(p)


def _absolute(path: Path) -> Path:
    """``path`` made absolute without following symlinks: where the user named it."""
    return Path(os.path.abspath(path))


def _repo_root(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` (as named, symlinks not followed)
    holding a .reconciler.yaml."""
    start = _absolute(path) if path.is_dir() else _absolute(path).parent
    for candidate in (start, *start.parents):
        if (candidate / loader.REPO_CONFIG_NAME).is_file():
            return candidate
    return None


def _relative(path: Path, root: Path) -> str | None:
    """``path`` from ``root`` as named ("" for the root itself), or None when it is not
    under ``root``."""
    absolute = _absolute(path)
    if absolute == root:
        return ""
    if absolute.is_relative_to(root):
        return absolute.relative_to(root).as_posix()
    return None


def _named(file: str, wanted: list[str]) -> bool:
    """``file`` (repo-relative) is one of, or under one of, the ``wanted`` paths."""
    return any(not w or file == w or file.startswith(w.rstrip("/") + "/") for w in wanted)


def run(args: argparse.Namespace, out: TextIO) -> int:
    paths = [Path(p) for p in args.paths] or [Path(".")]
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise ConfigurationError(f"{path}: no such file or directory")
    root = _repo_root(paths[0])
    if root is not None:
        # Inside a repo (a .reconciler.yaml above): its settings apply, every manifest
        # of it is context for the cross-object checks, paths are shown from its root,
        # and only problems in what was named are reported. Nothing is read outside it
        # through a symlink, even when named.
        config, problems = loader.read_repo_config(root)
        loaded = loader.load_repo(root, config.default_namespace)
        wanted: list[str] = []
        for path in paths:
            relative = _relative(path, root)
            if relative is None:
                # Named outside the repo: the user's own choice of file.
                extra = loader.load_paths([path], config.default_namespace, relative_to=root)
                wanted.append(path.as_posix())
            elif not worktree.is_inside(root, path):
                problems.append(Violation(relative, 1, 1, "", "", worktree.OUTSIDE))
                wanted.append(relative)
                continue
            elif path.suffix == ".json":
                extra = loader.load_paths(
                    [path], config.default_namespace, relative_to=root, root=root
                )
                wanted.append(relative)
            else:
                wanted.append(relative)
                continue
            loaded.objects += extra.objects
            loaded.violations += extra.violations
            loaded.files += extra.files
        loaded.files = [f for f in loaded.files if _named(f, wanted)]
    else:
        from reconciler.cli.checkout import require_checkout

        # A directory named (or the current one) must be a checkout: anywhere else there
        # is nothing to judge, and "valid: 0 objects" would say otherwise.
        for path in paths:
            if path.is_dir():
                require_checkout(path)
        base = next((p for p in paths if p.is_dir()), Path("."))
        config, problems = loader.read_repo_config(base)
        loaded = loader.load_paths(paths, config.default_namespace)
        wanted = [""]
    report = validate_objects(
        loaded.objects,
        config,
        schemas.check_schema,
        [*problems, *loaded.violations],
        [flags.settings_from_args(args).policy_check()],
    )
    # A hold whose hold-until has passed released itself: say so where it is written.
    now = flags.now_of(args)
    report.violations = sort_violations(
        [
            *report.violations,
            *(v for o in report.valid if o.kind == IMAGE_STREAM for v in expired_holds(o, now)),
        ]
    )
    report.violations = [v for v in report.violations if _named(v.file, wanted)]
    loaded.objects = [o for o in loaded.objects if _named(o.file, wanted)]
    if args.output == "json":
        print(
            json.dumps(
                {
                    "valid": not report.errors,
                    "files": len(loaded.files),
                    "objects": len(loaded.objects),
                    "errors": len(report.errors),
                    "warnings": len(report.warnings),
                    "violations": json.loads(format_violations(report.violations, "json")),
                },
                indent=2,
            ),
            file=out,
        )
    else:
        text = format_violations(report.violations, args.output)
        if text:
            print(text, file=out)
        if args.output == "text":
            verdict = "invalid" if report.errors else "valid"
            print(
                f"{verdict}: {len(loaded.objects)} objects in {len(loaded.files)} files, "
                f"{len(report.errors)} errors, {len(report.warnings)} warnings",
                file=out,
            )
    return EXIT_PROBLEMS if report.errors else EXIT_OK
