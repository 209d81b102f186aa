"""The total deadline of one registry exchange, and the socket layer that enforces it.

Owns: :class:`Deadline` (how many seconds an exchange may take, when it started, and the
time it spent waiting in our own queues, which is not the registry's to answer for),
:data:`DEADLINE`, the ``Request.extensions`` key that carries it to every request of the
exchange (the auth flow's token request, the retried request, each redirect hop), and
:class:`DeadlineTransport`, the ``httpx`` transport that enforces it.

A timeout per socket operation is not a deadline: a registry that sends one byte a second
never lets a 10-second read timeout fire, and keeps a pass waiting for as long as it likes.
So every socket operation (connect, TLS handshake, each write, each read of headers and
body) gets ``min(its own timeout, what is left of the deadline)``, and none starts once
nothing is left. :class:`DeadlineTransport` is ``httpx.HTTPTransport`` rebuilt on
``httpcore``'s public API (a ``ConnectionPool`` with a ``network_backend``) so that the
backend sees every socket call; the deadline reaches it through a context variable that
the transport sets only around its own calls (``handle_request`` and each chunk of the
body), because ``httpcore`` hands its backend a timeout and not the request.

Must not: retry, sleep or decide what a timeout means for the host (the registry
transport does); read the clock except through :class:`Deadline`, whose clock is real
monotonic time by default because sockets run in real time. Unbounded still: the name
lookup inside ``socket.create_connection``, and each address of a multi-address host gets
what is left (not a share of it).
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpcore
import httpx

__all__ = ["DEADLINE", "Deadline", "DeadlineTransport"]

# The Request.extensions key for the exchange's Deadline.
DEADLINE = "reconciler.deadline"


class Deadline:
    """``seconds`` for one exchange, from :meth:`start` to its last byte.

    :meth:`excused` brackets time spent in our own queues (rate spacing, a concurrency
    slot, a ``Retry-After`` pause, a backoff): it moves the deadline out by that long, since
    the registry has not been asked yet. :meth:`start` again for a retry: each attempt has
    its own ``seconds``. Used by one thread at a time (one exchange).
    """

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds <= 0:
            raise ValueError("a deadline must be positive")
        self.seconds = seconds
        self._clock = clock
        self._at = clock() + seconds

    def start(self) -> None:
        """Begin (again): ``seconds`` from now."""
        self._at = self._clock() + self.seconds

    def remaining(self) -> float:
        return self._at - self._clock()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    @contextlib.contextmanager
    def excused(self) -> Iterator[None]:
        """Time spent inside does not count against the deadline."""
        began = self._clock()
        try:
            yield
        finally:
            self._at += self._clock() - began


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "reconciler_registry_deadline", default=None
)


@contextlib.contextmanager
def _bound(deadline: Deadline | None) -> Iterator[None]:
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


def _bounded(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` cut to what is left of the current deadline; raise ``error`` if nothing is."""
    deadline = _current.get()
    if deadline is None:
        return timeout
    left = deadline.remaining()
    if left <= 0:
        raise error(f"no complete answer within {deadline.seconds:g} s")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A socket stream whose every read and write stops at the deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """``httpcore``'s own sync backend, its connects and streams bounded by the deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# httpcore's exceptions as httpx names them (the most specific match wins), as
# httpx.HTTPTransport maps them.
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.ProxyError, httpx.ProxyError),
)


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _EXCEPTIONS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _Body(httpx.SyncByteStream):
    """The response body, each chunk read under the request's deadline."""

    def __init__(self, inner: Iterable[bytes], deadline: Deadline | None) -> None:
        self._inner = inner
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._inner)
        while True:
            # Set around each next() only: a context variable set across a yield would
            # leak into the caller's context.
            with _bound(self._deadline), _mapped():
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
            yield chunk

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            with _mapped():
                close()


class DeadlineTransport(httpx.BaseTransport):
    """A keep-alive pool like ``httpx.HTTPTransport`` (no proxies, HTTP/1.1) whose requests
    stop at the :class:`Deadline` in their ``extensions[DEADLINE]`` (none: per-operation
    timeouts only, as plain httpx)."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits,
    ) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        deadline = request.extensions.get(DEADLINE)
        if not isinstance(deadline, Deadline):
            deadline = None
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions={k: v for k, v in request.extensions.items() if k != DEADLINE},
        )
        with _bound(deadline), _mapped():
            response = self._pool.handle_request(core)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream, deadline),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
