"""What the daemon says about a pass: the metrics it counts, the summary ``/status`` shows
as ``lastPass``, the bounded history of recent passes (``recentPasses``), and the log
lines. No decisions, only reports."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.core.streams import TagRef
from reconciler.core.times import rfc3339
from reconciler.daemon import causes
from reconciler.daemon.causes import Cause
from reconciler.daemon.faults import PERMANENT, Failure
from reconciler.daemon.logs import log
from reconciler.daemon.metrics import Metrics
from reconciler.passes.run import PassResult

OK, PARTIAL, ERROR = "ok", "partial", "error"
HISTORY = 50  # passes kept for /status, since the daemon started


def outcome(result: PassResult) -> str:
    """``partial`` when the pass ran but some tags failed to resolve or objects were
    skipped as invalid; else ``ok``."""
    plan = result.plan
    return PARTIAL if plan.failures or plan.skipped else OK


def _time(epoch: float) -> str:
    return rfc3339(dt.datetime.fromtimestamp(epoch, dt.UTC))


@dataclass(frozen=True)
class PassReport:
    """One pass as the history keeps it."""

    id: str
    causes: tuple[Cause, ...]
    started: float  # Unix time
    seconds: float
    outcome: str  # ok | partial | error
    commit: str | None = None
    changes: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    failures: int = 0
    skipped: int = 0
    requested: int = 0
    error: str = ""
    kind: str = ""  # an error's kind: permanent | transient

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "cause": causes.primary(self.causes),
            "causes": [c.to_data() for c in self.causes],
            "started": _time(self.started),
            "durationSeconds": round(self.seconds, 3),
            "outcome": self.outcome,
            "requested": self.requested,
            "changes": list(self.changes),
            "triggersOpened": list(self.triggers),
            "failures": self.failures,
            "skipped": self.skipped,
        }
        if self.commit:
            data["commit"] = self.commit
        if self.error:
            data["error"] = self.error
            data["kind"] = self.kind
        return data


def report_of(
    pass_id: str, why: Sequence[Cause], result: PassResult, started: float, seconds: float
) -> PassReport:
    plan = result.plan
    return PassReport(
        id=pass_id,
        causes=tuple(why),
        started=started,
        seconds=seconds,
        outcome=outcome(result),
        commit=result.commit if result.pushed else None,
        changes=tuple(c.text for c in plan.changes),
        triggers=tuple(t.id for t in plan.triggers) if result.pushed else (),
        failures=len(plan.failures),
        skipped=len(plan.skipped),
        requested=len(plan.requested),
    )


def count_pass(
    metrics: Metrics,
    result: PassResult,
    seconds: float,
    registry_of: Callable[[TagRef], str],
    now: float,
) -> None:
    """Count a pass that completed: its outcome and duration, when it ended, the tags
    asked, failures by registry and reason, commits and triggers opened, and the lock's
    tags (failing ones too)."""
    plan = result.plan
    metrics.passes.labels(outcome(result)).inc()
    metrics.consecutive_failures.set(0)
    metrics.pass_seconds.observe(seconds)
    metrics.last_success = metrics.last_attempt = now
    metrics.tags_resolved.inc(len(plan.requested))
    if plan.requested:
        metrics.registry_seconds.observe(plan.resolve_seconds)
    for ref, failure in plan.failures.items():
        metrics.failures.labels(registry_of(ref), failure.reason).inc()
    if result.pushed:
        metrics.commits.inc()
        metrics.triggers.inc(len(plan.triggers))
    tags = plan.new_lock.tags
    metrics.tag_count = len(tags)
    metrics.tags_failing = sum(1 for entry in tags.values() if entry.condition is not None)
    metrics.tags_held = sum(1 for entry in tags.values() if entry.hold is not None)
    metrics.tags_waiting = sum(1 for entry in tags.values() if entry.waiting)


def count_failure(metrics: Metrics, in_a_row: int, now: float) -> None:
    """Count a pass (or loop turn) that failed."""
    metrics.passes.labels(ERROR).inc()
    metrics.consecutive_failures.set(in_a_row)
    metrics.last_attempt = now


class Reporter:
    """Says what each pass did, in metrics, log lines, ``lastPass`` and the bounded
    history of recent passes (written by the loop, read by the HTTP threads)."""

    def __init__(
        self, metrics: Metrics, registry_of: Callable[[TagRef], str], limit: int = HISTORY
    ) -> None:
        self.metrics = metrics
        self.registry_of = registry_of
        self._history: deque[PassReport] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self.last: dict[str, Any] = {}  # /status's lastPass
        self.last_id: str | None = None  # the last pass's id

    def recent(self) -> list[PassReport]:
        """The last passes, newest first."""
        with self._lock:
            return list(self._history)

    def _add(self, report: PassReport) -> None:
        with self._lock:
            self._history.appendleft(report)
        self.last_id = report.id

    def completed(
        self,
        pass_id: str,
        why: Sequence[Cause],
        result: PassResult,
        started: float,
        seconds: float,
        now: float,
    ) -> None:
        count_pass(self.metrics, result, seconds, self.registry_of, now)
        report = report_of(pass_id, why, result, started, seconds)
        self._add(report)
        self.last = summary(result, report, now, why)
        log_pass(result, report, why)

    def failed(
        self,
        failure: Failure,
        now: float,
        pass_id: str | None,
        why: Sequence[Cause],
        started: float,
        seconds: float,
    ) -> None:
        """A failed pass (``pass_id`` set) or loop turn: counted, logged once with the
        error in full (git's own lines included), and kept as ``lastPass``."""
        count_failure(self.metrics, failure.count, now)
        retry_in = round(failure.retry_at - now, 1)
        log(
            logging.ERROR,
            "pass failed: stalled until the input changes"
            if failure.kind == PERMANENT
            else "pass failed: retrying with backoff",
            error=failure.error,
            kind=failure.kind,
            failures=failure.count,
            retry_in=retry_in,
            **(causes.log_fields(why) if why else {}),
        )
        self.last = {
            "error": failure.error,
            "kind": failure.kind,
            "time": now,
            "retryInSeconds": retry_in,
        }
        if pass_id is None:
            return
        self.last.update(
            id=pass_id,
            reason=causes.primary(why),
            causes=[c.to_data() for c in why],
            outcome=ERROR,
        )
        self._add(
            PassReport(
                id=pass_id,
                causes=tuple(why),
                started=started,
                seconds=seconds,
                outcome=ERROR,
                error=failure.error,
                kind=failure.kind,
            )
        )


def summary(
    result: PassResult, report: PassReport, now: float, why: Sequence[Cause]
) -> dict[str, Any]:
    """The pass as ``/status`` shows it under ``lastPass``."""
    plan = result.plan
    return {
        "id": report.id,
        "time": now,
        "reason": causes.primary(why),
        "causes": [c.to_data() for c in why],
        "outcome": report.outcome,
        "head": result.head,
        "commit": result.commit,
        "pushed": result.pushed,
        "attempts": result.attempts,
        "durationSeconds": round(report.seconds, 3),
        "requested": len(plan.requested),
        "changes": [c.text for c in plan.changes],
        "triggersOpened": [t.id for t in plan.triggers],
        "failures": {str(r): f"{f.reason}: {f.message}" for r, f in plan.failures.items()},
        "skipped": plan.skipped,
    }


def log_start(why: Sequence[Cause]) -> None:
    log(logging.INFO, "pass started", **causes.log_fields(why))


def log_pass(result: PassResult, report: PassReport, why: Sequence[Cause]) -> None:
    """One line for the pass, one per trigger record opened, one per failed tag, one per
    skipped object (all with the pass id: the caller is in the pass's context)."""
    plan = result.plan
    log(
        logging.INFO,
        "pass done",
        outcome=report.outcome,
        **causes.log_fields(why),
        requested=len(plan.requested),
        changes=len(plan.changes),
        triggers=len(plan.triggers),
        failures=len(plan.failures),
        skipped=len(plan.skipped),
        commit=result.commit or "",
        seconds=round(report.seconds, 3),
    )
    if result.pushed:
        for record in plan.triggers:
            log(
                logging.INFO,
                "trigger opened",
                record=record.id,
                consumer=str(record.consumer),
                tag=str(record.tag) if record.tag else "",
                digest=record.to_digest or "",
            )
    for ref, failure in sorted(plan.failures.items()):
        log(
            logging.WARNING,
            "import failed",
            tag=str(ref),
            reason=failure.reason,
            detail=failure.message,
        )
    # The first error of each skipped object, so the log says why without a `validate`.
    first_error: dict[str, str] = {}
    for violation in plan.report.errors:
        first_error.setdefault(violation.object, violation.text())
    for name in plan.skipped:
        log(logging.WARNING, "object skipped: invalid", object=name, why=first_error.get(name, ""))
