"""``reconciler run --config FILE``: the daemon. Keeps one repository reconciled
(scheduled imports, webhooks, registry notifications, metrics) until SIGTERM."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from reconciler.cli.command import Subparsers, add_verb

EXAMPLES = """\
  reconciler run --config /etc/imagestream-reconciler/daemon.yaml

exit codes (a service manager restarts on any but 0 and 2):
  0  stopped by SIGTERM or SIGINT, after the pass under way finished
  2  could not start: the configuration (its file, line and setting are named), the
     repository or branch does not exist or refuses access, the listen address is taken
"""


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "run",
        description="Runs until SIGTERM. See the README's 'Running on a server'.",
        run=run,
        examples=EXAMPLES,
    )
    p.add_argument("--config", required=True, metavar="FILE", help="daemon configuration (YAML)")


def run(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.daemon import startup  # the daemon's stack loads only for this verb

    return startup.main(Path(args.config))
