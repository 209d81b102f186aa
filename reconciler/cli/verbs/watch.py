"""``reconciler watch [PATH]``: for local editing. Re-validates and prints the plan on
every save (offline unless ``--resolve``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from reconciler.cli import flags
from reconciler.cli.command import EXIT_OK, Subparsers, add_verb
from reconciler.cli.planview import print_plan
from reconciler.core.plan import Plan

EXAMPLES = """\
  reconciler watch                 # offline: which tags a pass would ask about
  reconciler watch --resolve ~/src/images
"""


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "watch",
        description="Runs until interrupted (Ctrl-C).",
        run=run,
        examples=EXAMPLES,
    )
    p.add_argument("path", nargs="?", default=".", metavar="PATH", help="a checkout (default: .)")
    p.add_argument(
        "--resolve", action="store_true", help="ask the registries too (default: offline plan)"
    )
    flags.add_registry_flags(p)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.cli.checkout import require_checkout
    from reconciler.cli.watching import watch

    root = require_checkout(Path(args.path))
    settings = flags.settings_from_args(args)
    client = flags.client_from_settings(settings) if args.resolve else None

    def printer(plan: Plan, stream: TextIO) -> None:
        print_plan(plan, stream, show_diff=False, offline=client is None)

    try:
        watch(root, settings, client, out, printer)
    finally:
        if client is not None:
            client.close()
    return EXIT_OK
