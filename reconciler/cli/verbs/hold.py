"""``reconciler hold IS:TAG --reason TEXT [--until DATE]``: keep a tag at the digest it
pins now. The hold is written where the user owns it, as annotations on the spec tag
(``imagestream-reconciler.io/hold`` and ``hold-until``, see
``reconciler.core.tagrules``), so it survives whatever happens to the lock (derived data:
"take either side" on a merge), and mirrored into the lock, where a reviewer sees it. A
held tag is not asked about; ``reconciler release`` ends the hold, and so does
``--until`` passing.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from reconciler.cli import command, flags
from reconciler.cli.checkout import Checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.cli.edits import Edits, edit_tag_annotations, istag_argument, pin_or_undo
from reconciler.core.errors import EXIT_OK, EXIT_PROBLEMS, PermanentError
from reconciler.core.tagrules import HOLD, HOLD_UNTIL, MAX_REASON_LENGTH, parse_until
from reconciler.core.times import rfc3339

EXAMPLES = """\
  # keep marsview:latest where it is while an incident is investigated
  reconciler hold marsview:latest --reason "INC-4711: rollout paused"
  # until a date (midnight UTC), or an RFC 3339 time; commit the change
  reconciler hold app:stable --reason "CVE-2026-1234 fix under review" --until 2026-12-01 --commit
""" + command.exit_codes_help(
    "the tag is not in the manifests, or the edit would make them invalid"
)


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "hold",
        description="Hold an image stream tag at the digest it pins now: the tag's "
        "annotations say so (imagestream-reconciler.io/hold, hold-until) and the lock "
        "mirrors it. A pass does not move a held tag; reconciler release ends the hold, "
        "and so does --until passing.",
        examples=EXAMPLES,
        run=run,
    )
    p.add_argument("target", metavar="IS:TAG", help="the image stream tag to hold")
    p.add_argument("--reason", required=True, help="why (shown in the lock, plan and describe)")
    p.add_argument(
        "--until",
        metavar="DATE",
        help="end of the hold: YYYY-MM-DD (midnight UTC) or an RFC 3339 time",
    )
    flags.add_repo_flags(p)
    flags.add_commit_flag(p)
    flags.add_registry_flags(p)


def run(args: argparse.Namespace, out: TextIO) -> int:
    checkout = Checkout.open(args.repo)
    ref = istag_argument(args.target, checkout.namespace(args), "IS:TAG")
    reason = args.reason.strip()
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise PermanentError(
            f"--reason: say why the tag is held, in at most {MAX_REASON_LENGTH} characters",
            exit_code=EXIT_PROBLEMS,
        )
    until = None
    if args.until:
        try:
            until = parse_until(args.until)
        except ValueError as exc:
            raise PermanentError(f"--until: {exc}", exit_code=EXIT_PROBLEMS) from None
    now = flags.now_of(args)
    if until is not None and until <= now:
        raise PermanentError(f"--until {args.until}: that is in the past", exit_code=EXIT_PROBLEMS)
    edits = Edits(checkout.root)
    # The date as given (a day stays a day); a time as the lock writes times.
    until_text = (
        None if until is None else (args.until if len(args.until) == 10 else rfc3339(until))
    )
    edit_tag_annotations(checkout, edits, ref, {HOLD: reason, HOLD_UNTIL: until_text})
    where = f"{ref.stream}:{ref.tag}" if ref.namespace == checkout.namespace(args) else str(ref)
    ending = f" until {rfc3339(until)}" if until is not None else ""
    if not edits.changes():
        print(f"{where} is held already: {reason}{ending}", file=out)
        return EXIT_OK
    settings = flags.settings_from_args(args)
    pinned = pin_or_undo(checkout, edits, settings, {ref}, now, reimport=None)
    if pinned is None:
        return EXIT_PROBLEMS
    written, result = pinned
    entry = result.new_lock.get(ref)
    at = f" at {entry.digest[:19]}" if entry is not None and entry.digest else ""
    message = f"Tag {where} held{at}{ending}: {reason}"
    print(message, file=out)
    command.finish(
        args, checkout.root, written, f"reconciler hold {args.target}\n\n{message}\n", out
    )
    return EXIT_OK
