"""The daemon's HTTP endpoints: ``/healthz``, ``/readyz``, ``/metrics``, ``/status``, the
git push webhook (``/hooks/git``) and the registry notification endpoint
(``/hooks/registry``), served by starlette on uvicorn in one background thread.

Owns: the route table, the request limits (body size, read deadlines, the connection cap)
and the uvicorn server's life (bind, start, stop). Handlers only verify and enqueue: they
call the ``Daemon``'s ``notify_*`` methods and read its status, and the daemon's loop, in
the main thread, does the work. Calls into the daemon run in the thread pool, never on
the event loop.

Must not: reconcile, touch git or a registry, decide what a webhook means (``webhooks``
does, purely), install signal handlers or configure logging (``startup`` does), or read a
request body except through ``BodyLimits``.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import math
import socket
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import h11
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from reconciler.daemon import statuspage, webhooks
from reconciler.daemon.logs import log

if TYPE_CHECKING:
    from reconciler.daemon.runner import Daemon

SERVER_NAME = "imagestream-reconciler"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus text format
# Sent with every refusal made before the body was read: the rest of it is still on the
# wire, so the connection cannot carry another request.
CLOSE = {"Connection": "close"}


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True).encode()


class JsonResponse(JSONResponse):
    """The daemon's JSON: indented, keys sorted (what ``curl`` users and tests read)."""

    def render(self, content: Any) -> bytes:
        return _json_bytes(content)


def _error(status: int, error: str, headers: Mapping[str, str] | None = None) -> JsonResponse:
    return JsonResponse({"error": error}, status, headers=headers)


# ---------------------------------------------------------------- endpoints


class Endpoints:
    """The handlers, bound to one daemon. Request bodies are read on the event loop
    (through ``BodyLimits``); everything that calls the daemon runs in the thread pool."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(self, request: Request) -> Response:
        if self.daemon.ready:
            return PlainTextResponse("ready\n")
        return PlainTextResponse("not ready\n", 503)

    def metrics(self, request: Request) -> Response:
        return Response(self.daemon.metrics.render(), media_type=METRICS_TYPE)

    def status(self, request: Request) -> Response:
        """JSON (the default: no Accept, ``*/*``, ``application/json``), or the HTML page
        when the client prefers ``text/html`` (a browser); ``?format=json|html`` wins."""
        data = self.daemon.status()
        chosen = request.query_params.get("format") or statuspage.negotiate(
            request.headers.get("accept", "")
        )
        if chosen == "html":
            view = statuspage.view_of(request.query_params)
            page = statuspage.render(data, time.time(), *view)
            return HTMLResponse(page, headers={**statuspage.HEADERS, "Vary": "Accept"})
        return JsonResponse(data, headers={"Vary": "Accept"})

    async def git_hook(self, request: Request) -> Response:
        body = await request.body()
        return await run_in_threadpool(self._git_hook, dict(request.headers), body, _peer(request))

    async def registry_hook(self, request: Request) -> Response:
        body = await request.body()
        return await run_in_threadpool(
            self._registry_hook, dict(request.headers), body, _peer(request)
        )

    def _git_hook(self, headers: dict[str, str], body: bytes, peer: str) -> Response:
        config = self.daemon.config
        verdict = webhooks.verify_git_webhook(
            headers,
            body,
            github=config.github_secret,
            gitea=config.gitea_secret,
            gitlab=config.gitlab_token,
        )
        if not verdict.accepted:
            self.daemon.metrics.events.labels("git-refused").inc()
            log(logging.WARNING, "git webhook refused", peer=peer, reason=verdict.reason)
            return _error(401, verdict.reason)
        self.daemon.metrics.events.labels(verdict.source).inc()
        try:
            event = webhooks.git_event(verdict.source, headers, body, config.branch)
        except ValueError as exc:
            return _error(400, str(exc))
        if not event.run:
            log(
                logging.INFO,
                "git webhook: no pass",
                source=verdict.source,
                event=event.event,
                reason=event.ignored,
                delivery=webhooks.delivery_id(verdict.source, headers),
            )
            return JsonResponse({"accepted": False, "ignored": event.ignored}, 200)
        self.daemon.notify_git(verdict.source, event.delivery)
        return JsonResponse({"accepted": True}, 202)

    def _registry_hook(self, headers: dict[str, str], body: bytes, peer: str) -> Response:
        if not webhooks.verify_bearer(headers, self.daemon.config.registry_token):
            self.daemon.metrics.events.labels("registry-refused").inc()
            log(
                logging.WARNING,
                "registry notification refused: bad or missing bearer token",
                peer=peer,
            )
            return _error(401, "bad or missing bearer token")
        try:
            pushes = webhooks.registry_pushes(body)
        except ValueError as exc:
            return _error(400, str(exc))
        if pushes:  # blob uploads and pulls are not events we act on
            self.daemon.metrics.events.labels("registry").inc(len(pushes))
        matched = self.daemon.notify_registry(pushes)
        return JsonResponse({"accepted": True, "pushes": len(pushes), "tags": matched}, 202)

    def routes(self) -> list[Route]:
        # A GET route answers HEAD too (starlette adds it); any other method is a 405.
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/status", self.status, methods=["GET"]),
            Route("/hooks/git", self.git_hook, methods=["POST"]),
            Route("/hooks/registry", self.registry_hook, methods=["POST"]),
        ]


def _peer(request: Request) -> str:
    return request.client.host if request.client else ""


async def _http_error(request: Request, exc: Exception) -> Response:
    """404, 405 and the limits' refusals, as the daemon's JSON (``{"error": ...}``)."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if detail == http.HTTPStatus(exc.status_code).phrase:
        detail = detail.lower()  # starlette's own 404/405 say "Not Found"
    return _error(exc.status_code, detail, exc.headers)


# ---------------------------------------------------------------- limits


class BodyLimits:
    """Every request body within limits, enforced before and while a route reads it:

    - a POST must announce its Content-Length (411; a chunked body is not accepted);
    - a body announced over ``max_body`` bytes is refused before a byte of it is read (413),
      and one that grows past it while being read is refused too;
    - the whole body must arrive within ``timeout`` seconds of the request head (408), so a
      client that stalls or trickles cannot hold a connection.

    A refusal before the body is read closes the connection (the protocol below closes any
    connection whose response went out before its request body was read)."""

    def __init__(self, app: ASGIApp, *, max_body: int, timeout: float) -> None:
        self.app = app
        self.max_body = max_body
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = Headers(scope=scope).get("content-length")
        refusal: Response | None = None
        if raw is None and scope["method"] == "POST":
            refusal = _error(411, "Content-Length required", CLOSE)
        elif raw is not None and not (raw.isascii() and raw.isdigit()):
            refusal = _error(400, f"bad Content-Length: {raw[:40]!r}", CLOSE)  # h11 checks too
        elif raw is not None and int(raw) > self.max_body:
            refusal = _error(413, "body too large", CLOSE)
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        deadline = asyncio.get_running_loop().time() + self.timeout
        received = 0
        complete = False

        async def bounded_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body, receive only waits for a disconnect
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, "timed out reading the body", CLOSE) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise HTTPException(413, "body too large", CLOSE)
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, bounded_receive, send)


class ReportFailures:
    """A handler that fails is logged in one line and answered 500, instead of uvicorn's
    multi-line traceback. A client that went away mid-request is routine: nothing to say."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            return
        except Exception as exc:
            client = scope.get("client")
            log(
                logging.WARNING,
                "HTTP request failed",
                peer=client[0] if client else "",
                path=str(scope.get("path", "")),
                error=repr(exc),
            )
            if not started:
                await _error(500, "internal error", CLOSE)(scope, receive, send)


class DaemonProtocol(H11Protocol):
    """uvicorn's h11 protocol with what a server facing the network needs beyond it:

    - a request head must arrive within ``head_timeout`` seconds of the connection (or of
      the previous response): a client that sends half a request line and waits is closed
      (uvicorn's keep-alive timer stops at the first byte);
    - a response that went out before its request body was read ends the connection:
      the unread rest is never read (uvicorn would read and discard it to reuse the
      connection);
    - a client that half-closes with its body incomplete is answered 400 (uvicorn closes
      without an answer), and one that half-closes after a complete request still gets
      its response;
    - a malformed request is answered in the daemon's JSON, with h11's reason.

    ``head_timeout`` is set per server by ``_protocol``."""

    head_timeout: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        # Judged before uvicorn moves on to a pipelined request, whose body may be unread.
        unread_body = self.conn.their_state is h11.SEND_BODY
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if unread_body:
            self.transport.close()
            return
        self._arm()

    # asyncio.Protocol's signature (uvicorn narrows it to None): True keeps the transport
    # open for writing after the client half-closed.
    def eof_received(self) -> bool | None:  # type: ignore[override]
        cycle = self._in_flight()
        if cycle is None:
            return None  # between requests: the connection is over
        cycle.keep_alive = False  # this response is the connection's last
        if cycle.more_body and not cycle.response_started:
            self._refuse(400, "body shorter than Content-Length: the client stopped sending")
            return None
        return True  # keep the transport open for the response

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this inside its `except h11.RemoteProtocolError`: the exception
        # being handled says what was wrong ("bad Content-Length", ...).
        exc = sys.exc_info()[1]
        self._refuse(400, str(exc) if isinstance(exc, h11.RemoteProtocolError) else msg)

    def _in_flight(self) -> RequestResponseCycle | None:
        cycle = self.cycle
        return cycle if cycle is not None and not cycle.response_complete else None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.head_timeout, self._head_overdue)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_overdue(self) -> None:
        self._deadline = None
        if self._in_flight() is None and not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: int, error: str) -> None:
        """Answer ``status`` without the application, and close the connection."""
        body = _json_bytes({"error": error})
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        reason = http.HTTPStatus(status).phrase.encode()
        try:
            for event in (
                h11.Response(status_code=status, headers=headers, reason=reason),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event) or b"")
        except h11.LocalProtocolError:
            pass  # a response was already under way: closing is all that is left
        cycle = self._in_flight()
        if cycle is not None:  # the application gets http.disconnect and stops reading
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def _protocol(head_timeout: float) -> type[DaemonProtocol]:
    class Protocol(DaemonProtocol):
        pass

    Protocol.head_timeout = head_timeout
    return Protocol


# ---------------------------------------------------------------- the server


def make_app(
    daemon: Daemon, *, max_body: int = webhooks.MAX_BODY, timeout: float = 10.0
) -> Starlette:
    return Starlette(
        routes=Endpoints(daemon).routes(),
        middleware=[
            Middleware(ReportFailures),
            Middleware(BodyLimits, max_body=max_body, timeout=timeout),
        ],
        exception_handlers={HTTPException: _http_error},
    )


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket; OSError when the address is unusable or taken. A name is looked
    up as IPv4 (as before); an IPv6 literal listens on IPv6."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Not socket.create_server: it rewrites the error's strerror, which we report.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class Server:
    """uvicorn serving the daemon's app from a background thread, on a socket bound at
    construction: a port in use is an OSError in the caller, not a ``sys.exit`` in
    uvicorn's thread. uvicorn installs no signal handlers off the main thread; the
    caller stops the server with ``stop()``."""

    def __init__(
        self, app: ASGIApp, host: str, port: int, *, timeout: float, max_connections: int
    ) -> None:
        self.timeout = timeout
        self._socket = _bind(host, port)
        whole_seconds = max(1, math.ceil(timeout))
        config = uvicorn.Config(
            app,
            http=_protocol(timeout),
            loop="asyncio",
            interface="asgi3",
            ws="none",
            lifespan="off",
            log_config=None,  # the process's logging is startup's, not uvicorn's
            access_log=False,  # access logs would drown the structured log; metrics count
            proxy_headers=False,  # the peer is the socket's, never a header's
            server_header=False,
            headers=[("server", SERVER_NAME)],
            # uvicorn counts the connection asking, so N admits N - 1 others.
            limit_concurrency=max_connections + 1,
            timeout_keep_alive=whole_seconds,
            timeout_graceful_shutdown=whole_seconds,
        )
        self._uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)
        self._thread.start()
        return self._thread

    def _serve(self) -> None:
        try:
            self._uvicorn.run(sockets=[self._socket])
        except BaseException as exc:  # SystemExit included: uvicorn exits on start-up errors
            log(logging.ERROR, "HTTP server stopped", error=repr(exc))

    def stop(self) -> None:
        """Stop accepting, let requests in flight finish (for at most ``timeout`` seconds),
        and close the socket."""
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
        self._socket.close()


def make_server(
    daemon: Daemon,
    host: str,
    port: int,
    *,
    timeout: float = 10.0,
    max_connections: int = 64,
    max_body: int = webhooks.MAX_BODY,
) -> Server:
    """The daemon's HTTP server, bound and not yet serving. ``timeout`` bounds how long a
    connection may sit idle, take to send a request head, or take to send a body;
    ``max_connections`` bounds the open connections (a request on one over it is answered
    503 and its connection closed);
    ``max_body`` bounds a request body (413)."""
    app = make_app(daemon, max_body=max_body, timeout=timeout)
    return Server(app, host, port, timeout=timeout, max_connections=max_connections)
