"""How the daemon's loop answers its own failed passes, as small decisions that take the
clock as a parameter (Flux's "stalled" and "retry with backoff" outcomes, kopf's
permanent and temporary errors):

- a **permanent** failure (a ``PermanentError`` or ``ConfigurationError``: a hook refuses
  the push, the lockfile cannot be read) *stalls* the loop: no pass runs again until its
  input changes (the remote head moves, a webhook or registry notification arrives, the
  daemon restarts with its configuration read again) or ``stall`` seconds pass;
- a **transient** failure (a ``TransientError``, or anything unexpected) *backs off*:
  the next pass waits ``initial`` seconds doubling per consecutive failure up to
  ``maximum``, with "equal jitter" (a random point in the upper half of the delay), unless
  the remote head moves; events that arrive meanwhile wait for the retry;
- a pass that succeeds forgets it all.

Readiness follows: not ready before the first good pass, while stalled, or after
``not_ready_after`` failed passes in a row.

Owns those rules and the status that explains them. Must not: run passes, sleep, read the
clock or log (the runner does all of that).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.core.errors import ConfigurationError, PermanentError, ReconcilerError

PERMANENT = "permanent"
TRANSIENT = "transient"


@dataclass(frozen=True)
class RetryPolicy:
    """Seconds: the first transient delay, its cap, and the longest a permanent stall
    lasts without a change; and how many transient failures in a row make the daemon not
    ready."""

    initial: float = 1.0
    maximum: float = 300.0
    stall: float = 900.0
    not_ready_after: int = 3


def kind_of(exc: BaseException) -> str:
    """PERMANENT for what fails the same way until its input changes, else TRANSIENT
    (unexpected errors included: waiting never makes things worse, spinning does)."""
    return PERMANENT if isinstance(exc, PermanentError | ConfigurationError) else TRANSIENT


def backoff_delay(failures: int, policy: RetryPolicy, rand: Callable[[], float]) -> float:
    """Seconds before the next try after ``failures`` transient failures in a row: the
    ceiling ``initial * 2**(failures-1)`` (capped at ``maximum``), of which the upper half
    is jittered: never more than the cap, never less than half the ceiling."""
    ceiling = min(policy.maximum, policy.initial * 2.0 ** max(0, min(failures - 1, 60)))
    return ceiling / 2 + rand() * ceiling / 2


@dataclass(frozen=True)
class Failure:
    kind: str  # PERMANENT | TRANSIENT
    error: str
    count: int  # failed passes in a row
    since: float  # when the first of them failed
    at: float  # when the last one failed
    retry_at: float  # the next pass runs then, whatever else happens
    head: str | None  # the remote head the failed pass saw (None: unknown)


class Faults:
    """The loop's failure record: one per daemon, touched by the loop thread only (other
    threads read ``status`` and ``readiness``, which only read)."""

    def __init__(
        self, policy: RetryPolicy | None = None, rand: Callable[[], float] = random.random
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.rand = rand
        self.failure: Failure | None = None
        self.last_success: float | None = None

    def failed(self, exc: BaseException, now: float, head: str | None) -> Failure:
        previous = self.failure
        count = previous.count + 1 if previous else 1
        kind = kind_of(exc)
        if kind == PERMANENT:
            delay = self.policy.stall
        else:
            delay = backoff_delay(count, self.policy, self.rand)
        self.failure = Failure(
            kind=kind,
            error=str(exc) if isinstance(exc, ReconcilerError) else repr(exc),
            count=count,
            since=previous.since if previous else now,
            at=now,
            retry_at=now + delay,
            head=head,
        )
        return self.failure

    def succeeded(self, now: float) -> None:
        self.failure = None
        self.last_success = now

    def may_run(self, now: float, head: str | None, new_event: bool) -> bool:
        """Whether a pass may run now. ``head``: the remote head just seen (None when it
        could not be asked); ``new_event``: a webhook or notification arrived since the
        failed pass."""
        failure = self.failure
        if failure is None or now >= failure.retry_at:
            return True
        if head is not None and head != failure.head:
            return True  # the input changed (or the remote answers again)
        return failure.kind == PERMANENT and new_event

    def wait(self, now: float) -> float | None:
        """Seconds until the next pass may run without new input; None when not held."""
        if self.failure is None:
            return None
        return max(0.0, self.failure.retry_at - now)

    def readiness(self) -> tuple[bool, str]:
        """(ready, why not)."""
        failure = self.failure
        if self.last_success is None:
            if failure is not None:
                return False, f"no pass has succeeded yet; the last failed ({failure.kind})"
            return False, "no pass has completed yet"
        if failure is None:
            return True, ""
        if failure.kind == PERMANENT:
            return False, "stalled on a permanent error until the input changes"
        if failure.count >= self.policy.not_ready_after:
            return False, f"{failure.count} passes in a row failed"
        return True, ""

    def status(self, now: float) -> dict[str, Any]:
        ready, why = self.readiness()
        data: dict[str, Any] = {"ready": ready, "lastSuccess": self.last_success}
        if why:
            data["notReadyReason"] = why
        failure = self.failure
        if failure is not None:
            data.update(
                state="stalled" if failure.kind == PERMANENT else "backing off",
                kind=failure.kind,
                lastError=failure.error,
                consecutiveFailures=failure.count,
                failingSince=failure.since,
                lastFailure=failure.at,
                nextRetry=failure.retry_at,
                nextRetryInSeconds=round(max(0.0, failure.retry_at - now), 3),
            )
            if failure.kind == PERMANENT:
                data["retryWhen"] = (
                    "the remote head moves, a webhook or registry notification arrives, the "
                    "daemon restarts, or at nextRetry"
                )
        else:
            data["state"] = "ok" if self.last_success is not None else "starting"
        return data
