"""``reconciler release IS:TAG``: end a hold (``reconciler hold``). The tag's hold
annotations are removed, and the tag is asked about right away, so that the same change
moves it to what it would have pinned without the hold (a policy tag picks again)."""

from __future__ import annotations

import argparse
from typing import TextIO

from reconciler.cli import command, flags
from reconciler.cli.checkout import Checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.cli.edits import Edits, edit_tag_annotations, istag_argument, pin_or_undo
from reconciler.core.errors import EXIT_OK, EXIT_PROBLEMS
from reconciler.core.lockdiff import short
from reconciler.core.tagrules import HOLD, HOLD_UNTIL

EXAMPLES = """\
  reconciler release marsview:latest
  reconciler release app:stable -n shop --commit
""" + command.exit_codes_help(
    "the tag is not in the manifests, the edit would make them invalid, or the tag failed\n"
    "     to resolve once released (the failure is recorded, the last good digest kept)"
)


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "release",
        description="End the hold on an image stream tag (reconciler hold): its hold "
        "annotations are removed and the tag is resolved again right away.",
        examples=EXAMPLES,
        run=run,
    )
    p.add_argument("target", metavar="IS:TAG", help="the image stream tag to release")
    flags.add_repo_flags(p)
    flags.add_commit_flag(p)
    flags.add_registry_flags(p)


def run(args: argparse.Namespace, out: TextIO) -> int:
    checkout = Checkout.open(args.repo)
    ref = istag_argument(args.target, checkout.namespace(args), "IS:TAG")
    edits = Edits(checkout.root)
    edit_tag_annotations(checkout, edits, ref, {HOLD: None, HOLD_UNTIL: None})
    where = f"{ref.stream}:{ref.tag}" if ref.namespace == checkout.namespace(args) else str(ref)
    if not edits.changes():
        print(f"{where} is not held: nothing to release", file=out)
        return EXIT_OK
    settings = flags.settings_from_args(args)
    now = flags.now_of(args)
    pinned = pin_or_undo(checkout, edits, settings, {ref}, now, reimport={ref})
    if pinned is None:
        return EXIT_PROBLEMS
    written, result = pinned
    old, new = checkout.lock.get(ref), result.new_lock.get(ref)
    moved = ""
    if old is not None and new is not None and old.digest != new.digest:
        moved = f"; moved {short(old.digest)} -> {short(new.digest)}"
    message = f"Tag {where} released{moved}."
    print(message, file=out)
    for _ref, failure in sorted(result.failures.items()):
        print(command.failure_line(failure), file=out)
    command.finish(
        args, checkout.root, written, f"reconciler release {args.target}\n\n{message}\n", out
    )
    return EXIT_PROBLEMS if result.failures else EXIT_OK
