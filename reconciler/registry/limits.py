"""How hard the client may press on one registry, and what it does when pushed back.

Owns: :class:`RegistryLimits` (per-registry concurrency and request-rate caps, retry and
backoff settings, circuit breaker thresholds), the per-host :class:`HostGate` that enforces
them, ``Retry-After`` parsing (delta-seconds or HTTP-date) and ``RateLimit-*`` header
recording.

A gate is shared by every thread talking to one ``host:port``. A registry that keeps failing
(5xx, connection errors, timeouts) opens the gate's circuit: further requests fail at once
without touching the network until a cooldown has passed, then one probe request decides
whether it closes again (success) or re-opens with a doubled cooldown. A ``429`` pauses the
whole host for ``Retry-After`` (or a backoff delay); a pause longer than the configured cap
fails requests fast instead of waiting.

Before a 429: a registry that says how much of its quota is left (the IETF draft's
``RateLimit-Remaining``/``RateLimit-Reset`` or structured ``RateLimit: "default";r=12;t=30``
with ``RateLimit-Policy``, Docker Hub's ``ratelimit-remaining: 76;w=21600``) is paced once
the quota runs low (:data:`QUOTA_LOW_WATER`, or a tenth of the limit): request starts are
spread so that what is left lasts until the quota resets (the window, when no reset is
given), and with nothing left the host waits for the reset. A wait longer than the
``Retry-After`` cap fails fast instead, as a long ``Retry-After`` does. A reading is acted
on for at most that cap after it was seen, so at worst one request per cap goes out to
learn the quota again (Docker Hub counts only GETs: its HEADs go on answering). A host
that still says nothing is left after the reset it named is not waited for again until
it says something is left.

Must not: do I/O or sleep itself (the client sleeps with an injectable function) so that
tests run on a fake clock.
"""

from __future__ import annotations

import email.utils
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.core.errors import TransientError

__all__ = [
    "QUOTA_LOW_WATER",
    "GateClosed",
    "HostGate",
    "RateLimitInfo",
    "RegistryLimits",
    "backoff_delay",
    "parse_rate_limit",
    "parse_retry_after",
]


@dataclass(frozen=True)
class RegistryLimits:
    """Limits for one registry (or the default for all).

    ``max_concurrency``: requests in flight to the host at once (``None``: the client's pool
    size). ``requests_per_second``: spacing between request starts (``None``: no cap).
    ``max_retries``: extra attempts after a 429, 5xx, timeout or connection error.
    ``retry_after_cap``: the longest ``Retry-After`` honoured by waiting; longer ones fail
    the request (retryable) and keep the host paused. ``backoff_base``/``backoff_cap``:
    exponential backoff with jitter, in seconds. ``circuit_threshold`` consecutive failures
    open the circuit for ``circuit_cooldown`` seconds (doubling up to ``circuit_cooldown_cap``).
    """

    max_concurrency: int | None = None
    requests_per_second: float | None = None
    max_retries: int = 3
    retry_after_cap: float = 60.0
    backoff_base: float = 0.25
    backoff_cap: float = 10.0
    circuit_threshold: int = 5
    circuit_cooldown: float = 30.0
    circuit_cooldown_cap: float = 300.0

    def __post_init__(self) -> None:
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.requests_per_second is not None and self.requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        if self.max_retries < 0 or self.circuit_threshold < 1:
            raise ValueError("max_retries must be >= 0 and circuit_threshold >= 1")
        if min(self.retry_after_cap, self.backoff_base, self.backoff_cap) < 0:
            raise ValueError("delays must not be negative")


# Pacing starts when at most this many requests are left (or a tenth of the limit, if
# that is more): above it, the quota is no reason to slow down.
QUOTA_LOW_WATER = 10


@dataclass(frozen=True)
class RateLimitInfo:
    """The last ``RateLimit-*`` headers a registry sent (Docker Hub style
    ``ratelimit-limit: 100;w=21600`` or the IETF draft's fields). ``reset_seconds`` is
    from when it was seen (``observed_at``); ``window_seconds`` the quota's window."""

    limit: int | None
    remaining: int | None
    reset_seconds: float | None
    window_seconds: int | None
    observed_at: float  # monotonic clock of the client


class GateClosed(TransientError):
    """The host may not be asked now; ``reason`` is a ResolveError reason. Transient by
    nature: the circuit closes and the pause ends on their own."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


_LEADING_INT_RE = re.compile(r"\s*(\d+)")
_WINDOW_RE = re.compile(r";\s*w=(\d+)")
_STRUCTURED_RE = re.compile(r"\b(limit|remaining|reset|r|t|q|w)\s*=\s*(\d+)")
# A header's number is the registry's to choose: anything past this (some 30,000 years of
# seconds) is read as this, so no reading overflows a float or Python's digit limit.
MAX_HEADER_NUMBER = 10**12


def _number(digits: str) -> int:
    """``digits`` (ASCII, from the patterns above) as an int, at most
    :data:`MAX_HEADER_NUMBER`."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > len(str(MAX_HEADER_NUMBER)):
        return MAX_HEADER_NUMBER
    return min(int(digits), MAX_HEADER_NUMBER)


def _leading_int(value: str | None) -> int | None:
    if value is None:
        return None
    match = _LEADING_INT_RE.match(value)
    return _number(match.group(1)) if match else None


def _members(text: str) -> list[dict[str, str]]:
    """The parameters of each member of a structured field list (``"a";r=1;t=2, "b";r=5``;
    the older drafts' ``limit=10, remaining=3`` is one member)."""
    found = [dict(_STRUCTURED_RE.findall(part)) for part in text.split(",")]
    found = [f for f in found if f]
    if len(found) > 1 and not any("r" in f or "q" in f for f in found):
        merged: dict[str, str] = {}
        for f in found:
            merged.update(f)
        return [merged]
    return found


def parse_rate_limit(headers: Mapping[str, str], now: float) -> RateLimitInfo | None:
    """``RateLimit-Limit``/``-Remaining``/``-Reset`` (Docker Hub adds ``;w=<window>``), or
    the structured ``RateLimit`` (``r``: remaining, ``t``: seconds to reset; of several
    quotas, the one with least left) with ``RateLimit-Policy`` (``q``: limit, ``w``:
    window)."""
    limit_text = headers.get("ratelimit-limit")
    remaining_text = headers.get("ratelimit-remaining")
    reset_text = headers.get("ratelimit-reset")
    combined = headers.get("ratelimit")
    policy = headers.get("ratelimit-policy")
    if limit_text is None and remaining_text is None and reset_text is None and not combined:
        return None
    limit, remaining = _leading_int(limit_text), _leading_int(remaining_text)
    reset = _leading_int(reset_text)
    window_match = _WINDOW_RE.search(limit_text or "") or _WINDOW_RE.search(remaining_text or "")
    window = _number(window_match.group(1)) if window_match else None
    if combined:
        members = _members(combined)
        if members:
            tightest = min(
                members,
                key=lambda f: _number(f.get("remaining") or f.get("r") or "9" * 20),
            )
            limit = limit if limit is not None else _int_or_none(tightest.get("limit"))
            remaining = (
                remaining
                if remaining is not None
                else _int_or_none(tightest.get("remaining") or tightest.get("r"))
            )
            reset = (
                reset
                if reset is not None
                else _int_or_none(tightest.get("reset") or tightest.get("t"))
            )
    if policy:
        quotas = _members(policy)
        if quotas:
            limit = limit if limit is not None else _int_or_none(quotas[0].get("q"))
            window = window if window is not None else _int_or_none(quotas[0].get("w"))
    return RateLimitInfo(
        limit=limit,
        remaining=remaining,
        reset_seconds=float(reset) if reset is not None else None,
        window_seconds=window,
        observed_at=now,
    )


def _int_or_none(text: str | None) -> int | None:
    return _number(text) if text is not None and text.isdigit() else None


def parse_retry_after(value: str | None, wall_now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date); ``None``
    when absent or unparseable. ``wall_now`` is the Unix time to measure a date against."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - wall_now)


def _past_its_reset(before: RateLimitInfo, now: RateLimitInfo) -> bool:
    """Whether ``now`` (nothing left) comes after the reset ``before`` (nothing left
    either) named: the quota should have turned in between."""
    if before.remaining is None or before.remaining > 0:
        return False
    horizon = before.reset_seconds if before.reset_seconds is not None else before.window_seconds
    return horizon is not None and now.observed_at >= before.observed_at + horizon


def backoff_delay(attempt: int, limits: RegistryLimits, random: Callable[[], float]) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""
    ceiling = min(limits.backoff_cap, limits.backoff_base * math.pow(2, attempt))
    return ceiling / 2 + random() * ceiling / 2


class HostGate:
    """Admission control for one ``host:port``: concurrency, rate, pause and circuit."""

    def __init__(
        self,
        host: str,
        limits: RegistryLimits,
        *,
        concurrency: int,
        clock: Callable[[], float],
    ) -> None:
        self.host = host
        self.limits = limits
        self.slot = threading.BoundedSemaphore(limits.max_concurrency or concurrency)
        self._clock = clock
        self._lock = threading.Lock()
        self._next_start = 0.0
        self._paused_until = 0.0
        self._failures = 0
        self._open_until = 0.0  # 0: closed
        self._cooldown = limits.circuit_cooldown
        self._probing = False
        self.rate_limit: RateLimitInfo | None = None
        # The host said nothing was left, we waited for the reset it named, and it said
        # nothing was left again: its quota is not turning (or it lies). Until it says
        # something is left, a request that would wait for a reset fails at once, so a
        # host cannot hold a pass for a Retry-After cap per request.
        self._quota_stuck = False
        # What we believe is left of the quota: the last reading, less what we admitted
        # since (threads admitted together must not all spend the last request).
        self._quota_left: int | None = None
        self.quota_paced = 0  # requests whose start the quota delayed
        self.requests = 0
        self.failures_total = 0
        self.circuit_opened = 0

    # -- admission ------------------------------------------------------------------------

    def admit(self) -> float:
        """Reserve a start; return how long to wait first, or raise :class:`GateClosed`."""
        with self._lock:
            now = self._clock()
            if self._open_until:
                if now < self._open_until:
                    # No counters or countdowns in the message: it ends up in the lock's
                    # failure condition, which must not change while nothing changes.
                    raise GateClosed(
                        "RegistryUnavailable",
                        f"{self.host} is backed off after repeated failures",
                    )
                if self._probing:
                    raise GateClosed(
                        "RegistryUnavailable",
                        f"{self.host} is backed off after repeated failures",
                    )
                self._probing = True
            wait = max(0.0, self._paused_until - now)
            if wait > self.limits.retry_after_cap:
                self._probing = False
                raise GateClosed(
                    "TooManyRequests",
                    f"{self.host} is rate limiting; it asked for {wait:.0f}s of quiet "
                    f"(more than the {self.limits.retry_after_cap:g}s we wait)",
                )
            rps = self.limits.requests_per_second
            spacing, until_reset = self._quota_pace(now)
            quota = bool(spacing) or until_reset is not None
            if until_reset is not None and self._quota_stuck:
                self._probing = False
                raise GateClosed(
                    "TooManyRequests",
                    f"{self.host} says its rate limit quota is still used up after the "
                    "reset it named (RateLimit-Remaining): not waiting for it again",
                )
            if rps or quota:
                # One schedule of starts: the rate cap's spacing or the quota's, the wider.
                start = max(now + wait, self._next_start)
                if until_reset is not None:
                    start = max(start, now + until_reset)
                if quota and start - now > self.limits.retry_after_cap:
                    self._probing = False
                    # Stable wording: it may end up in the lock's failure condition.
                    raise GateClosed(
                        "TooManyRequests",
                        f"{self.host} says its rate limit quota is (nearly) used up "
                        "(RateLimit-Remaining); waiting for it would take longer than we wait",
                    )
                self._next_start = start + max(1.0 / rps if rps else 0.0, spacing)
                if quota and start - now > wait:
                    self.quota_paced += 1
                wait = start - now
            if self._quota_left is not None:
                self._quota_left -= 1
            self.requests += 1
            return wait

    def _quota_pace(self, now: float) -> tuple[float, float | None]:
        """(spacing between starts, seconds to wait for the reset when nothing is left)
        from the last ``RateLimit`` reading; (0, None) when it gives no reason to slow."""
        info = self.rate_limit
        left = self._quota_left
        if info is None or left is None:
            return 0.0, None
        horizon = info.reset_seconds if info.reset_seconds is not None else info.window_seconds
        age = now - info.observed_at
        if horizon is None or age >= horizon or age >= self.limits.retry_after_cap:
            return 0.0, None  # the quota has turned since, or the reading is too old to trust
        low_water = max(QUOTA_LOW_WATER, (info.limit or 0) // 10)
        if left > low_water:
            return 0.0, None
        remaining_time = horizon - age
        if left <= 0:
            return 0.0, remaining_time
        return remaining_time / left, None

    # -- outcomes -------------------------------------------------------------------------

    def record_success(self) -> None:
        """The host answered (any status that is not a 429 or a 5xx counts)."""
        if self._failures == 0 and not self._open_until:
            return  # the hot path: no lock needed
        with self._lock:
            self._failures = 0
            self._open_until = 0.0
            self._probing = False
            self._cooldown = self.limits.circuit_cooldown

    def record_failure(self) -> None:
        """A 5xx, timeout or connection error."""
        with self._lock:
            self._failures += 1
            self.failures_total += 1
            now = self._clock()
            if self._probing:
                self._probing = False
                self._cooldown = min(self._cooldown * 2, self.limits.circuit_cooldown_cap)
                self._open_until = now + self._cooldown
                self.circuit_opened += 1
            elif not self._open_until and self._failures >= self.limits.circuit_threshold:
                self._open_until = now + self._cooldown
                self.circuit_opened += 1

    def release_probe(self) -> None:
        """The request ended without telling anything about the host's health."""
        with self._lock:
            self._probing = False

    def pause(self, seconds: float) -> None:
        """A 429: nothing starts on this host for ``seconds``."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self._probing = False

    def note_headers(self, headers: Mapping[str, str]) -> None:
        info = parse_rate_limit(headers, self._clock())
        if info is not None:
            with self._lock:
                before = self.rate_limit
                if info.remaining is not None and info.remaining > 0:
                    self._quota_stuck = False
                elif info.remaining is not None and before is not None:
                    self._quota_stuck = self._quota_stuck or _past_its_reset(before, info)
                self.rate_limit = info
                self._quota_left = info.remaining

    # -- inspection -----------------------------------------------------------------------

    @property
    def circuit_open(self) -> bool:
        return bool(self._open_until)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            now = self._clock()
            return {
                "host": self.host,
                "requests": self.requests,
                "failures": self.failures_total,
                "consecutive_failures": self._failures,
                "circuit_open": bool(self._open_until),
                "circuit_opened": self.circuit_opened,
                "open_for_seconds": max(0.0, self._open_until - now) if self._open_until else 0.0,
                "paused_for_seconds": max(0.0, self._paused_until - now),
                "rate_limit": self.rate_limit,
                "quota_paced": self.quota_paced,
            }
