"""The daemon's HTTP endpoints: ``/healthz``, ``/readyz``, ``/metrics``, ``/status``, the
git push webhook (``/hooks/git``) and the registry notification endpoint
(``/hooks/registry``). A thin shell over the standard library's threading HTTP server:
handlers only verify and enqueue, the daemon's loop does the work."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from reconciler.daemon import webhooks
from reconciler.daemon.logs import log

if TYPE_CHECKING:
    from reconciler.daemon.runner import Daemon


_BUSY_BODY = b'{"error": "too many connections"}\n'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(_BUSY_BODY)
) + _BUSY_BODY


class _BoundedServer(ThreadingHTTPServer):
    """A threading HTTP server with at most ``max_connections`` handler threads: a
    connection over the limit is answered 503 and closed at once, without a thread."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int
    ) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The standard library prints a multi-line traceback to stderr here, which breaks
        # one-JSON-object-per-line logs; a peer resetting its connection is routine.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        log(logging.WARNING, "HTTP request failed", peer=str(client_address[0]), error=repr(exc))

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def make_server(
    daemon: Daemon,
    host: str,
    port: int,
    *,
    timeout: float = 10.0,
    max_connections: int = 64,
) -> ThreadingHTTPServer:
    """The daemon's HTTP server. ``timeout`` bounds how long one connection may sit idle or
    take to send a request; ``max_connections`` bounds the handler threads."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "imagestream-reconciler"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # access logs would drown the structured log; metrics count events

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, json.dumps(data, indent=2, sort_keys=True).encode())

        def _refuse(self, status: int, error: str) -> None:
            # The body was not (fully) read, so the stream is out of step: answer and close.
            self.close_connection = True
            self._json(status, {"error": error})

        def _body(self) -> bytes | None:
            """The request body, or None after answering with an error. Only a body with a
            valid Content-Length no larger than MAX_BODY is read (chunked is not supported)."""
            raw = self.headers.get("Content-Length")
            if raw is None:
                self._refuse(411, "Content-Length required")
                return None
            raw = raw.strip()
            if not (raw.isascii() and raw.isdigit()):
                # int() would take "-1", "+5", " 5" or "1_0"; only plain digits are valid.
                self._refuse(400, f"bad Content-Length: {raw[:40]!r}")
                return None
            length = int(raw)
            if length > webhooks.MAX_BODY:
                self._refuse(413, "body too large")
                return None
            if not length:
                return b""
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                self._refuse(408, "timed out reading the body")
                return None
            if len(body) < length:
                self._refuse(400, f"body shorter than Content-Length ({len(body)} < {length})")
                return None
            return body

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            elif path == "/readyz":
                ready = daemon.ready
                self._send(
                    200 if ready else 503, b"ready\n" if ready else b"not ready\n", "text/plain"
                )
            elif path == "/metrics":
                daemon.metrics.queue_depth.set(daemon.state.pending_count())
                self._send(200, daemon.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
            elif path == "/status":
                self._json(200, daemon.status())
            else:
                self._json(404, {"error": "not found"})

        do_HEAD = do_GET

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            body = self._body()
            if body is None:
                return
            headers = {k: v for k, v in self.headers.items()}
            if path == "/hooks/git":
                verdict = webhooks.verify_git_webhook(
                    headers,
                    body,
                    github=daemon.config.github_secret,
                    gitea=daemon.config.gitea_secret,
                    gitlab=daemon.config.gitlab_token,
                )
                if not verdict.accepted:
                    daemon.metrics.events.labels("git-refused").inc()
                    log(
                        logging.WARNING,
                        "git webhook refused",
                        peer=self.client_address[0],
                        reason=verdict.reason,
                    )
                    self._json(401, {"error": verdict.reason})
                    return
                daemon.metrics.events.labels(verdict.source).inc()
                daemon.notify_git(verdict.source)
                self._json(202, {"accepted": True})
            elif path == "/hooks/registry":
                if not webhooks.verify_bearer(headers, daemon.config.registry_token):
                    daemon.metrics.events.labels("registry-refused").inc()
                    log(
                        logging.WARNING,
                        "registry notification refused: bad or missing bearer token",
                        peer=self.client_address[0],
                    )
                    self._json(401, {"error": "bad or missing bearer token"})
                    return
                try:
                    pushes = webhooks.registry_pushes(body)
                except ValueError as exc:
                    self._json(400, {"error": str(exc)})
                    return
                if pushes:  # blob uploads and pulls are not events we act on
                    daemon.metrics.events.labels("registry").inc(len(pushes))
                matched = daemon.notify_registry(pushes)
                self._json(202, {"accepted": True, "pushes": len(pushes), "tags": matched})
            else:
                self._json(404, {"error": "not found"})

    # Seconds a connection may sit idle or take to send a request before it is closed (the
    # handler sets it on the socket): a client that keeps the socket open must not hold a
    # handler thread forever.
    Handler.timeout = timeout
    return _BoundedServer((host, port), Handler, max_connections)


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread
