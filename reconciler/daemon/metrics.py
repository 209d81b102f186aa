"""The daemon's Prometheus metrics, in a registry of its own (so tests can run several
daemons in one process without clashing on the global registry).

Counters only ever go up (``*_total``); what is a state now (readiness, the delivery
queue, a registry's backoff) is read when ``/metrics`` is scraped, from the daemon
(``bind``), so it is never stale. Every labelled counter whose label values are known in
advance starts at 0, so ``increase()`` sees its first event. The README ("Running on a
server") lists them all, and ``deploy/kubernetes/components/prometheusrule`` alerts on
them.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reconciler import __version__

# Passes: ok (every tag answered, every object valid), partial (the pass ran and
# committed what it could, but some tags failed to resolve or objects were skipped),
# error (the pass failed: nothing was committed).
PASS_OUTCOMES = ("ok", "partial", "error")
# Deliveries, by final outcome: each record sent to a target counts once.
DELIVERY_OUTCOMES = ("delivered", "abandoned", "skipped")
# Tag list pages, by where a listing took them from (see reconciler.registry.taglists).
TAG_LIST_SOURCES = ("fetched", "not_modified", "cached", "stale")
ATTEMPT_OUTCOMES = ("ok", "failed")


@dataclass(frozen=True)
class Live:
    """What the daemon is now, read at each scrape."""

    ready: bool = False
    queue_depth: int = 0
    # Each registry host asked so far -> (backed off, seconds until it may be asked again).
    backoff: Mapping[str, tuple[bool, float]] = field(default_factory=dict)
    # Per host: what its last RateLimit-Remaining said (hosts that sent one).
    ratelimit_remaining: Mapping[str, int] = field(default_factory=dict)
    # Per host: tag-list requests this pass (or the last) may still send.
    tag_list_budget_remaining: Mapping[str, int] = field(default_factory=dict)


class _LiveCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        read = self.metrics.live
        return self._families(read() if read is not None else None)

    def _families(self, live: Live | None) -> list[Metric]:
        m = self.metrics
        ready = GaugeMetricFamily(
            "reconciler_ready", "1 while /readyz answers 200 (see README: Readiness)"
        )
        queue = GaugeMetricFamily(
            "reconciler_delivery_queue_depth",
            "Trigger deliveries waiting to be made (pending in the outbox, retries included)",
        )
        backed_off = GaugeMetricFamily(
            "reconciler_registry_backed_off",
            "1 while a registry host may not be asked: its circuit is open after repeated "
            "failures, or it asked for quiet with a 429",
            labels=["host"],
        )
        backoff_left = GaugeMetricFamily(
            "reconciler_registry_backoff_remaining_seconds",
            "Seconds until a backed-off registry host may be asked again (0: not backed off)",
            labels=["host"],
        )
        quota = GaugeMetricFamily(
            "reconciler_registry_ratelimit_remaining",
            "Requests a registry host says are left of its quota (its last "
            "RateLimit-Remaining, or r= of a structured RateLimit header); absent for hosts "
            "that never sent one",
            labels=["host"],
        )
        budget = GaugeMetricFamily(
            "reconciler_tag_list_budget_remaining",
            "Tag-list page requests the current (or last) pass may still send to a registry "
            "host; at 0, listings take cached pages",
            labels=["host"],
        )
        success = GaugeMetricFamily(
            "reconciler_last_successful_pass_timestamp_seconds",
            "When the last pass that completed (outcome ok or partial) ended, Unix time; "
            "absent until one has",
        )
        attempt = GaugeMetricFamily(
            "reconciler_last_attempted_pass_timestamp_seconds",
            "When the last pass ended, whatever its outcome (ok, partial, error), Unix "
            "time; absent until one has",
        )
        tags = GaugeMetricFamily("reconciler_tags", "Tags in the lock after the last pass")
        failing = GaugeMetricFamily(
            "reconciler_tags_failing",
            "Tags whose last resolve failed (an ImportSuccess=False condition in the lock)",
        )
        held = GaugeMetricFamily(
            "reconciler_tags_held",
            "Tags held (imagestream-reconciler.io/hold) after the last pass: they keep their "
            "digest until released or their hold-until passes",
        )
        waiting = GaugeMetricFamily(
            "reconciler_tags_waiting",
            "Tags with a new digest or candidate waiting out its minimum age after the last pass",
        )
        if live is not None:
            ready.add_metric([], 1.0 if live.ready else 0.0)
            queue.add_metric([], float(live.queue_depth))
            for host, (off, left) in sorted(live.backoff.items()):
                backed_off.add_metric([host], 1.0 if off else 0.0)
                backoff_left.add_metric([host], max(0.0, left))
            for host, remaining in sorted(live.ratelimit_remaining.items()):
                quota.add_metric([host], float(remaining))
            for host, remaining in sorted(live.tag_list_budget_remaining.items()):
                budget.add_metric([host], float(remaining))
            if m.last_success is not None:
                success.add_metric([], m.last_success)
            if m.last_attempt is not None:
                attempt.add_metric([], m.last_attempt)
            if m.tag_count is not None:
                tags.add_metric([], float(m.tag_count))
                failing.add_metric([], float(m.tags_failing))
                held.add_metric([], float(m.tags_held))
                waiting.add_metric([], float(m.tags_waiting))
        return [
            ready,
            queue,
            backed_off,
            backoff_left,
            quota,
            budget,
            success,
            attempt,
            tags,
            failing,
            held,
            waiting,
        ]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_*: CPU, memory, open files, start time
        PlatformCollector(registry=r)  # python_info
        self.build_info = Gauge(
            "reconciler_build_info",
            "Always 1; the labels say which reconciler and which Python run",
            ["version", "python"],
            registry=r,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.passes = Counter(
            "reconciler_passes",
            "Reconcile passes, by outcome: ok, partial (some tags failed to resolve or "
            "objects were skipped), error (the pass failed)",
            ["outcome"],
            registry=r,
        )
        self.pass_seconds = Histogram(
            "reconciler_pass_duration_seconds",
            "Duration of a reconcile pass that completed",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.tags_resolved = Counter(
            "reconciler_tags_resolved", "Tags the registries were asked about", registry=r
        )
        self.failures = Counter(
            "reconciler_resolve_failures",
            "Tags that failed to resolve, by registry and reason",
            ["registry", "reason"],
            registry=r,
        )
        self.registry_seconds = Histogram(
            "reconciler_registry_batch_duration_seconds",
            "Time to resolve one batch of tags against the registries",
            registry=r,
        )
        self.registry_requests = Counter(
            "reconciler_registry_requests",
            "Requests sent to registries (each retry too), by host and HTTP status code; "
            'code="error" when no answer came (timeout, connection or TLS failure)',
            ["host", "code"],
            registry=r,
        )
        self.tag_list_pages = Counter(
            "reconciler_tag_list_pages",
            "Tag list pages listings used, by registry host and source: fetched (a 200), "
            "not_modified (a 304 renewed it), cached (fresh, no request), stale (past its "
            "freshness, the pass's budget spent)",
            ["host", "source"],
            registry=r,
        )
        self.commits = Counter("reconciler_commits", "Commits pushed", registry=r)
        self.triggers = Counter("reconciler_triggers_opened", "Trigger records opened", registry=r)
        self.deliveries = Counter(
            "reconciler_deliveries",
            "Trigger deliveries by final outcome: delivered, abandoned (maxAttempts "
            "used up), skipped (acknowledged or superseded before it was sent)",
            ["outcome"],
            registry=r,
        )
        self.delivery_attempts = Counter(
            "reconciler_delivery_attempts",
            "Trigger delivery POSTs, by outcome (ok: a 2xx answer; failed: anything else)",
            ["outcome"],
            registry=r,
        )
        self.events = Counter(
            "reconciler_events",
            "Webhook and notification events, by source",
            ["source"],
            registry=r,
        )
        self.consecutive_failures = Gauge(
            "reconciler_consecutive_failed_passes",
            "Passes (or loop turns) that failed in a row; 0 after a good pass",
            registry=r,
        )
        self.leader = Gauge(
            "reconciler_leader", "1 while this replica holds the lease and leads", registry=r
        )
        for outcome in PASS_OUTCOMES:
            self.passes.labels(outcome)
        for outcome in DELIVERY_OUTCOMES:
            self.deliveries.labels(outcome)
        for outcome in ATTEMPT_OUTCOMES:
            self.delivery_attempts.labels(outcome)
        # Read at scrape time (see _LiveCollector); set by the daemon.
        self.live: Callable[[], Live] | None = None
        self.last_success: float | None = None
        self.last_attempt: float | None = None
        self.tag_count: int | None = None
        self.tags_failing = 0
        self.tags_held = 0
        self.tags_waiting = 0
        r.register(_LiveCollector(self))

    def bind(self, live: Callable[[], Live]) -> None:
        """Where the scrape-time gauges come from."""
        self.live = live

    def registry_response(self, host: str, code: str) -> None:
        """The registry client's callback: one request to ``host`` got ``code``."""
        self.registry_requests.labels(host, code).inc()

    def tag_lists(self, status: Mapping[str, Mapping[str, int | None]]) -> None:
        """Count a pass's tag list pages (the client's ``tag_list_status()``)."""
        for host, counts in status.items():
            for source in TAG_LIST_SOURCES:
                count = counts.get(source) or 0
                if count:
                    self.tag_list_pages.labels(host, source).inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
