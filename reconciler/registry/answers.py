"""What a registry's answer amounts to: its body read under a size cap (gzip and deflate
inflated a bounded piece at a time, so a small compressed body cannot grow past the cap
in memory), and a status or transport failure as a :class:`ResolveError` with a reason
and the registry's own error codes.

Must not: send anything, retry, or follow redirects (``reconciler.registry.transport``
does); log a header or a URL query.
"""

from __future__ import annotations

import json
import ssl
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx

from reconciler.registry import errors as e
from reconciler.registry.errors import ResolveError
from reconciler.registry.targets import Target

if TYPE_CHECKING:  # a Reply is made by the transport, which uses this module
    from reconciler.registry.transport import Reply

__all__ = ["MAX_ERROR_BYTES", "read_capped", "read_error_body", "status_error", "transport_failure"]

MAX_ERROR_BYTES = 64 * 1024  # what is read of an error's body, for its codes


def status_error(target: Target, method: str, reply: Reply) -> ResolveError:
    """The error for a status that is not a success (body: a small error document)."""
    status = reply.status_code
    codes = _error_codes(reply.content)
    what = f"HTTP {status} on {method}" + (f" ({', '.join(codes)})" if codes else "")
    if status == 404 or "MANIFEST_UNKNOWN" in codes or "NAME_UNKNOWN" in codes:
        return target.fail(e.NOT_FOUND, f"manifest unknown: {what}")
    if status == 401:
        return target.fail(e.UNAUTHORIZED, f"not authorized: {what}")
    if status == 403:
        return target.fail(e.FORBIDDEN, f"access denied: {what}")
    if status == 429 or "TOOMANYREQUESTS" in codes:
        return target.fail(e.TOO_MANY_REQUESTS, f"rate limited: {what}")
    if status >= 500:
        return target.fail(e.REGISTRY_UNAVAILABLE, f"registry error: {what}")
    if status == 400 and "NAME_INVALID" in codes:
        return target.fail(e.BAD_REQUEST, f"invalid repository name: {what}")
    return target.fail(e.INVALID_RESPONSE, f"unexpected {what}")


def _error_codes(body: bytes) -> list[str]:
    """The distribution error codes in an error body, if it is small JSON."""
    if not body:
        return []
    try:
        payload = json.loads(body)
    except ValueError:
        return []
    if not isinstance(payload, dict) or not isinstance(payload.get("errors"), list):
        return []
    return [
        str(item["code"])
        for item in payload["errors"]
        if isinstance(item, dict) and isinstance(item.get("code"), str)
    ]


def transport_failure(target: Target, what: str, exc: httpx.TransportError) -> ResolveError:
    # A certificate that does not verify will not fix itself: not RegistryUnavailable.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return ResolveError(
                e.TLS_VERIFICATION_FAILED,
                f"{target.registry}/{target.repository}: {what}: TLS certificate not trusted "
                f"({cause.verify_message}); trust its CA with --ca-bundle (importPolicy.insecure "
                "means plain HTTP here, not unverified TLS)",
                registry=target.registry,
            )
        cause = cause.__cause__ or cause.__context__
    return target.fail(e.REGISTRY_UNAVAILABLE, f"{what} failed: {_transport_detail(exc)}")


def _transport_detail(exc: httpx.TransportError) -> str:
    # The class name is informative ("ConnectError") and cannot carry a secret; the message
    # is kept short because some carry the whole URL.
    text = str(exc).split("\n", 1)[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- redirects ---------------------------------------------------------------------------------


def read_capped(response: httpx.Response, cap: int, target: Target, what: str) -> bytes:
    length: str | None = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap:
        raise target.fail(
            e.INVALID_RESPONSE, f"{what}: body of {length} bytes exceeds the {cap}-byte limit"
        )
    buf = bytearray()
    try:
        for chunk in _body_chunks(response, cap):
            buf += chunk
            if len(buf) > cap:
                raise target.fail(e.INVALID_RESPONSE, f"{what}: body exceeds the {cap}-byte limit")
    except zlib.error:
        encoding = response.headers.get("content-encoding")
        raise target.fail(e.INVALID_RESPONSE, f"{what}: body is not valid {encoding}") from None
    return bytes(buf)


def read_error_body(response: httpx.Response) -> bytes:
    buf = bytearray()
    try:
        for chunk in _body_chunks(response, MAX_ERROR_BYTES):
            buf += chunk
            if len(buf) > MAX_ERROR_BYTES:
                return b""  # too large to be a distribution error document
    except (httpx.HTTPError, zlib.error):
        return b""
    return bytes(buf)


def _body_chunks(response: httpx.Response, cap: int) -> Iterator[bytes]:
    """The body as it was before a ``gzip`` or ``deflate`` Content-Encoding, never more
    than ``cap + 1`` bytes inflated at once (zlib.error on a body that is not of its
    encoding). httpx's own decoding inflates each chunk read whole: 64 KiB of gzip
    became 64 MiB in memory before any cap was checked (16 requests: 1.6 GiB), and a
    body that is not gzip raised httpx.DecodingError out of the pass. Any other encoding
    is passed on as read (its digest then does not match)."""
    if response.is_stream_consumed:  # read whole already (a mock transport's answer)
        yield response.content
        return
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    else:
        yield from response.iter_raw()
        return
    first = True
    for chunk in response.iter_raw():
        if first and chunk and encoding == "deflate":
            try:  # zlib-wrapped, as the RFC says, or raw deflate, as some servers send
                zlib.decompressobj().decompress(chunk[:2])
            except zlib.error:
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        first = first and not chunk
        while chunk:
            yield inflater.decompress(chunk, cap + 1)
            chunk = inflater.unconsumed_tail
    yield inflater.flush()
