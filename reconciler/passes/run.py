"""One reconcile pass, the only module that knows both the pure core and the shells.
It reads as steps:

1. sync the work tree to the remote branch (git);
2. load and validate the manifests (files, core);
3. plan which tags need a registry answer, and ask (registry);
4. compute the desired lock and the trigger records that fall due (core);
5. write only what differs, commit only when bytes changed, push without force (git);
6. when the push is rejected because the branch moved, start again from step 1.

Level-triggered and idempotent: the desired lock is a function of the manifests, the
committed lock and the registries' answers, so running a pass twice changes nothing the
second time, and two reconcilers at once converge through git's compare-and-swap.
"""

from __future__ import annotations

import datetime as dt
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler.config import policy
from reconciler.config.settings import Settings
from reconciler.core.consumers import Consumer, read_consumer
from reconciler.core.errors import PermanentError, TransientError
from reconciler.core.lockdiff import TagChange, lock_changes
from reconciler.core.lockfile import Lock, LockfileError, parse_lock, render_lock
from reconciler.core.manifests import BUILD_CONFIG, DEPLOYMENT_CONFIG, IMAGE_STREAM, ManifestObject
from reconciler.core.repoconfig import RepoConfig, parse_repo_config
from reconciler.core.resolution import (
    PUSH,
    DesiredTags,
    Failure,
    ImportRequest,
    Outcome,
    build_lock,
    desired_tags,
    import_requests,
    recheckable,
)
from reconciler.core.streams import IMAGE_STREAM_IMAGE, IMAGE_STREAM_TAG, TagRef
from reconciler.core.triggers import TriggerRecord, derive_triggers
from reconciler.core.validation import ValidationReport, validate_objects
from reconciler.core.violations import Violation
from reconciler.files import loader, schemas, triggerstore
from reconciler.gitrepo.workspace import PushOutcome, Workspace
from reconciler.registry.client import RegistryClient
from reconciler.registry.errors import NOT_FOUND
from reconciler.registry.resolver import resolve_imports

Clock = Callable[[], dt.datetime]
# Called with a step's name as the pass passes it ("after-write", "after-commit",
# "after-push"; the deliverer adds "after-post"): the kill tests inject one that stops
# the process there, to show a crash at any step loses nothing. Production passes none.
Checkpoint = Callable[[str], None]


def no_checkpoint(step: str) -> None:
    """The production checkpoint: nothing happens between steps."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Plan:
    """Everything one pass decided, before anything is written."""

    report: ValidationReport
    config: RepoConfig
    old_lock: Lock
    new_lock: Lock
    old_bytes: bytes | None
    new_bytes: bytes
    changes: list[TagChange]
    triggers: list[TriggerRecord]  # new records only (ids without a file yet)
    failures: dict[TagRef, Failure] = field(default_factory=dict)
    requested: list[TagRef] = field(default_factory=list)  # asked the registries about
    resolve_seconds: float = 0.0  # time spent waiting on registries this pass
    recheckable: list[TagRef] = field(default_factory=list)  # scheduled and build outputs

    @property
    def lock_changed(self) -> bool:
        if self.old_bytes is None and not self.new_lock.tags and not self.new_lock.consumers:
            return False  # nothing to lock yet: no lockfile rather than an empty one
        return self.old_bytes != self.new_bytes

    @property
    def has_changes(self) -> bool:
        return self.lock_changed or bool(self.triggers)

    @property
    def skipped(self) -> list[str]:
        return sorted({o.display for o in self.report.invalid if not o.in_template})

    def commit_message(self) -> str:
        moved = [c for c in self.changes if c.kind == "moved"]
        added = [c for c in self.changes if c.kind == "added"]
        head = []
        if added:
            head.append(f"pin {len(added)} new tag{'s' * (len(added) != 1)}")
        if moved:
            head.append(f"move {len(moved)} tag{'s' * (len(moved) != 1)}")
        if self.triggers:
            head.append(f"open {len(self.triggers)} trigger{'s' * (len(self.triggers) != 1)}")
        others = len(self.changes) - len(moved) - len(added)
        if others:
            head.append(f"{others} other lock change{'s' * (others != 1)}")
        lines = ["reconciler: " + (", ".join(head) or "update lock"), ""]
        if self.changes:
            lines.append("Lock:")
            lines += [f"  {c.text}" for c in self.changes]
        if self.triggers:
            lines.append("Triggers:")
            lines += [f"  {t.id}: {t.summary()}" for t in self.triggers]
        if self.skipped:
            lines.append("Skipped (invalid, lock entries kept):")
            lines += [f"  {name}" for name in self.skipped]
        return "\n".join(lines).rstrip() + "\n"


ResolveCache = dict[ImportRequest, Outcome]
DueSelector = Callable[[list[TagRef]], Iterable[TagRef]]


def read_repo_config(root: Path) -> tuple[RepoConfig, list[Violation]]:
    path = root / loader.REPO_CONFIG_NAME
    if not path.is_file():
        return RepoConfig(), []
    return parse_repo_config(path.read_text(encoding="utf-8"), loader.REPO_CONFIG_NAME)


# Schema results per parsed object: unchanged files give back the same objects (see
# loader), so a daemon does not re-run the schemas on what it checked last pass.
_SCHEMA_RESULTS: weakref.WeakKeyDictionary[ManifestObject, list[Violation]] = (
    weakref.WeakKeyDictionary()
)


def _check_schema_cached(obj: ManifestObject) -> list[Violation]:
    found = _SCHEMA_RESULTS.get(obj)
    if found is None:
        found = schemas.check_schema(obj)
        _SCHEMA_RESULTS[obj] = found
    return found


def validate_repo(
    root: Path, settings: Settings | None = None
) -> tuple[RepoConfig, ValidationReport, int]:
    """Load and validate a checkout; returns the repo config, the report and the number
    of manifest files read. With ``settings``, the machine's import policy is checked
    too (allowed registries, platform annotations)."""
    config, config_problems = read_repo_config(root)
    loaded = loader.load_repo(root, config.default_namespace)
    report = validate_objects(
        loaded.objects,
        config,
        _check_schema_cached,
        [*config_problems, *loaded.violations],
        [policy.policy_check(settings)] if settings is not None else (),
    )
    return config, report, len(loaded.files)


_LAST_LOCK: list[tuple[bytes, Lock]] = []  # the last lock read or written, by its bytes


def remember_lock(raw: bytes, lock: Lock) -> None:
    _LAST_LOCK[:] = [(raw, lock)]


def read_lock(root: Path) -> tuple[Lock, bytes | None]:
    path = root / loader.LOCKFILE_NAME
    if not path.is_file():
        return Lock(), None
    raw = path.read_bytes()
    if _LAST_LOCK and _LAST_LOCK[0][0] == raw:
        return _LAST_LOCK[0][1], raw  # a daemon's next pass: the lock it just wrote
    try:
        lock = parse_lock(raw)
        remember_lock(raw, lock)
        return lock, raw
    except LockfileError as exc:
        raise PermanentError(
            f"{loader.LOCKFILE_NAME}:{exc.line}:{exc.column}: cannot read the lockfile: {exc}. "
            "It is not overwritten; fix or revert it in git."
        ) from exc


def compute_plan(
    root: Path,
    settings: Settings,
    client: RegistryClient | None,
    now: dt.datetime,
    cache: ResolveCache | None = None,
    select_due: DueSelector | None = None,
    force: Iterable[TagRef] = (),
) -> Plan:
    """Steps 2 to 4 on a checkout at ``root``: nothing is written. Without a client the
    registries are not asked (an offline plan). ``select_due`` picks,
    from the scheduled and build-output tags, those to re-check now (None: all of them,
    as a one-shot pass does)."""
    config, report, _ = validate_repo(root, settings)
    old_lock, old_bytes = read_lock(root)
    stamp = rfc3339(now)

    live = [o for o in report.valid if not o.in_template]
    invalid = [o for o in report.invalid if not o.in_template]
    streams = [o for o in live if o.kind == IMAGE_STREAM]
    consumers: list[Consumer] = [
        read_consumer(o) for o in live if o.kind in (BUILD_CONFIG, DEPLOYMENT_CONFIG)
    ]
    # A file that did not parse, or an invalid object without a usable name, may hold
    # streams we cannot name: then nothing committed is dropped this pass.
    unreadable = any(v.is_error and not v.object for v in report.violations) or any(
        not o.name or not isinstance(o.metadata.get("name"), str) for o in invalid
    )
    desired = desired_tags(
        streams,
        [o for o in invalid if o.kind == IMAGE_STREAM],
        consumers,
        config,
        unreadable=unreadable,
        invalid_consumers=[
            read_consumer(o) for o in invalid if o.kind in (BUILD_CONFIG, DEPLOYMENT_CONFIG)
        ],
    )
    due = None if select_due is None else select_due(recheckable(desired, old_lock))
    requests, failures = import_requests(desired, old_lock, scheduled_due=due, force=force)
    cache = cache if cache is not None else {}
    todo = [r for r in requests if r not in cache]
    started = time.perf_counter()
    if todo and client is not None:
        platforms = {
            (o.namespace, o.name): policy.stream_platform(o, settings.platform) for o in streams
        }
        with_outcomes = resolve_imports(
            todo,
            client,
            settings.registries,
            settings.platform,
            allowed=settings.allowed,
            pull_secrets=lambda r: config.pull_secrets.for_namespace(r.ref.namespace),
            platform_for=lambda r: platforms.get(
                (r.ref.namespace, r.ref.stream), settings.platform
            ),
        )
        by_ref = {r.ref: r for r in todo}
        for ref, outcome in with_outcomes.items():
            cache[by_ref[ref]] = outcome
    # Offline (no client, as ``watch`` runs): the tags to ask about stay as they were.
    outcomes: dict[TagRef, Outcome] = {r.ref: cache[r] for r in requests if r in cache}
    outcomes.update(failures)
    for ref in list(outcomes):
        outcome, source = outcomes[ref], desired.sources[ref]
        previous = old_lock.get(ref)
        if (
            source.kind == PUSH
            and isinstance(outcome, Failure)
            and outcome.reason == NOT_FOUND
            and (previous is None or previous.digest is None)
        ):
            # A build output that no build has pushed yet is waiting, not failing.
            del outcomes[ref]

    frozen_consumers = [o.key for o in invalid if o.kind in (BUILD_CONFIG, DEPLOYMENT_CONFIG)]
    new_lock = build_lock(old_lock, desired, outcomes, consumers, frozen_consumers, config, stamp)
    if old_bytes is not None and old_lock == new_lock:
        # Same model, so keep the committed bytes: a hand-reformatted lock is not a change.
        new_bytes = old_bytes
    else:
        new_bytes = render_lock(new_lock)
        remember_lock(new_bytes, new_lock)
    records = derive_triggers(old_lock, new_lock, consumers, stamp)
    existing = {r.id for r in triggerstore.read_records(root)[0]}
    return Plan(
        report=report,
        config=config,
        old_lock=old_lock,
        new_lock=new_lock,
        old_bytes=old_bytes,
        new_bytes=new_bytes,
        changes=lock_changes(old_lock, new_lock),
        triggers=[r for r in records if r.id not in existing],
        failures=_failures(outcomes, desired, new_lock),
        requested=[r.ref for r in requests],
        resolve_seconds=time.perf_counter() - started if todo and client is not None else 0.0,
        recheckable=recheckable(desired, new_lock),
    )


def _failures(
    outcomes: Mapping[TagRef, Outcome], desired: DesiredTags, new_lock: Lock
) -> dict[TagRef, Failure]:
    """What failed this pass: registry answers, and the tags that follow other tags
    (aliases, image pins) whose target could not be followed."""
    failures = {ref: o for ref, o in outcomes.items() if isinstance(o, Failure)}
    for ref, source in desired.sources.items():
        entry = new_lock.get(ref)
        if (
            ref not in failures
            and source.kind in (IMAGE_STREAM_TAG, IMAGE_STREAM_IMAGE)
            and entry is not None
            and entry.condition is not None
        ):
            failures[ref] = Failure(entry.condition.reason, entry.condition.message)
    return failures


def write_derived(
    root: Path, lock_bytes: bytes | None, records: Sequence[TriggerRecord]
) -> list[str]:
    """Write the lock (when ``lock_bytes`` is given) and the records whose id has no file
    yet; returns the repo-relative paths written."""
    written: list[str] = []
    if lock_bytes is not None:
        (root / loader.LOCKFILE_NAME).write_bytes(lock_bytes)
        written.append(loader.LOCKFILE_NAME)
    for record in triggerstore.write_new_records(root, list(records)):
        written.append(triggerstore.record_path(root, record).relative_to(root).as_posix())
    return written


def write_plan(root: Path, plan: Plan) -> list[str]:
    """Step 5a: write what differs; returns the repo-relative paths written."""
    return write_derived(root, plan.new_bytes if plan.lock_changed else None, plan.triggers)


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
) -> PassResult:
    """Steps 1 to 6. Registry answers are reused across push retries within the pass:
    only the manifests and the lock are re-read from the new head."""
    cache: ResolveCache = {}
    last_rejection = ""
    for attempt in range(1, settings.max_push_attempts + 1):
        head = workspace.sync()
        if workspace.review_branch:
            # Pull-request mode: start from what is already up for review.
            workspace.overlay_review([loader.LOCKFILE_NAME], [loader.TRIGGERS_DIR])
        plan = compute_plan(workspace.path, settings, client, clock(), cache, select_due)
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
    ]
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
