"""One reconcile pass, the only module that knows both the pure core and the shells.
It reads as steps:

1. sync the work tree to the remote branch (git);
2. load and validate the manifests (files, core);
3. plan which tags need a registry answer, and ask (registry);
4. compute the desired lock and the trigger records that fall due (core);
5. write only what differs (the lock, new records, a write-back's manifest edits), commit
   only when bytes changed, push without force (git);
6. when the push is rejected because the branch moved, start again from step 1, keeping
   the registry answers except for tags the new head changed (asked again: an answer
   had before another replica's commit may be older than what it pinned).

Level-triggered and idempotent: the desired lock is a function of the manifests, the
committed lock and the registries' answers, so running a pass twice changes nothing the
second time, and two reconcilers at once converge through git's compare-and-swap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.config.settings import Settings
from reconciler.core.errors import PermanentError, TransientError
from reconciler.core.lockdiff import lock_changes
from reconciler.core.lockfile import Lock, LockfileError, parse_lock
from reconciler.core.plan import Plan
from reconciler.files import loader, manifeststore, triggerstore
from reconciler.files.contentcache import ContentCache
from reconciler.files.lockstore import write_derived
from reconciler.passes.plan import DueSelector, ResolveCache, compute_plan

# The callers hand these in; importing them here would load git and HTTP for every verb.
if TYPE_CHECKING:
    from reconciler.gitrepo.workspace import PushOutcome, Workspace
    from reconciler.registry.client import RegistryClient

Clock = Callable[[], dt.datetime]
# Called with a step's name as the pass passes it ("after-write", "after-commit",
# "after-push"; the deliverer adds "after-post"): the kill tests inject one that stops
# the process there, to show a crash at any step loses nothing. Production passes none.
Checkpoint = Callable[[str], None]


def no_checkpoint(step: str) -> None:
    """The production checkpoint: nothing happens between steps."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def write_plan(root: Path, plan: Plan) -> list[str]:
    """Step 5a: write what differs; returns the repo-relative paths written."""
    written = write_derived(root, plan.new_bytes if plan.lock_changed else None, plan.triggers)
    return written + manifeststore.write_edits(root, plan.edits)


@dataclass
class PassResult:
    plan: Plan
    commit: str | None = None
    pushed: bool = False
    attempts: int = 1
    head: str = ""


def run_pass(
    workspace: Workspace,
    settings: Settings,
    client: RegistryClient,
    clock: Clock = utc_now,
    *,
    dry_run: bool = False,
    select_due: DueSelector | None = None,
    checkpoint: Checkpoint = no_checkpoint,
    contents: ContentCache | None = None,
) -> PassResult:
    """Steps 1 to 6. Registry answers are reused across push retries within the pass,
    except for the tags whose committed entry changed between the heads (another replica
    pinned them, maybe to something newer than our answer): those are asked again, so a
    retry never moves a tag backwards. The manifests and the lock are re-read from the
    new head."""
    cache: ResolveCache = {}
    answered_against: Lock | None = None  # the lock the cached answers were had against
    last_rejection = ""
    for attempt in range(1, settings.max_push_attempts + 1):
        head = workspace.sync()
        # What git says the work tree now holds: files the cache knows by blob id are
        # neither read nor parsed (a pass whose tree did not change reads no YAML).
        blobs = workspace.tree_blobs()
        if workspace.review_branch:
            # Pull-request mode: start from what is already up for review.
            for path in workspace.overlay_review([loader.LOCKFILE_NAME], [loader.TRIGGERS_DIR]):
                blobs.pop(path, None)
        plan = compute_plan(
            workspace.path,
            settings,
            client,
            clock(),
            cache,
            select_due,
            contents=contents,
            answered_against=answered_against,
            blobs=blobs,
        )
        answered_against = plan.old_lock
        result = PassResult(plan=plan, attempts=attempt, head=head)
        if dry_run or (not plan.has_changes and not workspace.review_branch):
            return result
        paths = write_plan(workspace.path, plan)
        checkpoint("after-write")
        if workspace.review_branch:
            outcome_or_done = _commit_for_review(workspace, plan, result, checkpoint)
            if outcome_or_done is None:
                return result
            outcome = outcome_or_done
        else:
            result.commit = workspace.commit(plan.commit_message(), paths)
            if result.commit is None:
                return result
            checkpoint("after-commit")
            outcome = workspace.push()
        if outcome.pushed:
            result.pushed = True
            checkpoint("after-push")
            return result
        last_rejection = outcome.detail
    raise TransientError(
        f"push rejected {settings.max_push_attempts} times, the branch keeps moving "
        f"({last_rejection}); try again later"
    )


def _commit_for_review(
    workspace: Workspace, plan: Plan, result: PassResult, checkpoint: Checkpoint
) -> PushOutcome | None:
    """Pull-request mode: one commit on top of the tracked head holding every derived
    change not yet on the tracked branch; pushed to the review branch unless it already
    holds exactly that. None when there is nothing to push."""
    root = workspace.path
    derived = [
        name for name in (loader.LOCKFILE_NAME, loader.TRIGGERS_DIR) if (root / name).exists()
    ] + [edit.file for edit in plan.edits]
    tracked_raw = workspace.show(workspace.tracked_head, loader.LOCKFILE_NAME)
    try:
        tracked_lock = parse_lock(tracked_raw) if tracked_raw else Lock()
    except LockfileError as exc:
        raise PermanentError(
            f"{loader.LOCKFILE_NAME} on the tracked branch cannot be read: {exc}"
        ) from exc
    on_tracked = workspace.paths_at(workspace.tracked_head, loader.TRIGGERS_DIR)
    records, _ = triggerstore.read_records(root)
    review = replace(
        plan,
        changes=lock_changes(tracked_lock, plan.new_lock),
        triggers=[
            r
            for r in records
            if triggerstore.record_path(root, r).relative_to(root).as_posix() not in on_tracked
        ],
    )
    commit = workspace.commit(
        review.commit_message().replace("reconciler: ", "reconciler (for review): ", 1), derived
    )
    if commit is None:
        # The tracked branch already has it all: the review was merged, or is moot.
        workspace.delete_review_branch()
        return None
    result.commit = commit
    if workspace.review_is_current(commit):
        result.commit = None
        return None
    checkpoint("after-commit")
    return workspace.push()
