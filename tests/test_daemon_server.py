"""The daemon's HTTP server at the socket level: Content-Length handling, the per-connection
timeout and the connection cap, the route table (404, 405) and each endpoint's answer,
against a stub daemon (no git, no registry)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
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
    branch: str = "main"


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
    registry_notifications: list[list[webhooks.PushedRepository]] = field(default_factory=list)
    broken: bool = False

    def status(self) -> dict[str, Any]:
        if self.broken:
            raise RuntimeError("state unreadable")
        return {"ready": self.ready}

    def notify_git(self, source: str, delivery: str = "") -> None:
        self.git_notifications.append(source)

    def notify_registry(self, pushes: Any) -> int:
        self.registry_notifications.append(list(pushes))
        return len(self.registry_notifications[-1])


@dataclass
class Running:
    daemon: StubDaemon
    port: int


def _start(timeout: float = 10.0, max_connections: int = 64, **limits: int) -> Iterator[Running]:
    daemon = StubDaemon()
    server = make_server(
        daemon,  # type: ignore[arg-type]
        "127.0.0.1",
        0,
        timeout=timeout,
        max_connections=max_connections,
        **limits,
    )
    server.start()
    try:
        yield Running(daemon, server.address[1])
    finally:
        server.stop()


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
            # Make sure both held connections have been accepted and served.
            for sock in held:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                assert _read_response(sock)[0] == 200
            with _connect(run.port) as extra:
                # uvicorn answers a connection over the cap when it asks for something.
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
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


# ---------------------------------------------------------------- limits and routing


def _ask(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one raw request on a new connection; the response."""
    with _connect(port) as sock:
        sock.sendall(request)
        return _read_response(sock)


def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """Send one raw request; the response and whether the server closed the connection
    right after it (within a second; the servers here time idle connections out later)."""
    with _connect(port) as sock:
        sock.sendall(request)
        status, headers, payload = _read_response(sock)
        sock.settimeout(1)
        try:
            closed = _closed(sock)
        except TimeoutError:
            closed = False
        return status, headers, payload, closed


def _get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def test_body_limit_is_the_configured_one_and_refuses_before_reading() -> None:
    for run in _start(timeout=5.0, max_body=10):
        # At the limit: read and judged (no signature: 401), and the connection is kept.
        status, _, payload, closed = _exchange(
            run.port, _post("/hooks/git", {"Content-Length": "10"}, b"x" * 10)
        )
        assert (status, closed) == (401, False), payload
        # One byte over, announced: 413 in the daemon's JSON, before the body is sent.
        status, headers, payload, closed = _exchange(
            run.port, _post("/hooks/git", {"Content-Length": "11"})
        )
        assert status == 413
        assert json.loads(payload) == {"error": "body too large"}
        assert headers["content-type"] == "application/json"
        assert headers["connection"] == "close"
        assert closed
        assert run.daemon.git_notifications == []


def test_default_body_limit_is_webhooks_max_body(running: Running) -> None:
    body = b'{"events": []}'
    status, _, _ = _ask(
        running.port,
        _post("/hooks/registry", {"Content-Length": str(webhooks.MAX_BODY)}, body),
    )
    # Announcing exactly MAX_BODY is allowed: the server waits for the body (and, as the
    # client sends only a few bytes, gives up after the timeout).
    assert status == 408


def test_chunked_post_is_411(running: Running) -> None:
    request = _post("/hooks/git", {"Transfer-Encoding": "chunked"}, b"5\r\nhello\r\n0\r\n\r\n")
    status, _, payload, closed = _exchange(running.port, request)
    assert status == 411
    assert json.loads(payload) == {"error": "Content-Length required"}
    assert closed


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_unknown_route_is_404(running: Running, method: str) -> None:
    request = (
        _post("/nowhere", {"Content-Length": "2"}, b"{}")
        if method == "POST"
        else _get("/nowhere", method)
    )
    status, headers, payload = _ask(running.port, request)
    assert status == 404
    assert headers["content-type"] == "application/json"
    if method != "HEAD":
        assert json.loads(payload) == {"error": "not found"}


@pytest.mark.parametrize(
    ("request_bytes", "allowed"),
    [
        (_get("/hooks/git"), {"POST"}),
        (_get("/hooks/registry"), {"POST"}),
        (_get("/status", "DELETE"), {"GET", "HEAD"}),
        (_post("/healthz", {"Content-Length": "2"}, b"{}"), {"GET", "HEAD"}),
    ],
)
def test_wrong_method_is_405(running: Running, request_bytes: bytes, allowed: set[str]) -> None:
    status, headers, payload = _ask(running.port, request_bytes)
    assert status == 405
    assert json.loads(payload) == {"error": "method not allowed"}
    assert set(headers["allow"].replace(" ", "").split(",")) == allowed
    assert running.daemon.git_notifications == []


def test_answer_before_the_body_is_read_closes_the_connection(running: Running) -> None:
    # 405 for a POST whose body has not all arrived: the rest is never read, so the
    # connection cannot carry another request.
    status, _, _, closed = _exchange(
        running.port, _post("/healthz", {"Content-Length": "1000"}, b"partial")
    )
    assert (status, closed) == (405, True)


def test_concurrency_cap_answers_503_and_closes() -> None:
    for run in _start(timeout=5.0, max_connections=1):
        with _connect(run.port) as held:
            held.sendall(_get("/healthz"))
            assert _read_response(held)[0] == 200
            status, headers, _, closed = _exchange(run.port, _get("/healthz"))
            assert status == 503
            assert headers["connection"] == "close"
            assert closed
            # The held connection is still served.
            held.sendall(_get("/status"))
            assert _read_response(held)[0] == 200


# ---------------------------------------------------------------- endpoints


def test_health_readiness_metrics_and_status(running: Running) -> None:
    status, headers, payload = _ask(running.port, _get("/healthz"))
    assert (status, payload) == (200, b"ok\n")
    assert headers["content-type"].startswith("text/plain")
    assert headers["server"] == "imagestream-reconciler"

    assert _ask(running.port, _get("/readyz"))[::2] == (200, b"ready\n")
    running.daemon.ready = False
    assert _ask(running.port, _get("/readyz"))[::2] == (503, b"not ready\n")

    status, headers, payload = _ask(running.port, _get("/metrics"))
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE" in payload

    status, headers, payload = _ask(running.port, _get("/status"))
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert payload == json.dumps({"ready": False}, indent=2, sort_keys=True).encode()

    # HEAD: the GET's headers, no body.
    with _connect(running.port) as sock:
        sock.sendall(_get("/healthz", "HEAD"))
        data = sock.recv(4096)
        assert data.startswith(b"HTTP/1.1 200 ")
        assert data.endswith(b"\r\n\r\n")
        assert b"content-length: 3" in data.lower()


def test_registry_hook_answers(running: Running) -> None:
    running.daemon.config.registry_token = Secret("tok")
    envelope = json.dumps(
        {
            "events": [
                {"action": "push", "target": {"repository": "a/b", "tag": "1"}},
                {"action": "pull", "target": {"repository": "a/b", "tag": "1"}},
            ]
        }
    ).encode()

    def post(body: bytes, token: str) -> tuple[int, Any]:
        headers = {"Content-Length": str(len(body)), "Authorization": f"Bearer {token}"}
        status, _, payload = _ask(running.port, _post("/hooks/registry", headers, body))
        return status, json.loads(payload)

    assert post(envelope, "wrong") == (401, {"error": "bad or missing bearer token"})
    assert post(envelope, "tok") == (202, {"accepted": True, "pushes": 1, "tags": 1})
    status, data = post(b"[]", "tok")
    assert status == 400
    assert "envelope" in data["error"]
    assert running.daemon.registry_notifications == [
        [webhooks.PushedRepository(host="", repository="a/b", tag="1")]
    ]


def test_git_hook_refuses_a_bad_signature(running: Running) -> None:
    body = b"{}"
    headers = {"X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Length": "2"}
    status, _, payload = _ask(running.port, _post("/hooks/git", headers, body))
    assert status == 401
    assert json.loads(payload) == {"error": "bad X-Hub-Signature-256"}
    assert running.daemon.git_notifications == []


def _gitlab(event: str) -> dict[str, str]:
    return {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": event}


def _gitea(event: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Gitea-Signature": digest, "X-Gitea-Event": event}


@pytest.mark.parametrize(
    ("forge", "event", "ref", "status", "answer"),
    [
        ("github", "ping", None, 200, {"accepted": False, "ignored": "ping: nothing to do"}),
        (
            "github",
            "push",
            "refs/heads/feature",
            200,
            {"accepted": False, "ignored": "ref refs/heads/feature is not the tracked branch"},
        ),
        (
            "github",
            "push",
            "refs/tags/v1",
            200,
            {"accepted": False, "ignored": "ref refs/tags/v1 is not the tracked branch"},
        ),
        (
            "github",
            "pull_request",
            "refs/heads/main",
            200,
            {"accepted": False, "ignored": "event 'pull_request' is not a push"},
        ),
        ("github", None, "refs/heads/main", 200, None),
        ("github", "push", "refs/heads/main", 202, {"accepted": True}),
        ("gitlab", "Push Hook", "refs/heads/main", 202, {"accepted": True}),
        (
            "gitlab",
            "Push Hook",
            "refs/heads/x",
            200,
            {"accepted": False, "ignored": "ref refs/heads/x is not the tracked branch"},
        ),
        (
            "gitlab",
            "Tag Push Hook",
            "refs/tags/v1",
            200,
            {"accepted": False, "ignored": "event 'Tag Push Hook' is not a push"},
        ),
        ("gitea", "push", "refs/heads/main", 202, {"accepted": True}),
        (
            "gitea",
            "push",
            "refs/heads/x",
            200,
            {"accepted": False, "ignored": "ref refs/heads/x is not the tracked branch"},
        ),
    ],
)
def test_only_a_push_to_the_tracked_branch_starts_a_pass(
    running: Running,
    forge: str,
    event: str | None,
    ref: str | None,
    status: int,
    answer: dict[str, Any] | None,
) -> None:
    running.daemon.config.gitlab_token = Secret(SECRET)
    running.daemon.config.gitea_secret = Secret(SECRET)
    body = json.dumps({"zen": "hi"} if ref is None else {"ref": ref}).encode()
    if forge == "github":
        headers = {k: v for k, v in _signed(body).items() if k != "X-GitHub-Event"}
        if event is not None:
            headers["X-GitHub-Event"] = event
    elif forge == "gitlab":
        headers = _gitlab(event or "")
    else:
        headers = _gitea(event or "", body)
    headers["Content-Length"] = str(len(body))
    got, _, payload = _ask(running.port, _post("/hooks/git", headers, body))
    assert got == status, payload
    if answer is not None:
        assert json.loads(payload) == answer
    else:
        assert json.loads(payload)["ignored"] == "no event header is not a push"
    assert running.daemon.git_notifications == ([forge] if status == 202 else [])


def test_a_push_event_without_a_ref_is_400(running: Running) -> None:
    body = b'{"commits": []}'
    headers = {**_signed(body), "Content-Length": str(len(body))}
    status, _, payload = _ask(running.port, _post("/hooks/git", headers, body))
    assert (status, json.loads(payload)) == (400, {"error": "push event without a ref"})
    assert running.daemon.git_notifications == []


def test_a_failing_handler_is_500_in_one_log_line(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    running.daemon.broken = True
    status, _, payload = _ask(running.port, _get("/status"))
    assert status == 500
    assert json.loads(payload) == {"error": "internal error"}
    failures = [r for r in caplog.records if r.getMessage() == "HTTP request failed"]
    assert len(failures) == 1
    assert failures[0].exc_info is None  # no traceback: the error is a field
    assert "state unreadable" in str(failures[0].__dict__["fields"]["error"])


def test_pipelined_requests_are_answered_in_order(running: Running) -> None:
    body = b'{"ref": "refs/heads/main"}'
    first = _post("/hooks/git", {**_signed(body), "Content-Length": str(len(body))}, body)
    # The second request's body arrives later: answering the first must not end the
    # connection on its account.
    second = _post("/hooks/git", {**_signed(body), "Content-Length": str(len(body))}, body[:5])
    with _connect(running.port) as sock:
        sock.sendall(first + second)
        assert _read_response(sock)[0] == 202
        time.sleep(0.1)
        sock.sendall(body[5:])
        assert _read_response(sock)[0] == 202
    assert running.daemon.git_notifications == ["github", "github"]
