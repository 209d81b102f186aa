"""Every registry request has a total deadline (issue 10, item 6): a registry that drips
its headers or its body, a slow token realm, or a chain of slow redirects cannot keep a
call alive past ``timeout`` seconds, however regularly the bytes arrive.

The registry here is a tiny real HTTP/1.1 server on 127.0.0.1 that the test runs, because
the timing faults live in the socket: a ``MockTransport`` never reads a socket, so it
cannot show that a per-read timeout is not a deadline.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from reconciler.core.references import parse_image_reference
from reconciler.registry.client import RegistryClient
from reconciler.registry.errors import ResolveError
from reconciler.registry.limits import RegistryLimits
from reconciler.registry.media_types import OCI_MANIFEST
from reconciler.registry.models import Resolved, ResolveRequest

DEADLINE = 1.0
# Time for the client to notice and unwind after the deadline (a loaded CI machine).
SLACK = 1.0
# A byte this often keeps every per-read timeout happy: only a total deadline stops it.
DRIP = 0.05
# The server gives up dripping after this long, so old code fails the test instead of hanging.
DRIP_FOR = 12.0
NO_RETRIES = RegistryLimits(max_retries=0)

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "c" * 64,
            "size": 2,
        },
        "layers": [],
    }
).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()

Handler = Callable[["Exchange"], None]


@dataclass
class Exchange:
    """One request the drip server read, and the socket to answer on."""

    method: str
    path: str
    headers: dict[str, str]
    conn: socket.socket
    stop: threading.Event

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def drip(self, data: bytes) -> None:
        """Send ``data`` a byte at a time, one every :data:`DRIP` seconds (for at most
        :data:`DRIP_FOR` seconds, or until the client hangs up)."""
        until = time.monotonic() + DRIP_FOR
        for i in range(len(data)):
            if self.stop.is_set() or time.monotonic() > until:
                return
            try:
                self.conn.sendall(data[i : i + 1])
            except OSError:
                return
            time.sleep(DRIP)


def head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


@dataclass
class DripServer:
    """A threaded HTTP/1.1 server on 127.0.0.1; ``handler`` answers each request."""

    handler: Handler
    seen: list[tuple[str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(DRIP_FOR)
            reader = conn.makefile("rb")
            while not self.stop.is_set():
                try:
                    line = reader.readline()
                except OSError:
                    return
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                self.seen.append((method, path))
                self.handler(Exchange(method, path, headers, conn, self.stop))

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.acceptor.join(timeout=5)
        for thread in self.threads:
            thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], DripServer]]:
    servers: list[DripServer] = []

    def start(handler: Handler) -> DripServer:
        server = DripServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def manifest_answer(exchange: Exchange, *, digest_header: bool = True) -> None:
    headers = {"Content-Type": OCI_MANIFEST, "Content-Length": str(len(MANIFEST))}
    if digest_header:
        headers["Docker-Content-Digest"] = DIGEST
    exchange.send(head("200 OK", headers))
    if exchange.method == "GET":
        exchange.send(MANIFEST)


def request(server: DripServer, tag: str = "v1") -> ResolveRequest:
    return ResolveRequest(parse_image_reference(f"{server.host}/app:{tag}"), insecure=True)


def timed_failure(server: DripServer, *, retries: RegistryLimits = NO_RETRIES) -> tuple[float, str]:
    with RegistryClient(timeout=DEADLINE, default_limits=retries) as client:
        started = time.monotonic()
        with pytest.raises(ResolveError) as info:
            client.resolve(request(server))
        elapsed = time.monotonic() - started
    error = info.value
    assert error.reason == "Timeout" and error.retryable, error
    return elapsed, error.message


# -- the deadline holds against each way of being slow ----------------------------------------


def test_headers_dripped_one_byte_at_a_time_hit_the_deadline(
    serve: Callable[[Handler], DripServer],
) -> None:
    def slow_headers(exchange: Exchange) -> None:
        exchange.drip(
            head(
                "200 OK",
                {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": DIGEST, "X-Pad": "x" * 300},
            )
        )

    server = serve(slow_headers)
    elapsed, message = timed_failure(server)
    assert elapsed < DEADLINE + SLACK, f"took {elapsed:.1f}s"
    assert f"no complete answer within {DEADLINE:g} s" in message
    assert server.host in message or "app" in message


def test_body_dripped_one_byte_at_a_time_hits_the_deadline(
    serve: Callable[[Handler], DripServer],
) -> None:
    def slow_body(exchange: Exchange) -> None:
        if exchange.method == "HEAD":
            # No digest: the client must read the body, which then comes byte by byte.
            manifest_answer(exchange, digest_header=False)
            return
        exchange.send(
            head("200 OK", {"Content-Type": OCI_MANIFEST, "Content-Length": str(len(MANIFEST))})
        )
        exchange.drip(MANIFEST)

    server = serve(slow_body)
    elapsed, message = timed_failure(server)
    assert elapsed < DEADLINE + SLACK, f"took {elapsed:.1f}s"
    assert f"no complete answer within {DEADLINE:g} s" in message
    assert ("GET", f"/v2/app/manifests/{DIGEST}") in server.seen or (
        "GET",
        "/v2/app/manifests/v1",
    ) in server.seen


def test_a_slow_token_realm_counts_against_the_same_deadline(
    serve: Callable[[Handler], DripServer],
) -> None:
    realm: list[str] = []

    def registry(exchange: Exchange) -> None:
        if exchange.path.startswith("/token"):
            body = json.dumps({"token": "t0k", "expires_in": 300}).encode()
            exchange.send(
                head(
                    "200 OK",
                    {"Content-Type": "application/json", "Content-Length": str(len(body))},
                )
            )
            exchange.drip(body)
            return
        if exchange.headers.get("authorization") != "Bearer t0k":
            # The challenge itself is quick; the realm (same host, plain HTTP: a local
            # setup) answers slowly. Both are one exchange with one deadline.
            exchange.send(
                head(
                    "401 Unauthorized",
                    {
                        "WWW-Authenticate": f'Bearer realm="{realm[0]}",service="r"',
                        "Content-Length": "0",
                    },
                )
            )
            return
        manifest_answer(exchange)

    server = serve(registry)
    realm.append(f"http://{server.host}/token")
    elapsed, message = timed_failure(server)
    assert elapsed < DEADLINE + SLACK, f"took {elapsed:.1f}s"
    assert "no complete answer" in message
    assert any(path.startswith("/token") for _, path in server.seen)


def test_redirects_share_one_deadline(serve: Callable[[Handler], DripServer]) -> None:
    # Each hop answers within the per-read timeout; together they take too long.
    hop = DEADLINE * 0.6

    def redirects(exchange: Exchange) -> None:
        time.sleep(hop)
        count = exchange.path.count("/r")
        if count < 3:
            exchange.send(
                head(
                    "307 Temporary Redirect",
                    {"Location": exchange.path + "/r", "Content-Length": "0"},
                )
            )
        else:
            manifest_answer(exchange)

    server = serve(redirects)
    elapsed, message = timed_failure(server)
    assert elapsed < DEADLINE + SLACK, f"took {elapsed:.1f}s"
    assert "no complete answer" in message


def test_each_retry_gets_its_own_deadline(serve: Callable[[Handler], DripServer]) -> None:
    attempts: list[float] = []

    def first_slow_then_fine(exchange: Exchange) -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            exchange.drip(head("200 OK", {"Content-Type": OCI_MANIFEST, "X-Pad": "x" * 300}))
            return
        manifest_answer(exchange)

    server = serve(first_slow_then_fine)
    quick_retry = RegistryLimits(max_retries=1, backoff_base=0.01, backoff_cap=0.01)
    with RegistryClient(timeout=DEADLINE, default_limits=quick_retry) as client:
        started = time.monotonic()
        resolved = client.resolve(
            ResolveRequest(
                parse_image_reference(f"{server.host}/app:v1"), insecure=True, known_digest=DIGEST
            )
        )
        elapsed = time.monotonic() - started
    assert resolved == Resolved(DIGEST, OCI_MANIFEST)
    assert len(attempts) == 2
    assert elapsed < 2 * DEADLINE + SLACK, f"took {elapsed:.1f}s"


def test_a_prompt_registry_is_unaffected(serve: Callable[[Handler], DripServer]) -> None:
    server = serve(manifest_answer)
    with RegistryClient(timeout=DEADLINE, default_limits=NO_RETRIES) as client:
        results = client.resolve_many([request(server, f"t{i}") for i in range(20)])
    assert all(r == Resolved(DIGEST, OCI_MANIFEST) for r in results.values())


def test_waiting_in_our_own_queue_does_not_count(serve: Callable[[Handler], DripServer]) -> None:
    # Four requests a second to this host: the last of six waits over a second before it is
    # sent, longer than the deadline; that wait is ours, not the registry's.
    server = serve(manifest_answer)
    spaced = RegistryLimits(max_retries=0, requests_per_second=4.0)
    with RegistryClient(timeout=0.5, default_limits=spaced, max_concurrency=6) as client:
        started = time.monotonic()
        results = client.resolve_many(
            [
                ResolveRequest(
                    parse_image_reference(f"{server.host}/app:t{i}"),
                    insecure=True,
                    known_digest=DIGEST,
                )
                for i in range(6)
            ]
        )
        elapsed = time.monotonic() - started
    assert all(r == Resolved(DIGEST, OCI_MANIFEST) for r in results.values()), results
    assert elapsed > 1.0
