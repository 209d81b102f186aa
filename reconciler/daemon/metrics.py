"""The daemon's Prometheus metrics, in a registry of its own (so tests can run several
daemons in one process without clashing on the global registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.passes = Counter(
            "reconciler_passes", "Reconcile passes, by result", ["result"], registry=r
        )
        self.pass_seconds = Histogram(
            "reconciler_pass_duration_seconds", "Duration of a reconcile pass", registry=r
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
        self.registry_requests = Gauge(
            "reconciler_registry_requests",
            "Requests sent to each registry since the daemon started",
            ["registry"],
            registry=r,
        )
        self.registry_errors = Gauge(
            "reconciler_registry_request_failures",
            "Failed requests to each registry since the daemon started",
            ["registry"],
            registry=r,
        )
        self.registry_backed_off = Gauge(
            "reconciler_registry_backed_off",
            "1 while a registry is backed off as a whole after repeated failures",
            ["registry"],
            registry=r,
        )
        self.commits = Counter("reconciler_commits", "Commits pushed", registry=r)
        self.triggers = Counter("reconciler_triggers_opened", "Trigger records opened", registry=r)
        self.deliveries = Counter(
            "reconciler_deliveries", "Trigger delivery attempts, by result", ["result"], registry=r
        )
        self.queue_depth = Gauge(
            "reconciler_queue_depth", "Trigger deliveries waiting to be made", registry=r
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
        self.last_pass = Gauge(
            "reconciler_last_pass_timestamp_seconds", "When the last pass ended", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
