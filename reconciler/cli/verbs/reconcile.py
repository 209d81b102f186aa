"""``reconciler reconcile --repo URL``: one pass. Clone or fetch into a work directory,
validate, resolve, commit the lock and new trigger records, push without force (and
start over from the new head when the push is rejected)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from reconciler.cli import flags, progress
from reconciler.cli.command import Subparsers, add_verb
from reconciler.cli.planview import exit_code_for, plan_json, print_plan
from reconciler.files.contentcache import ContentCache, cache_file
from reconciler.passes.run import PassResult, run_pass, utc_now

EXAMPLES = """\
  reconciler reconcile --repo git@example.com:ops/images.git --branch main
  reconciler reconcile --repo /srv/git/images.git --dry-run
  reconciler reconcile --repo /srv/git/images.git --review-branch reconciler/lock -o json
"""


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "reconcile",
        description="Exit 0 when everything reconciled, 1 when objects were skipped or tags "
        "failed to resolve (the rest still reconciled), 2 when the pass could not run.",
        run=run,
        examples=EXAMPLES,
    )
    p.add_argument("--repo", required=True, metavar="URL_OR_PATH", help="the GitOps repository")
    p.add_argument("--branch", default="main")
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan and the lock diff; write nothing"
    )
    p.add_argument(
        "--review-branch",
        metavar="BRANCH",
        help="pull-request mode: push lock updates to BRANCH, kept on top of --branch",
    )
    p.add_argument("--workdir", metavar="DIR", help="where to keep the clone")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    # The pass's clock, for tests of holds and minimum ages (as the oc verbs take it).
    p.add_argument("--now", help=argparse.SUPPRESS)
    flags.add_registry_flags(p)


def run(args: argparse.Namespace, out: TextIO) -> int:
    # Here, not at the top: building the parser (``--help``) must not load git.
    from reconciler.gitrepo.workspace import Workspace, default_workdir, display_url

    settings = flags.settings_from_args(args)
    workdir = (
        Path(args.workdir)
        if args.workdir
        else default_workdir(settings.cache_dir / "work", args.repo)
    )
    workspace = Workspace(args.repo, args.branch, workdir, args.review_branch)
    # What is a function of file bytes, kept on disk between runs: a pass over a tree
    # that did not change reads no YAML.
    stored = cache_file(settings.cache_dir, workspace.url)
    contents = ContentCache.load(stored)
    try:
        with (
            flags.client_from_settings(settings) as client,
            progress.activity(f"reconciling {display_url(args.repo)}"),
        ):
            moment = flags.now_of(args) if args.now else None
            result: PassResult = run_pass(
                workspace,
                settings,
                client,
                (lambda: moment) if moment is not None else utc_now,
                dry_run=args.dry_run,
                contents=contents,
            )
    finally:
        workspace.close()
    contents.save(stored)
    plan = result.plan
    if args.output == "json":
        data = plan_json(plan)
        data.update(
            head=result.head,
            commit=result.commit,
            pushed=result.pushed,
            attempts=result.attempts,
            dryRun=args.dry_run,
        )
        print(json.dumps(data, indent=2), file=out)
        return exit_code_for(plan)
    print(f"{display_url(args.repo)} ({args.branch}) at {result.head[:12]}", file=out)
    print_plan(plan, out, show_diff=args.dry_run)
    if args.dry_run:
        print("dry run: nothing written", file=out)
    elif result.pushed and result.commit:
        retry = f" after {result.attempts - 1} rejected push(es)" if result.attempts > 1 else ""
        target = args.review_branch or args.branch
        print(f"committed {result.commit[:12]} and pushed to {target}{retry}", file=out)
    elif args.review_branch:
        print(f"review branch {args.review_branch} is up to date", file=out)
    else:
        print("nothing changed: no commit", file=out)
    return exit_code_for(plan)
