"""The one framework every ``reconciler`` verb is written in: a verb module has
``register(subparsers)`` that calls :func:`add_verb` with its ``run(args, out) -> int``.
A verb returns an exit code from the table in :mod:`reconciler.core.errors` or raises a
:class:`~reconciler.core.errors.ReconcilerError`; :func:`reconciler.cli.main.main` is the
only place that turns errors into messages and exit codes.

Also here: the few ways verbs print (errors and warnings on stderr, data as JSON or
YAML, the files they wrote).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeAlias

from reconciler.core.errors import EXIT_CANNOT_RUN, EXIT_OK, EXIT_PROBLEMS
from reconciler.core.printable import escape_controls
from reconciler.core.violations import Violation

if TYPE_CHECKING:
    from reconciler.core.resolution import Failure

Run = Callable[[argparse.Namespace, TextIO], int]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

__all__ = ["EXIT_CANNOT_RUN", "EXIT_OK", "EXIT_PROBLEMS", "Run", "Subparsers", "add_verb"]


def exit_codes_help(one: str) -> str:
    """The "exit codes:" section of a verb's --help epilog; ``one`` says what 1 means."""
    return (
        "\nexit codes:\n"
        "  0  done\n"
        f"  1  {one}\n"
        "  2  could not run: not a checkout, an unreadable lockfile or manifest, git failed,\n"
        "     bad flags\n"
    )


def add_verb(
    subparsers: Subparsers,
    name: str,
    *,
    help: str | None = None,
    description: str,
    run: Run,
    examples: str = "",
    exit_one: str | None = None,
    aliases: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """A verb's parser, with its examples and exit codes in the epilog; ``run`` is what
    :func:`reconciler.cli.main.main` calls with the parsed flags. ``help`` (the line in
    the parent's ``--help``) defaults to the verb's line in
    :data:`reconciler.cli.verbs.VERBS`."""
    if help is None:
        from reconciler.cli.verbs import VERBS

        help = VERBS[name][1]
    epilog = ("examples:\n" + examples) if examples else ""
    if exit_one is not None:
        epilog += exit_codes_help(exit_one)
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        aliases=list(aliases),
    )
    parser.set_defaults(run=run)
    return parser


def err(message: str) -> None:
    print(escape_controls(f"reconciler: error: {message}", keep="\n\t"), file=sys.stderr)


def warn(message: str) -> None:
    print(escape_controls(f"reconciler: warning: {message}", keep="\n\t"), file=sys.stderr)


def report_problems(problems: Sequence[Violation], message: str) -> None:
    """The validation errors that stopped a verb, then ``message`` (what was not done)."""
    for violation in problems:
        err(violation.text())
    err(message)


def print_data(data: Any, fmt: str, out: TextIO) -> None:
    """``data`` as JSON (``-o json``) or YAML (``-o yaml``)."""
    if fmt == "json":
        print(json.dumps(data, indent=2), file=out)
        return
    from reconciler.core.yamltext import dump_yaml_text

    out.write(dump_yaml_text(data))


def finish(
    args: argparse.Namespace, root: Path, paths: Sequence[str], message: str, out: TextIO
) -> None:
    """Say which files a verb wrote, and with ``--commit`` commit exactly those."""
    for path in paths:
        print(f"wrote {path}", file=out)
    if getattr(args, "commit", False) and paths:
        from reconciler.gitrepo.checkout import commit_paths

        sha = commit_paths(root, paths, message)
        print(f"committed {sha[:12]}: {message.splitlines()[0]}", file=out)


def failure_line(failure: Failure) -> str:
    return f"  ! error: Import failed ({failure.reason}): {failure.message}"
