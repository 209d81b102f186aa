"""How a plan is shown: the text ``reconcile``, ``plan`` and ``watch`` print, the JSON
they print with ``-o json``, and the exit code a plan gives."""

from __future__ import annotations

import difflib
from typing import Any, TextIO

from reconciler.core.errors import EXIT_OK, EXIT_PROBLEMS
from reconciler.core.lockdiff import TagChange
from reconciler.core.lockfile import IMPORT_SUCCESS, TagLock
from reconciler.core.plan import Plan
from reconciler.files import loader


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "lockChanged": plan.lock_changed,
        "changes": [_change_json(plan, c) for c in plan.changes],
        "triggers": [t.to_data() for t in plan.triggers],
        "writeBack": [
            {"file": e.file, "object": w.obj.display, "field": w.field, "image": w.image}
            for e in plan.edits
            for w in e.writes
        ],
        "notes": plan.notes,
        "failures": {
            str(ref): {"type": f.condition, "reason": f.reason, "message": f.message}
            for ref, f in sorted(plan.failures.items())
        },
        "skipped": plan.skipped,
        "errors": [v.text() for v in plan.report.errors],
        "warnings": [v.text() for v in plan.report.warnings],
        "requested": [str(ref) for ref in plan.requested],
    }


def _side(entry: TagLock | None) -> dict[str, Any] | None:
    """A tag's pin on one side of a change: its digest, and the upstream tag a version
    policy picked (None for a tag without one)."""
    if entry is None:
        return None
    return {"digest": entry.digest, "upstreamTag": entry.chosen.tag if entry.chosen else None}


def _change_json(plan: Plan, change: TagChange) -> dict[str, Any]:
    """One lock change for scripts: the sentence, and what it moved from and to (``from``
    null for an added tag, ``to`` null for a removed one) by which policy."""
    old, new = plan.old_lock.get(change.ref), plan.new_lock.get(change.ref)
    either = new or old
    policy = either.source.policy if either is not None else None
    return {
        "tag": str(change.ref),
        "kind": change.kind,
        "text": change.text,
        "from": _side(old),
        "to": _side(new),
        "policy": policy.describe() if policy is not None else None,
    }


def print_plan(plan: Plan, out: TextIO, *, show_diff: bool, offline: bool = False) -> None:
    """``offline``: planned without a registry client (``watch``), so ``requested`` are
    the tags a pass would ask about."""
    report = plan.report
    asked = "would ask" if offline else "asked"
    print(
        f"validated {len(report.valid) + len(report.invalid)} objects: "
        f"{len(report.errors)} errors, {len(report.warnings)} warnings; "
        f"{asked} the registries about {len(plan.requested)} tags",
        file=out,
    )
    for violation in report.errors:
        print(f"  {violation.text()}", file=out)
    if plan.changes:
        print("lock:", file=out)
        for change in plan.changes:
            print(f"  {change.text}", file=out)
    if plan.triggers:
        print("triggers:", file=out)
        for record in plan.triggers:
            print(f"  {record.id}: {record.summary()}", file=out)
    if plan.edits:
        print("write-back:", file=out)
        for edit in plan.edits:
            for write in edit.writes:
                print(f"  {edit.file}: {write.text}", file=out)
    for note in plan.notes:
        print(note, file=out)
    if plan.failures:
        print("failed (last good digest kept):", file=out)
        for ref, failure in sorted(plan.failures.items()):
            # A refused signature says so: the registry answered, the gate said no.
            kind = "" if failure.condition == IMPORT_SUCCESS else f"{failure.condition}=False "
            print(f"  {ref}: {kind}{failure.reason}: {failure.message}", file=out)
    if plan.skipped:
        print("skipped (invalid; lock entries kept):", file=out)
        for name in plan.skipped:
            print(f"  {name}", file=out)
    if show_diff and plan.lock_changed:
        old = (plan.old_bytes or b"").decode().splitlines(keepends=True)
        new = plan.new_bytes.decode().splitlines(keepends=True)
        out.writelines(
            difflib.unified_diff(old, new, f"a/{loader.LOCKFILE_NAME}", f"b/{loader.LOCKFILE_NAME}")
        )
    for edit in plan.edits if show_diff else ():
        before = edit.writes[0].obj.source.replace("\r\n", "\n").splitlines(keepends=True)
        after = edit.text.splitlines(keepends=True)
        out.writelines(difflib.unified_diff(before, after, f"a/{edit.file}", f"b/{edit.file}"))


def exit_code_for(plan: Plan) -> int:
    return EXIT_PROBLEMS if (plan.report.errors or plan.failures) else EXIT_OK
