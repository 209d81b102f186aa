"""The daemon's HTTP endpoints: ``/healthz``, ``/readyz``, ``/metrics``, ``/status``, the
git push webhook (``/hooks/git``) and the registry notification endpoint
(``/hooks/registry``). A thin shell over the standard library's threading HTTP server:
handlers only verify and enqueue, the daemon's loop does the work."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from reconciler.daemon import webhooks

if TYPE_CHECKING:
    from reconciler.daemon.runner import Daemon


def make_server(daemon: Daemon, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "imagestream-reconciler"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # access logs would drown the structured log; metrics count events

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, json.dumps(data, indent=2, sort_keys=True).encode())

        def _body(self) -> bytes | None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > webhooks.MAX_BODY:
                self._json(413, {"error": "body too large"})
                return None
            return self.rfile.read(length) if length else b""

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
                    self._json(401, {"error": verdict.reason})
                    return
                daemon.metrics.events.labels(verdict.source).inc()
                daemon.notify_git(verdict.source)
                self._json(202, {"accepted": True})
            elif path == "/hooks/registry":
                if not webhooks.verify_bearer(headers, daemon.config.registry_token):
                    daemon.metrics.events.labels("registry-refused").inc()
                    self._json(401, {"error": "bad or missing bearer token"})
                    return
                try:
                    pushes = webhooks.registry_pushes(body)
                except ValueError as exc:
                    self._json(400, {"error": str(exc)})
                    return
                daemon.metrics.events.labels("registry").inc()
                matched = daemon.notify_registry(pushes)
                self._json(202, {"accepted": True, "pushes": len(pushes), "tags": matched})
            else:
                self._json(404, {"error": "not found"})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread
