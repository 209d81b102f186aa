"""The daemon's loop: keep one repository reconciled, reacting in seconds.

Each turn of the loop:
1. ask git where the branch is (``git ls-remote``: one round trip, no fetch);
2. work out which scheduled and build-output tags are due (core.schedule), plus the tags
   a registry notification named;
3. run a pass only when the head moved, a webhook arrived, or tags are due, and only
   when the last failure allows it (``faults``: a permanent error stalls until the input
   changes, a transient one backs off exponentially; success resets both);
4. record the check times, hand new open trigger records to the delivery outbox;
5. sleep until the next poll, the next due tag, the end of a backoff, or an event,
   whichever comes first.

Tags a registry notification named while their registry is backed off (its circuit open
or a 429 pause) stay queued, and are checked first when the backoff ends.

SIGTERM (or ``stop()``) sets one event: the current pass finishes, then the loop ends.

Replicas: only the lease's holder (``daemon.leadership``) runs passes and delivers; a
follower's turn does nothing, and its notifications only make it look at the lease.

Owns the loop, the entry points of the events it wakes on (``notify_git``,
``notify_registry``: cheap and thread-safe, called from the HTTP server's threads; what
they queue is kept in ``events``) and the status it reports. Must not parse requests,
bind sockets or install signal handlers (``server`` and ``startup`` do), or hold the
queued events itself (``events`` does).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from reconciler.config.settings import Settings
from reconciler.core.errors import TransientError
from reconciler.core.lockfile import Lock
from reconciler.core.references import (
    InvalidReference,
    parse_image_reference,
)
from reconciler.core.schedule import due_tags, next_due
from reconciler.core.streams import TagRef
from reconciler.core.triggers import TriggerRecord
from reconciler.daemon import causes, notifications, reports
from reconciler.daemon.causes import Cause
from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.delivery import Deliverer, enqueue_open_records, skip_reason
from reconciler.daemon.events import Events
from reconciler.daemon.faults import Faults
from reconciler.daemon.leadership import Leadership, View
from reconciler.daemon.logs import current_pass, log, new_pass_id, pass_context
from reconciler.daemon.metrics import Live, Metrics
from reconciler.daemon.state import REBUILT, Delivery, State
from reconciler.daemon.status import failed_deliveries, tag_status
from reconciler.daemon.webhooks import PushedRepository
from reconciler.files import triggerstore
from reconciler.files.contentcache import ContentCache
from reconciler.gitrepo import remote
from reconciler.gitrepo.workspace import GitError, Workspace, display_url
from reconciler.passes.clients import registry_client
from reconciler.passes.run import Checkpoint, PassResult, no_checkpoint, run_pass
from reconciler.registry.client import RegistryClient

PER_MINUTE_WINDOW = 60.0
MIN_WAIT = 0.05  # the loop never spins, whatever the arithmetic says


class Daemon:
    def __init__(
        self,
        config: DaemonConfig,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        client: RegistryClient | None = None,
        delivery_transport: Any = None,
        checkpoint: Checkpoint = no_checkpoint,
    ) -> None:
        self.config = config
        self.checkpoint = checkpoint
        self.settings = settings
        self.clock = clock
        self.state = State.open_or_rebuild(config.state_dir, clock())
        if self.state.moved_aside is not None:
            log(
                logging.WARNING,
                "state database unreadable: moved aside, starting from an empty state",
                error=self.state.corruption,
                moved_to=str(self.state.moved_aside),
                lost=REBUILT,
            )
        self.metrics = Metrics()
        self.faults = Faults(config.retry)
        # Parsed files, schema verdicts and the last lock, kept across this daemon's passes.
        self.contents = ContentCache()
        self.workspace = Workspace(
            config.repo_url, config.branch, config.work_dir, config.pull_request_branch
        )
        self.client = client or registry_client(settings)
        self.client.observe_responses(self.metrics.registry_response)
        self.metrics.bind(self._live)
        self.reports = reports.Reporter(self.metrics, self._registry_of)
        self.deliverer = Deliverer(
            self.state,
            self.metrics,
            config.delivery,
            clock,
            transport=delivery_transport,
            skip_reason=self._skip_reason,
            checkpoint=checkpoint,
            may_send=self._delivering,
        )
        self._records: dict[str, TriggerRecord] = {}
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._delivery_wake = threading.Event()
        self.events = Events()
        self._recent_checks: list[float] = []
        self._recheckable: list[TagRef] = []
        self._lock_model: Lock | None = None
        self.passes = 0
        self.last_head: str | None = self.state.get("last_head")
        self._seen_head: str | None = None  # what the last ls-remote said
        self.leadership = Leadership.for_config(config, self._on_lease_change)
        self.metrics.leader.set(1.0 if self.leadership.leading() else 0.0)
        self._pass_term: int | None = None  # the lease term of our last pass

    # -- events from the HTTP server --------------------------------------------------------

    def notify_git(self, source: str, delivery: str = "") -> None:
        if self.leadership.following():
            self.leadership.nudge()  # forward nothing: maybe the leader is gone
            return
        self.events.webhook(causes.webhook_delivery(source, delivery))
        log(logging.INFO, "git push webhook", source=source, delivery=delivery)
        self._wake.set()

    def notify_registry(self, pushes: Iterable[PushedRepository]) -> int:
        """Queue a re-check of every scheduled or build-output tag whose repository was
        pushed; returns how many tags matched."""
        pushes = list(pushes)
        if self.leadership.following():
            self.leadership.nudge()
            return 0
        matched = self.events.pushed(pushes, lambda: self.passes == 0)
        for push in pushes:
            # Its tag list changed: the next listing asks, however fresh the cached one.
            self.client.invalidate_tag_list(push.host, push.repository)
        if pushes:
            log(
                logging.INFO,
                "registry notification",
                pushes=len(pushes),
                tags=len(matched),
                repositories=sorted({notifications.named(p) for p in pushes})[:20],
            )
        if matched:
            self._wake.set()
        return len(matched)

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()
        self._delivery_wake.set()
        self.leadership.nudge()

    def _on_lease_change(self, view: View) -> None:
        self.metrics.leader.set(1.0 if view.leading else 0.0)
        self._wake.set()  # a new leader's first pass runs now

    def _delivering(self) -> bool:
        """Deliveries are ours to make: we lead, and our last pass was in this term."""
        view = self.leadership.view()
        return view.leading and self._pass_term == view.term

    # -- the loop -------------------------------------------------------------------------

    def remote_head(self) -> str | None:
        try:
            return remote.remote_head(self.config.repo_url, self.config.branch)
        except GitError as exc:
            log(logging.WARNING, "git ls-remote failed", error=str(exc)[:300])
            return None

    def _recent(self, now: float) -> int:
        self._recent_checks = [t for t in self._recent_checks if now - t < PER_MINUTE_WINDOW]
        return len(self._recent_checks)

    def _select_due(self, forced: set[TagRef]) -> Callable[[list[TagRef]], Iterable[TagRef]]:
        def select(candidates: list[TagRef]) -> Iterable[TagRef]:
            now = self.clock()
            due = due_tags(
                candidates, self.state.last_checked(), self._recent(now), now, self.config.policy
            )
            return set(due.due) | (forced & set(candidates))

        return select

    def _backed_off(self) -> dict[str, float]:
        """Registry hosts that may not be asked now, and for how many more seconds: an
        open circuit, or a 429 pause."""
        backoff = notifications.registry_backoff(self.client.registry_status())
        return {host: left for host, (_, left) in backoff.items() if left > 0}

    def next_wakeup(self) -> float:
        """Seconds until the loop must look again: the git poll, the next due tag, the end
        of a backoff (the loop's own, or a registry's that holds notified tags), or, when
        tags are overdue but this minute's import budget is spent, the moment the oldest
        import of the minute leaves the window (never a busy loop)."""
        now = self.clock()
        wait = self.config.git_poll_interval
        held = self.faults.wait(now)
        if held is not None and held > 0:
            # Failing: due tags are no reason to look sooner; the poll still notices a
            # new head, and events wake the loop.
            return max(min(wait, held), MIN_WAIT)
        forced = self.events.forced()
        if forced:
            backed_off = self._backed_off()
            wait = min(wait, min(self.events.held_for(r, backed_off) for r in forced))
        if not self.config.policy.disabled and self._recheckable:
            checked = self.state.last_checked()
            soonest = min(
                next_due(r, checked.get(r), self.config.policy) for r in self._recheckable
            )
            if soonest <= now and self._recent(now) >= self.config.policy.per_minute:
                soonest = self._recent_checks[0] + PER_MINUTE_WINDOW
            wait = min(wait, max(0.0, soonest - now))
        return max(wait, MIN_WAIT)

    def step(self) -> PassResult | None:
        """One turn of the loop; returns the pass result when a pass ran."""
        lease = self.leadership.current()
        if not lease.leading:
            self._recheckable = []  # nothing falls due on a follower: no early wake-ups
            error = self.leadership.error
            if lease.known or error is None or not self.faults.may_run(self.clock(), None, False):
                return None
            # No one can be seen to lead because the repository cannot be asked: a failed
            # turn like any other, so it backs off and /status and /readyz say why.
            raise TransientError(f"cannot read the replicas' lease: {error}")
        now = self.clock()
        head = self._seen_head = self.remote_head()
        taken = self.events.take(
            lambda new_event: self.faults.may_run(now, head, new_event), self._backed_off
        )
        if taken is None:
            return None  # stalled or backing off: the events wait, kept
        forced, webhooks, notified = taken
        due_now = []
        if not self.config.policy.disabled and self._recheckable:
            due_now = due_tags(
                self._recheckable,
                self.state.last_checked(),
                self._recent(now),
                now,
                self.config.policy,
            ).due
        first = self.passes == 0 or self._pass_term != lease.term  # a new term starts anew
        moved = head is not None and head != self.last_head
        if not (first or moved or webhooks or forced or due_now):
            return None
        why = causes.of_pass(
            first=first,
            term=lease.term if first and self.passes else None,
            moved=moved,
            webhooks=webhooks,
            notified=notified,
            due=len(set(due_now) - forced),
            notified_tags=len(forced),
        )
        with pass_context(new_pass_id()):  # every line of the pass carries its id
            reports.log_start(why)
            started = time.monotonic()
            # Each repository is listed at most once a pass, within each registry's budget.
            self.client.begin_pass()
            try:
                result = run_pass(
                    self.workspace,
                    self.settings,
                    self.client,
                    lambda: dt.datetime.fromtimestamp(self.clock(), dt.UTC),
                    select_due=self._select_due(forced),
                    checkpoint=self.checkpoint,
                    contents=self.contents,
                )
            except BaseException as exc:
                self.events.requeue(forced, webhooks)  # whatever failed, the events are not lost
                if not isinstance(exc, Exception):
                    raise
                self.pass_failed(exc, head, why, time.monotonic() - started)
                self._report_tag_lists()
                return None
            self.passes += 1
            self._report_tag_lists()
            self.faults.succeeded(self.clock())
            self._after_pass(result, now, why, time.monotonic() - started)
        self.events.hold_unanswered(forced, result.plan.failures, self._backed_off)
        self._pass_term = lease.term
        self._delivery_wake.set()
        return result

    def pass_failed(
        self,
        exc: BaseException,
        head: str | None,
        why: list[Cause] | None = None,
        seconds: float = 0.0,
    ) -> None:
        """Record a failed pass (``why`` its causes) or loop turn: stall (permanent) or
        back off (transient), and say so once, with the error in full."""
        now = self.clock()
        failure = self.faults.failed(exc, now, head)
        pass_id = current_pass() if why is not None else None
        self.reports.failed(failure, now, pass_id, why or [], now - seconds, seconds)

    def _report_tag_lists(self) -> None:
        """The pass's tag lists: pages counted by source, and a warning for each list the
        spent budget made us take from the cache (the plan's notes say it too)."""
        self.metrics.tag_lists(self.client.tag_list_status())
        for note in self.client.listing_notes():
            log(logging.WARNING, "tag list from the cache: request budget spent", detail=note)

    def _after_pass(self, result: PassResult, now: float, why: list[Cause], seconds: float) -> None:
        plan = result.plan
        recheckable = set(plan.recheckable)
        checked = [ref for ref in {*plan.requested, *plan.due} if ref in recheckable]
        self.state.record_checks(checked, now)
        self._recent_checks.extend([now] * len(checked))
        self._recheckable = plan.recheckable
        self._lock_model = plan.new_lock
        self._rebuild_index(plan.new_lock)
        early = self.events.take_early()
        if early:
            self.notify_registry(early)
        # The head the loop compares with is the tracked branch's; in pull-request mode
        # our commit went to the review branch and the tracked head did not move.
        pushed_here = result.commit is not None and not self.workspace.review_branch
        self.last_head = result.commit if pushed_here and result.commit else result.head
        self.state.put("last_head", self.last_head)
        # Git's listing of the work tree holds after a plain pass (committed or not); under
        # review the work tree is not the tracked head's, so the files are read.
        blobs = None if self.workspace.review_branch else self.workspace.tree_blobs()
        records, _ = triggerstore.read_records(self.workspace.path, self.contents, blobs)
        self._records = {r.id: r for r in records}
        if self.workspace.review_branch:
            # Under review, a record is delivered only once it is merged.
            merged = self.workspace.paths_at(self.workspace.tracked_head, "triggers")
            root = self.workspace.path
            records = [
                r
                for r in records
                if triggerstore.record_path(root, r).relative_to(root).as_posix() in merged
            ]
        added = enqueue_open_records(self.state, records, self.config.delivery)
        if added:
            self._delivery_wake.set()
        self.reports.completed(current_pass() or "", why, result, now, seconds, self.clock())

    def _registry_of(self, ref: TagRef) -> str:
        entry = self._lock_model.get(ref) if self._lock_model else None
        if entry is None:
            return ""
        try:
            return parse_image_reference(entry.source.name).registry or "unqualified"
        except InvalidReference:
            return ""

    def _rebuild_index(self, lock: Lock) -> None:
        index, hosts = notifications.index(lock, self._recheckable, self.settings.registries)
        self.events.set_index(index, hosts)

    def _skip_reason(self, item: Delivery) -> str | None:
        return skip_reason(self._records.get(item.id), self._lock_model)

    # -- status ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """What ``/readyz`` says. A leader: a pass has succeeded, and the loop is neither
        stalled on a permanent error nor ``retry.notReadyAfterFailures`` failures into a
        backoff. A follower: it knows who leads."""
        view = self.leadership.view()
        if not view.leading:
            return view.known  # a follower is ready once it knows who leads
        return self.faults.readiness()[0]

    def status(self) -> dict[str, Any]:
        outbox = self.state.deliveries()
        tags = tag_status(
            self._lock_model,
            self.state.last_checked(),
            self._recheckable,
            self.config.policy,
            self._records.values(),
            outbox,
        )
        return {
            "repo": display_url(self.config.repo_url),
            "leader": self.leadership.leading(),
            "lease": self.leadership.status(),
            "branch": self.config.branch,
            "ready": self.ready,
            "health": self.faults.status(self.clock()),
            "passes": self.passes,
            "head": self.last_head,
            "lastPass": self.reports.last,
            "deliveriesPending": self.state.pending_count(),
            "tags": tags,
            "recentPasses": [p.to_data() for p in self.reports.recent()],
            "failedDeliveries": failed_deliveries(outbox),
        }

    def _live(self) -> Live:
        """The scrape-time metrics (``Metrics.bind``)."""
        status = self.client.registry_status()
        backoff = notifications.registry_backoff(status)
        return Live(
            ready=self.ready,
            queue_depth=self.state.pending_count(),
            backoff=backoff,
            ratelimit_remaining=notifications.ratelimit_remaining(status),
            tag_list_budget_remaining={
                host: remaining
                for host, counts in self.client.tag_list_status().items()
                if (remaining := counts.get("remaining")) is not None
            },
        )

    # -- threads --------------------------------------------------------------------------

    def delivery_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                # Deliveries are judged against the latest good pass, made by the leader only.
                if self.passes and self._delivering():
                    with pass_context(self.reports.last_id):  # the pass it follows
                        self.deliverer.deliver_due()
            except Exception as exc:  # a bad target must not kill the worker
                log(logging.ERROR, "delivery sweep failed", error=str(exc))
            upcoming = self.state.next_delivery_time()
            wait = 5.0 if upcoming is None else max(0.05, min(5.0, upcoming - self.clock()))
            self._delivery_wake.wait(wait)
            self._delivery_wake.clear()

    def run(self) -> None:
        """Loop until ``stop()``; one pass at a time, in this thread."""
        worker = threading.Thread(target=self.delivery_loop, name="delivery", daemon=True)
        worker.start()
        lease = threading.Thread(
            target=self.leadership.run, args=(self.stopping,), name="lease", daemon=True
        )
        lease.start()
        try:
            while not self.stopping.is_set():
                try:
                    self.step()
                except Exception as exc:  # the loop survives anything one turn throws
                    self.pass_failed(exc, self._seen_head)  # ...and backs off (transient)
                if self.stopping.is_set():
                    break
                self._wake.wait(self.next_wakeup())
                self._wake.clear()
        finally:
            self._delivery_wake.set()
            worker.join(timeout=10)
            lease.join(timeout=10)
            self.close()

    def close(self) -> None:
        self.leadership.release()  # a follower takes over at its next look
        self.deliverer.close()
        self.client.close()
        self.state.close()
