"""The daemon's HTTP server at the socket level: Content-Length handling, the per-connection
timeout and the connection cap, against a stub daemon (no git, no registry)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from reconciler.core.secrets import Secret
from reconciler.daemon import webhooks
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.server import make_server

SECRET = "s3cret"


@dataclass
class StubConfig:
    github_secret: Secret | None = field(default_factory=lambda: Secret(SECRET))
    gitea_secret: Secret | None = None
    gitlab_token: Secret | None = None
    registry_token: Secret | None = None


class StubState:
    def pending_count(self) -> int:
        return 0


@dataclass
class StubDaemon:
    config: StubConfig = field(default_factory=StubConfig)
    metrics: Metrics = field(default_factory=Metrics)
    state: StubState = field(default_factory=StubState)
    ready: bool = True
    git_notifications: list[str] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        return {"ready": self.ready}

    def notify_git(self, source: str) -> None:
        self.git_notifications.append(source)

    def notify_registry(self, pushes: Any) -> int:
        return 0


@dataclass
class Running:
    daemon: StubDaemon
    port: int


def _start(timeout: float = 10.0, max_connections: int = 64) -> Iterator[Running]:
    daemon = StubDaemon()
    server = make_server(
        daemon,  # type: ignore[arg-type]
        "127.0.0.1",
        0,
        timeout=timeout,
        max_connections=max_connections,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield Running(daemon, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def running() -> Iterator[Running]:
    yield from _start(timeout=0.5)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response from the socket (status, lower-cased headers, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def _closed(sock: socket.socket) -> bool:
    """True when the server has closed the connection (EOF within the socket's timeout)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _post(path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push"}


def test_valid_post_is_accepted_and_connection_kept(running: Running) -> None:
    body = b'{"ref": "refs/heads/main"}'
    with _connect(running.port) as sock:
        headers = {**_signed(body), "Content-Length": str(len(body))}
        sock.sendall(_post("/hooks/git", headers, body))
        status, _, payload = _read_response(sock)
        assert status == 202, payload
        # Keep-alive: a second request on the same connection still works.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        assert _read_response(sock)[0] == 200
    assert running.daemon.git_notifications == ["github"]


@pytest.mark.parametrize("value", ["-1", "abc", "+5", "1_0", "0x10", "", "5 5"])
def test_bad_content_length_is_400(running: Running, value: str) -> None:
    with _connect(running.port) as sock:
        sock.sendall(_post("/hooks/git", {"Content-Length": value}, b"xxxxx"))
        status, headers, payload = _read_response(sock)
        assert status == 400, payload
        assert "Content-Length" in json.loads(payload)["error"]
        assert headers.get("connection") == "close"
        assert _closed(sock)
    assert running.daemon.git_notifications == []


def test_missing_content_length_on_post_is_411(running: Running) -> None:
    with _connect(running.port) as sock:
        sock.sendall(_post("/hooks/git", {}))
        status, _, _ = _read_response(sock)
        assert status == 411
        assert _closed(sock)


def test_body_over_max_is_413_without_reading_it(running: Running) -> None:
    with _connect(running.port) as sock:
        length = str(webhooks.MAX_BODY + 1)
        sock.sendall(_post("/hooks/registry", {"Content-Length": length}, b"x" * 100))
        status, _, _ = _read_response(sock)
        assert status == 413
        assert _closed(sock)


def test_body_shorter_than_announced_is_answered(running: Running) -> None:
    # The client sends 5 of the 100 bytes it announced, then stops sending (half-close).
    with _connect(running.port) as sock:
        sock.sendall(_post("/hooks/git", {"Content-Length": "100"}, b"short"))
        sock.shutdown(socket.SHUT_WR)
        status, _, payload = _read_response(sock)
        assert status == 400
        assert "shorter" in json.loads(payload)["error"]
    assert running.daemon.git_notifications == []


def test_stalled_body_times_out_with_408(running: Running) -> None:
    # The client announces 100 bytes, sends 5 and keeps the socket open.
    with _connect(running.port) as sock:
        started = time.monotonic()
        sock.sendall(_post("/hooks/git", {"Content-Length": "100"}, b"short"))
        status, _, _ = _read_response(sock)
        assert status == 408
        assert _closed(sock)
        assert time.monotonic() - started < 4


def test_idle_connection_is_closed_after_timeout(running: Running) -> None:
    with _connect(running.port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /heal")  # a partial request line, then nothing
        assert _closed(sock)
        assert time.monotonic() - started < 4


def test_connections_over_the_cap_get_503() -> None:
    for run in _start(timeout=5.0, max_connections=2):
        held = [_connect(run.port) for _ in range(2)]
        try:
            # Make sure both held connections have been accepted by handler threads.
            for sock in held:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                assert _read_response(sock)[0] == 200
            with _connect(run.port) as extra:
                status, _, payload = _read_response(extra)
                assert status == 503, payload
        finally:
            for sock in held:
                sock.close()
        # Slots come back once the held connections close.
        deadline = time.monotonic() + 4
        while True:
            with _connect(run.port) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                status = _read_response(sock)[0]
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == 200
