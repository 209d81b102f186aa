"""Trigger delivery: every open trigger record whose consumer matches a configured target
is POSTed there, at least once, from the durable outbox in the state directory, with an
``Idempotency-Key`` header (the record id) so the receiver can drop repeats; failures are
retried with exponential backoff and jitter until ``maxAttempts``.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import random
from collections.abc import Callable, Sequence

import httpx

from reconciler.core.lockfile import Lock
from reconciler.core.triggers import CONFIG_CHANGE, IMAGE_CHANGE, OPEN, TriggerRecord
from reconciler.daemon.config import DeliveryTarget
from reconciler.daemon.logs import log
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.state import Delivery, State

MAX_BACKOFF = 300.0


def backoff(attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after ``attempts`` failed attempts: 1, 2, 4 ... capped, +-50 %."""
    base: float = min(MAX_BACKOFF, 2.0 ** max(0, attempts - 1))
    return base * (0.5 + rand())


def target_host(url: str) -> str:
    """Where a delivery goes, fit to show: scheme and host only (webhook URLs often carry
    their secret in the path)."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/..."


def enqueue_open_records(
    state: State, records: Sequence[TriggerRecord], targets: Sequence[DeliveryTarget]
) -> int:
    """Put each open record into the outbox once per matching target."""
    added = 0
    for record in records:
        if record.status != OPEN:
            continue
        for target in targets:
            if fnmatch.fnmatchcase(str(record.consumer), target.match):
                body = json.dumps(record.to_data(), sort_keys=True)
                added += state.enqueue(record.id, target.url, body, target.max_attempts)
    return added


class Deliverer:
    def __init__(
        self,
        state: State,
        metrics: Metrics,
        targets: Sequence[DeliveryTarget],
        clock: Callable[[], float],
        transport: httpx.BaseTransport | None = None,
        skip_reason: Callable[[Delivery], str | None] = lambda item: None,
        checkpoint: Callable[[str], None] = lambda step: None,
        may_send: Callable[[], bool] = lambda: True,
    ) -> None:
        self.checkpoint = checkpoint  # see reconciler.passes.run.Checkpoint
        # Asked right before each POST: False stops the sweep (a replica that lost the
        # lease mid-sweep leaves the rest to the new leader).
        self.may_send = may_send
        self.state = state
        self.metrics = metrics
        self.clock = clock
        # Asked right before each POST: a reason not to send (the record was acknowledged,
        # or a newer record for the same consumer and tag supersedes it), or None.
        self.skip_reason = skip_reason
        self.timeouts = {t.url: t.timeout for t in targets}
        self.client = httpx.Client(transport=transport, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def deliver_due(self) -> int:
        """One sweep over the due deliveries; returns how many succeeded."""
        delivered = 0
        for item in self.state.due_deliveries(self.clock()):
            if not self.may_send():
                break
            reason = self.skip_reason(item)
            if reason is not None:
                self.state.mark_skipped(item.id, item.url, reason)
                self.metrics.deliveries.labels("skipped").inc()  # a final outcome
                log(logging.INFO, "trigger delivery skipped", record=item.id, reason=reason)
                continue
            try:
                response = self.client.post(
                    item.url,
                    content=item.body.encode(),
                    headers={
                        "Content-Type": "application/json",
                        "Idempotency-Key": item.id,
                        "User-Agent": "imagestream-reconciler",
                    },
                    timeout=self.timeouts.get(item.url, 10.0),
                )
                ok = 200 <= response.status_code < 300
                self.checkpoint("after-post")
                error = "" if ok else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            target = target_host(item.url)
            self.metrics.delivery_attempts.labels("ok" if ok else "failed").inc()
            if ok:
                self.state.mark_delivered(item.id, item.url, self.clock())
                self.metrics.deliveries.labels("delivered").inc()
                log(logging.INFO, "trigger delivered", record=item.id, target=target)
                delivered += 1
            elif item.attempts + 1 >= item.max_attempts:
                self.state.mark_failed_attempt(item.id, item.url, error, self.clock())
                self.metrics.deliveries.labels("abandoned").inc()
                log(
                    logging.ERROR,
                    "trigger delivery abandoned",
                    record=item.id,
                    target=target,
                    attempts=item.attempts + 1,
                    error=error,
                )
            else:
                delay = backoff(item.attempts + 1)
                self.state.mark_failed_attempt(item.id, item.url, error, self.clock() + delay)
                log(
                    logging.WARNING,
                    "trigger delivery failed, will retry",
                    record=item.id,
                    target=target,
                    attempt=item.attempts + 1,
                    retry_in=round(delay, 1),
                    error=error,
                )
        return delivered


def skip_reason(record: TriggerRecord | None, lock: Lock | None) -> str | None:
    """Why a queued delivery of ``record`` is no longer worth sending, judged against the
    latest pass's ``lock``: the record was acknowledged (or deleted), or a newer record
    supersedes it (its tag moved on, or its consumer's spec changed again). Only the
    newest record of a consumer's input is delivered, so a receiver never ends on an
    older image. None: send it."""
    if record is None:
        return "the record is no longer in the repository"
    if record.status != OPEN:
        return f"the record is {record.status}"
    if lock is None:
        return None
    if record.type == IMAGE_CHANGE and record.tag is not None:
        entry = lock.get(record.tag)
        if entry is not None and entry.digest != record.to_digest:
            return f"superseded: {record.tag} has moved on to {(entry.digest or '')[:19]}"
    if record.type == CONFIG_CHANGE:
        current = lock.consumers.get(record.consumer)
        if current is not None and current != record.spec_hash:
            return f"superseded: the spec of {record.consumer} changed again"
    return None
