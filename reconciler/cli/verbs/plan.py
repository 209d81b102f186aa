"""``reconciler plan``: what a pass would do to a local checkout (the registries are
asked; nothing is written): lock changes as a diff, the trigger records that would
open, failures and skipped objects."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from reconciler.cli import flags, progress
from reconciler.cli.checkout import require_checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.cli.planview import exit_code_for, plan_json, print_plan
from reconciler.files.contentcache import ContentCache, cache_file
from reconciler.passes.plan import compute_plan
from reconciler.passes.run import utc_now

EXAMPLES = """\
  reconciler plan                          # what a pass would do to this checkout
  reconciler plan --repo ~/src/images -o json
"""


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "plan",
        description="Exit 0 when the plan has no errors or failures, 1 when it has, 2 when it "
        "could not run (not a checkout: no .git above it, no .reconciler.yaml, lockfile or "
        "manifest in it).",
        run=run,
        examples=EXAMPLES,
    )
    p.add_argument("--repo", default=".", metavar="PATH", help="a checkout (default: .)")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.add_argument("--now", help=argparse.SUPPRESS)  # the clock, for tests
    flags.add_registry_flags(p)


def run(args: argparse.Namespace, out: TextIO) -> int:
    root = require_checkout(Path(args.repo))
    settings = flags.settings_from_args(args)
    # Kept on disk between runs: a file parsed and judged before (same bytes) is not
    # parsed again.
    stored = cache_file(settings.cache_dir, str(root.resolve()))
    contents = ContentCache.load(stored)
    with flags.client_from_settings(settings) as client, progress.activity("asking the registries"):
        now = flags.now_of(args) if args.now else utc_now()
        plan = compute_plan(root, settings, client, now, contents=contents)
    contents.save(stored)
    if args.output == "json":
        print(json.dumps(plan_json(plan), indent=2), file=out)
    else:
        print_plan(plan, out, show_diff=True)
        if not plan.has_changes:
            print("no changes", file=out)
    return exit_code_for(plan)
