"""Sending requests to registries: limits, retries, redirects, size caps and status errors.

Owns: one exchange with a registry (:meth:`Transport.call`): the :class:`httpx.Auth` flow
driven to its end (the flow answers challenges; this module only sends what it yields),
redirects (at most three; ``https`` unless the target is insecure; ``Authorization`` only
on hops to the origin the request was made for), the per-host :class:`HostGate`
(concurrency, rate, ``Retry-After`` pauses, circuit breaker), retries with backoff on
429/5xx/timeouts/connection errors, total size caps on every body read, and mapping a
status or a transport failure to a :class:`ResolveError` with a reason.

Every exchange has one total :class:`~reconciler.registry.deadlines.Deadline` (``deadline``
seconds, carried in ``Request.extensions`` to the token request and every redirect hop;
a retry starts it again; time spent in our own gates does not count), enforced on the
socket by :class:`~reconciler.registry.deadlines.DeadlineTransport`.

Requests go straight to one shared ``httpx`` transport (a keep-alive pool), skipping
``httpx.Client``'s per-request machinery: that roughly doubles throughput against a local
registry (see ``bench/resolve.py``), and redirects, auth and cookies are handled here.

Must not: know what a challenge or a token is (``reconciler.registry.auth`` does), what a
body means (``reconciler.registry.manifests`` does) or which requests to make
(``reconciler.registry.client`` does); sleep or read the clock except through the
functions it was given (tests run on a fake clock); log a header or a URL query.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from reconciler.core.references import registry_endpoint_host
from reconciler.registry import errors as e
from reconciler.registry.answers import (
    MAX_ERROR_BYTES,
    read_capped,
    read_error_body,
    status_error,
    transport_failure,
)
from reconciler.registry.auth import MAX_TOKEN_BYTES, TOKEN_FETCH, token_service
from reconciler.registry.deadlines import DEADLINE, Deadline
from reconciler.registry.errors import ResolveError
from reconciler.registry.limits import (
    GateClosed,
    HostGate,
    RateLimitInfo,
    RegistryLimits,
    backoff_delay,
    parse_retry_after,
)
from reconciler.registry.targets import Target

__all__ = ["MAX_ERROR_BYTES", "MAX_REDIRECTS", "Reply", "Transport", "ssl_verify"]

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Reply:
    """A registry's answer: the response (status, headers, the request that got it; its
    stream already consumed) and the body as read: capped, decoded, possibly cut to b""."""

    response: httpx.Response
    content: bytes

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    def readable(self) -> httpx.Response:
        """The answer as a response whose ``content`` is the body read (for an auth flow
        that reads the body: a token). The body is decoded, so ``Content-Encoding`` goes."""
        response = self.response
        headers = httpx.Headers(
            [(k, v) for k, v in response.headers.multi_items() if k != "content-encoding"]
        )
        return httpx.Response(
            response.status_code, headers=headers, content=self.content, request=response.request
        )


class Transport:
    """Sends requests through per-host gates over one shared ``httpx`` transport.

    ``deadline`` is the seconds one exchange may take in total (each retry again).
    ``clock`` (monotonic), ``wall_clock`` (Unix time, for HTTP-date ``Retry-After``),
    ``sleep`` and ``jitter`` (a float in [0, 1) for backoff) are injected so that tests
    run without real time; the deadline runs on real time, as sockets do.
    """

    def __init__(
        self,
        transport: httpx.BaseTransport,
        *,
        concurrency: int,
        limits: Mapping[str, RegistryLimits],
        default_limits: RegistryLimits,
        deadline: float,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        sleep: Callable[[float], None],
        jitter: Callable[[], float],
    ) -> None:
        self._transport = transport
        self._concurrency = concurrency
        self._default_limits = default_limits
        self._deadline = deadline
        self._limits = {registry_endpoint_host(k).lower(): v for k, v in limits.items()}
        self._gates: dict[str, HostGate] = {}
        self._guard = threading.Lock()
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._jitter = jitter
        # Told of every answer or transport failure: (host, status code or "error").
        self.on_response: Callable[[str, str], None] | None = None

    def close(self) -> None:
        self._transport.close()

    def _observed(self, gate: HostGate, code: str) -> None:
        if self.on_response is not None:
            self.on_response(gate.host, code)

    # -- one exchange: the auth flow and redirects ------------------------------------------

    def call(
        self,
        request: httpx.Request,
        target: Target,
        auth: httpx.Auth,
        read_body: int,
        also_accept: frozenset[int] = frozenset(),
    ) -> Reply:
        """Send ``request`` as ``auth`` says; a 2xx reply (or one of ``also_accept``: a
        conditional request's 304) or raise.

        ``read_body`` caps the body read for a 2xx (0: no body wanted). Requests the flow
        adds (marked :data:`TOKEN_FETCH`) are sent once, not redirected, and their answer
        goes back to the flow with its body; the flow sees the answers to ``request``
        without one (it needs status and headers only). All of them share one
        :class:`Deadline`.
        """
        request.extensions = {**request.extensions, DEADLINE: Deadline(self._deadline)}
        flow = auth.auth_flow(request)
        try:
            outgoing = next(flow)
            while True:
                if outgoing.extensions.get(TOKEN_FETCH):
                    what = token_service(outgoing.url)
                    answer = self.send(outgoing, target, MAX_TOKEN_BYTES, what).readable()
                else:
                    reply = self._follow_redirects(outgoing, target, read_body)
                    answer = reply.response
                try:
                    outgoing = flow.send(answer)
                except StopIteration:
                    break
        finally:
            # Releases what the flow holds (a renewal lock) when sending failed.
            flow.close()
        if 200 <= reply.status_code < 300 or reply.status_code in also_accept:
            return reply
        raise status_error(target, request.method, reply)

    def _follow_redirects(self, request: httpx.Request, target: Target, read_body: int) -> Reply:
        origin = request.url
        current = request
        redirects = 0
        while True:
            reply = self.send(current, target, read_body, request.method)
            if reply.status_code not in _REDIRECT_STATUSES:
                return reply
            redirects += 1
            url = _redirect_target(target, current.url, reply, redirects)
            headers = {
                k: v for k, v in request.headers.items() if k not in ("host", "authorization")
            }
            authorization = request.headers.get("authorization")
            if authorization is not None and _same_origin(url, origin):
                headers["authorization"] = authorization
            current = httpx.Request(
                request.method, url, headers=headers, extensions=request.extensions
            )

    # -- one request: gates, retries, caps ---------------------------------------------------

    def send(self, request: httpx.Request, target: Target, read_body: int, what: str) -> Reply:
        """Send once, retrying 429/5xx/timeouts/connection errors within the host's limits.

        Returns any non-transient answer, its body read only for a 2xx with ``read_body``
        (capped), or a small error body for 4xx; raises when the retries are used up or the
        host is backed off.
        """
        gate = self.gate(request.url)
        limits = gate.limits
        deadline = request.extensions.get(DEADLINE)
        if not isinstance(deadline, Deadline):
            deadline = None
        attempt = 0
        while True:
            if attempt and deadline is not None:
                deadline.start()  # each retry has a deadline of its own
            try:
                wait = gate.admit()
            except GateClosed as closed:
                raise target.fail(closed.reason, closed.detail) from None
            if wait > 0:
                with _excused(deadline):
                    self._sleep(wait)
            failure: ResolveError
            delay: float | None = None
            try:
                with _held(gate.slot, deadline):
                    response = self._transport.handle_request(request)
                    response.request = request
                    self._observed(gate, str(response.status_code))
                    try:
                        status = response.status_code
                        if status not in _TRANSIENT_STATUSES:
                            gate.record_success()
                            gate.note_headers(response.headers)
                            if 200 <= status < 300 and read_body:
                                body = read_capped(response, read_body, target, what)
                            elif status >= 400:
                                body = read_error_body(response)
                            else:
                                # Drain (HEAD: nothing) so the connection goes back to the pool.
                                read_error_body(response)
                                body = b""
                            return Reply(response, body)
                        body = read_error_body(response)
                    finally:
                        response.close()
            except httpx.TimeoutException as exc:
                self._observed(gate, "error")
                gate.record_failure()
                if deadline is not None and deadline.expired:
                    detail = f"{what}: no complete answer within {deadline.seconds:g} s"
                else:
                    detail = f"{what} timed out ({type(exc).__name__})"
                failure = target.fail(e.TIMEOUT, detail)
            except httpx.TransportError as exc:
                self._observed(gate, "error")
                failure = transport_failure(target, what, exc)
                if failure.reason == e.TLS_VERIFICATION_FAILED:
                    gate.release_probe()  # says nothing about the host's health
                    raise failure from None
                gate.record_failure()
            except BaseException:
                gate.release_probe()
                raise
            else:
                answer = Reply(response, body)
                if status == 429:
                    retry_after = parse_retry_after(
                        response.headers.get("retry-after"), self._wall_clock()
                    )
                    pause = (
                        retry_after
                        if retry_after is not None
                        else backoff_delay(attempt, limits, self._jitter)
                    )
                    gate.pause(pause)
                    gate.note_headers(response.headers)
                    failure = status_error(target, what, answer)
                    if retry_after is not None and retry_after > limits.retry_after_cap:
                        raise target.fail(
                            e.TOO_MANY_REQUESTS,
                            f"rate limited: HTTP 429 on {what}, Retry-After {retry_after:.0f}s "
                            f"exceeds the {limits.retry_after_cap:g}s we wait",
                        )
                    delay = 0.0  # admit() waits out the pause, for every thread alike
                else:
                    gate.record_failure()
                    failure = status_error(target, what, answer)
            attempt += 1
            if attempt > limits.max_retries:
                raise failure
            if delay is None:
                delay = backoff_delay(attempt - 1, limits, self._jitter)
            log.debug(
                "%s %s: %s; retry %d/%d in %.2fs",
                what,
                gate.host,
                failure.reason,
                attempt,
                limits.max_retries,
                delay,
            )
            if delay > 0:
                self._sleep(delay)

    # -- per-host gates ----------------------------------------------------------------------

    def gate(self, url: httpx.URL) -> HostGate:
        key = url.netloc.decode("ascii").lower()
        gate = self._gates.get(key)
        if gate is None:
            with self._guard:
                gate = self._gates.get(key)
                if gate is None:
                    limits = self._limits.get(key) or self._limits.get(url.host.lower())
                    gate = HostGate(
                        key,
                        limits or self._default_limits,
                        concurrency=self._concurrency,
                        clock=self._clock,
                    )
                    self._gates[key] = gate
        return gate

    def rate_limit(self, registry: str) -> RateLimitInfo | None:
        gate = self._gates.get(registry_endpoint_host(registry).lower())
        return gate.rate_limit if gate is not None else None

    def status(self) -> dict[str, dict[str, object]]:
        return {host: gate.snapshot() for host, gate in sorted(self._gates.items())}


@contextlib.contextmanager
def _excused(deadline: Deadline | None) -> Iterator[None]:
    """Our own waiting: not the registry's time."""
    if deadline is None:
        yield
        return
    with deadline.excused():
        yield


@contextlib.contextmanager
def _held(slot: threading.BoundedSemaphore, deadline: Deadline | None) -> Iterator[None]:
    """The host's concurrency slot, the wait for it excused from the deadline."""
    if not slot.acquire(blocking=False):
        with _excused(deadline):
            slot.acquire()
    try:
        yield
    finally:
        slot.release()


# -- statuses and failures -------------------------------------------------------------------


def _redirect_target(target: Target, current: httpx.URL, reply: Reply, count: int) -> httpx.URL:
    if count > MAX_REDIRECTS:
        raise target.fail(e.INVALID_RESPONSE, f"more than {MAX_REDIRECTS} redirects")
    location: str | None = reply.headers.get("location")
    if not location:
        raise target.fail(e.INVALID_RESPONSE, "redirect without Location")
    try:
        nxt = current.join(location)
    except httpx.InvalidURL:
        raise target.fail(e.INVALID_RESPONSE, "redirect to an invalid URL") from None
    if nxt.scheme not in ("https", "http") or (nxt.scheme == "http" and not target.insecure):
        raise target.fail(
            e.INVALID_RESPONSE, f"refusing redirect to a {nxt.scheme} URL on {nxt.host}"
        )
    return nxt


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return a.scheme == b.scheme and a.host == b.host and a.port == b.port


# -- bodies ------------------------------------------------------------------------------------


def ssl_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """``verify`` as httpx 0.28 wants it: a CA bundle path becomes an SSLContext."""
    if isinstance(verify, str):
        path = Path(verify)
        if path.is_dir():
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return verify
