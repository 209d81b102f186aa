"""What the daemon says about a pass that ran: the metrics it counts, the summary
``/status`` shows as ``lastPass``, and the log lines. No decisions, only reports."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.core.streams import TagRef
from reconciler.daemon.logs import log
from reconciler.daemon.metrics import Metrics
from reconciler.passes.run import PassResult


def count_pass(
    metrics: Metrics,
    result: PassResult,
    seconds: float,
    registry_status: Mapping[str, Mapping[str, object]],
    registry_of: Callable[[TagRef], str],
) -> None:
    """Count a successful pass: its duration, the tags asked, failures by registry and
    reason, the registries' request counters, commits and triggers opened."""
    plan = result.plan
    metrics.passes.labels("ok").inc()
    metrics.consecutive_failures.set(0)
    metrics.pass_seconds.observe(seconds)
    metrics.tags_resolved.inc(len(plan.requested))
    if plan.requested:
        metrics.registry_seconds.observe(plan.resolve_seconds)
    for host, snapshot in registry_status.items():
        metrics.registry_requests.labels(host).set(float(str(snapshot["requests"])))
        metrics.registry_errors.labels(host).set(float(str(snapshot["failures"])))
        metrics.registry_backed_off.labels(host).set(1.0 if snapshot["circuit_open"] else 0.0)
    for ref, failure in plan.failures.items():
        metrics.failures.labels(registry_of(ref), failure.reason).inc()
    if result.pushed:
        metrics.commits.inc()
        metrics.triggers.inc(len(plan.triggers))


def summary(result: PassResult, reason: str, seconds: float, now: float) -> dict[str, Any]:
    """The pass as ``/status`` shows it under ``lastPass``."""
    plan = result.plan
    return {
        "time": now,
        "reason": reason,
        "head": result.head,
        "commit": result.commit,
        "pushed": result.pushed,
        "attempts": result.attempts,
        "durationSeconds": round(seconds, 3),
        "requested": len(plan.requested),
        "changes": [c.text for c in plan.changes],
        "triggersOpened": [t.id for t in plan.triggers],
        "failures": {str(r): f"{f.reason}: {f.message}" for r, f in plan.failures.items()},
        "skipped": plan.skipped,
    }


def log_pass(result: PassResult, reason: str, seconds: float) -> None:
    """One line for the pass, one per failed tag, one per skipped object."""
    plan = result.plan
    log(
        logging.INFO,
        "pass done",
        reason=reason,
        requested=len(plan.requested),
        changes=len(plan.changes),
        triggers=len(plan.triggers),
        failures=len(plan.failures),
        skipped=len(plan.skipped),
        commit=result.commit or "",
        seconds=round(seconds, 3),
    )
    for ref, failure in sorted(plan.failures.items()):
        log(
            logging.WARNING,
            "import failed",
            tag=str(ref),
            reason=failure.reason,
            detail=failure.message,
        )
    for name in plan.skipped:
        log(logging.WARNING, "object skipped: invalid", object=name)
