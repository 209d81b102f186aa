"""Helpers for daemon tests: a registry that notifies with a bearer token, an in-process
daemon with its HTTP server on a free port, a receiver for trigger deliveries, and a
bounded wait."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reconciler.config.settings import Settings
from reconciler.core.schedule import ImportPolicy
from reconciler.core.secrets import Secret
from reconciler.daemon.config import DaemonConfig, DeliveryTarget
from reconciler.daemon.runner import Daemon
from reconciler.daemon.server import Server, make_server
from testsupport.registry import LocalRegistry

REGISTRY_TOKEN = "registry-notify-token"
GITHUB_SECRET = "github-webhook-secret"


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, every: float = 0.02) -> Any:
    """Poll ``condition`` until truthy; fail after ``timeout`` seconds (a bound, not a
    performance assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


def NotifyingRegistry(endpoints: Sequence[str], token: str = REGISTRY_TOKEN) -> LocalRegistry:
    """A LocalRegistry whose notifications carry ``Authorization: Bearer``."""
    return LocalRegistry(notifications=list(endpoints), notification_token=token)


@dataclass
class RunningDaemon:
    daemon: Daemon
    server: Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.daemon.stop()
        self.thread.join(timeout=30)
        self.server.stop()


def daemon_config(
    tmp: Path,
    repo_url: str,
    *,
    name: str = "d",
    interval: float = 3600,
    poll: float = 3600,
    delivery: Sequence[DeliveryTarget] = (),
) -> DaemonConfig:
    return DaemonConfig(
        repo_url=repo_url,
        work_dir=tmp / name / "work",
        state_dir=tmp / name / "state",
        git_poll_interval=poll,
        policy=ImportPolicy(minimum_interval=interval, per_minute=1000),
        listen_port=0,
        github_secret=Secret(GITHUB_SECRET),
        registry_token=Secret(REGISTRY_TOKEN),
        delivery=tuple(delivery),
    )


def start_daemon(config: DaemonConfig, settings: Settings | None = None) -> RunningDaemon:
    daemon = Daemon(
        config, settings or Settings(cache_dir=config.work_dir.parent, max_concurrency=4)
    )
    server = make_server(daemon, "127.0.0.1", 0)
    server.start()
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    return RunningDaemon(daemon, server, thread)


@dataclass
class Receiver:
    """Records trigger deliveries: (Idempotency-Key, body) per POST."""

    server: ThreadingHTTPServer
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def keys(self) -> set[str]:
        return {key for key, _ in self.received}


def start_receiver() -> Receiver:
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length))
            received.append((self.headers.get("Idempotency-Key", ""), body))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Receiver(server, received)


def receiver_iter(receiver: Receiver) -> Iterator[Receiver]:
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


# DeploymentConfig team/web, following app:latest in its namespace: the consumer the
# daemon tests watch redeploy.
DEPLOY = """\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: web
  namespace: team
spec:
  template:
    spec:
      containers:
        - name: web
          image: app
  triggers:
    - type: ImageChange
      imageChangeParams:
        automatic: true
        containerNames: [web]
        from:
          kind: ImageStreamTag
          name: app:latest
"""
