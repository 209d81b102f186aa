"""The ``reconciler`` command line: builds the parser from the verb modules in
``reconciler.cli.verbs`` (each one idea, each written with :mod:`reconciler.cli.command`),
runs the chosen verb, and is the one place that turns a
:class:`~reconciler.core.errors.ReconcilerError` into a message and an exit code (the
table in :mod:`reconciler.core.errors`: 0 all good, 1 something invalid, skipped or
failed, 2 could not run).
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
from collections.abc import Sequence
from typing import TextIO, cast

from reconciler import __version__
from reconciler.cli.verbs import VERBS
from reconciler.core.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    ConfigurationError,
    ReconcilerError,
)
from reconciler.core.printable import escape_controls

EPILOG = """\
examples:
  reconciler validate                      # every manifest under the current directory
  reconciler validate streams/ -o github   # annotations for a CI job
  reconciler reconcile --repo git@example.com:ops/images.git --branch main
  reconciler reconcile --repo /srv/git/images.git --dry-run
  reconciler plan                          # what a pass would do to this checkout
  reconciler triggers list -o json
  reconciler triggers ack dc-marsview-1a2b3c4d5e6f --repo /srv/git/images.git
"""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``argv``, the parser for that command line: only the verb
    it names is built in full (its module imported), the others are listed for
    ``--help`` and nothing more. Each verb loads the parts of the program it uses, and
    ``reconciler --help`` none (``completion`` builds the whole parser itself)."""
    parser = argparse.ArgumentParser(
        prog="reconciler",
        description="OpenShift image streams made GitOps: validate manifests, pin every tag "
        "to a digest in images.lock.yaml, and open trigger records for rebuilds and redeploys.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    chosen = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for name, (module, summary) in VERBS.items():
        if chosen is None or chosen == name:
            importlib.import_module(f"reconciler.cli.verbs.{module}").register(subparsers)
        else:
            subparsers.add_parser(name, help=summary)
    return parser


class _Printable(io.TextIOBase):
    """The verbs' output stream: control characters other than newline and tab are
    escaped on their way to the stream it wraps. Names and messages come from a
    repository, and a NUL or an escape sequence must not reach a terminal or a pipe raw
    (JSON and YAML output escape them already; this covers every text line)."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(escape_controls(text, keep="\n\t"))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    stream = out or sys.stdout
    try:
        code = int(args.run(args, cast(TextIO, _Printable(stream))))
        stream.flush()  # a reader that went away shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        # The reader closed the pipe (`reconciler get istag -o json | head -1`). As Python's
        # docs advise (signal module, "Note on SIGPIPE"): point stdout at devnull so the
        # final flush at exit cannot fail again. Exit 141 (128 + SIGPIPE), what the shell
        # reports for a tool that SIGPIPE stopped: the output was cut short, and a
        # `set -o pipefail` script sees that as it would for any other such tool.
        if stream is sys.stdout:  # not a caller's stream (tests): its fd is not ours
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):
                pass  # a stdout without a file descriptor: no pipe left to flush into
            finally:
                os.close(devnull)
        return EXIT_BROKEN_PIPE
    except ReconcilerError as exc:
        problems = exc.problems if isinstance(exc, ConfigurationError) else (str(exc),)
        for problem in problems:
            print(escape_controls(f"reconciler: error: {problem}", keep="\n\t"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
