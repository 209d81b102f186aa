"""Registry answers that are wildly wrong stay failures with a reason, never a pin, a
hang or a crash (issue 10): a 200 with an HTML page, a huge ``Content-Length``, a redirect
loop, a redirect off to plain HTTP, a token service that answers HTML or a huge body,
a tag list whose ``Link`` leads to another host, a gzip bomb, and a body that is not the
gzip it says.

Each is asked of every request a resolve makes: the HEAD, the GET of a new digest (the
read before the pin), and the token request. Elsewhere: the whole pass keeping the last
good digest on garbage (``test_reconcile_integration``), the streamed body cap
(``test_registry_faults``), slow answers (``test_registry_deadline``).
"""

from __future__ import annotations

import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import httpx
import pytest
from test_registry_faults import AMD64_BODY, FakeRegistry, digest_of, req, resolve_error

from reconciler.core.references import parse_image_reference
from reconciler.registry.client import RegistryClient
from reconciler.registry.errors import ResolveError
from reconciler.registry.media_types import OCI_MANIFEST

DIGEST = digest_of(AMD64_BODY)
HTML = b"<html><body>502 Bad Gateway (proxy)</body></html>"

Answer = Callable[[httpx.Request], httpx.Response]


def html(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "text/html"}, content=HTML)


def huge_length(request: httpx.Request) -> httpx.Response:
    # Claims a terabyte; the cap refuses it from the header, before reading.
    return httpx.Response(
        200,
        headers={"Content-Type": OCI_MANIFEST, "Content-Length": str(10**12)},
        content=b"{}",
    )


def redirect_loop(request: httpx.Request) -> httpx.Response:
    return httpx.Response(302, headers={"Location": str(request.url)})


def redirect_to_plain_http(request: httpx.Request) -> httpx.Response:
    return httpx.Response(307, headers={"Location": "http://cdn.example/manifest"})


class _Sent(httpx.SyncByteStream):
    """A body as a server streams it (httpx.Response(content=...) is read whole)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        yield self.body


# 256 MiB of zeros as gzip: 254 KiB on the wire.
_BOMB = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
GZIP_BOMB = b"".join(_BOMB.compress(bytes(1 << 20)) for _ in range(256)) + _BOMB.flush()


def gzip_bomb(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        headers={"Content-Type": OCI_MANIFEST, "Content-Encoding": "gzip"},
        stream=_Sent(GZIP_BOMB),
    )


def not_gzip(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        headers={"Content-Type": OCI_MANIFEST, "Content-Encoding": "gzip"},
        stream=_Sent(HTML),
    )


WILD: dict[str, tuple[Answer, set[str]]] = {
    "html": (html, {"InvalidResponse", "DigestMismatch"}),
    "huge-content-length": (huge_length, {"InvalidResponse"}),
    "redirect-loop": (redirect_loop, {"InvalidResponse"}),
    "redirect-to-plain-http": (redirect_to_plain_http, {"InvalidResponse"}),
    "gzip-bomb": (gzip_bomb, {"InvalidResponse"}),
    "not-gzip": (not_gzip, {"InvalidResponse"}),
}


@pytest.fixture
def fake() -> FakeRegistry:
    registry = FakeRegistry()
    registry.add("app", "v1", AMD64_BODY)
    return registry


@pytest.fixture
def client(fake: FakeRegistry) -> Iterator[RegistryClient]:
    with RegistryClient(
        max_concurrency=2, transport=httpx.MockTransport(fake), sleep=lambda seconds: None
    ) as c:
        yield c


@pytest.mark.parametrize("wild", ["redirect-loop", "redirect-to-plain-http"])
def test_a_wild_redirect_of_head_is_a_failure(
    fake: FakeRegistry, client: RegistryClient, wild: str
) -> None:
    answer, reasons = WILD[wild]
    fake.hooks.append(lambda r: answer(r) if r.method == "HEAD" else None)
    error = resolve_error(client, req("reg.example/app:v1", known_digest=DIGEST))
    assert error.reason in reasons, error
    assert not error.retryable
    assert all(r.url.scheme == "https" for r in fake.seen)


@pytest.mark.parametrize("wild", ["html", "huge-content-length"])
def test_a_head_that_says_nothing_usable_confirms_nothing(
    fake: FakeRegistry, client: RegistryClient, wild: str
) -> None:
    # No digest header (or not a manifest type): even the pinned digest is not confirmed
    # by it; the manifest is read by tag, and its own bytes give the digest.
    answer, _ = WILD[wild]
    fake.hooks.append(lambda r: answer(r) if r.method == "HEAD" else None)
    assert client.resolve(req("reg.example/app:v1", known_digest=DIGEST)).digest == DIGEST
    assert [(r.method, r.url.path) for r in fake.seen] == [
        ("HEAD", "/v2/app/manifests/v1"),
        ("GET", "/v2/app/manifests/v1"),
    ]


@pytest.mark.parametrize("wild", sorted(WILD))
def test_a_wild_answer_to_the_read_before_the_pin_is_a_failure(
    fake: FakeRegistry, client: RegistryClient, wild: str
) -> None:
    answer, reasons = WILD[wild]
    fake.hooks.append(lambda r: answer(r) if r.method == "GET" else None)
    error = resolve_error(client, req("reg.example/app:v1"))
    assert error.reason in reasons, error
    assert not error.retryable
    assert fake.seen[0].method == "HEAD" and fake.seen[1].url.path.endswith(DIGEST)


def test_a_gzip_bomb_is_refused_without_being_inflated(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    # httpx inflated each chunk read whole before the cap was looked at: this one chunk
    # became 256 MiB in memory (16 at once: 4 GiB), for a 4 MiB cap.
    fake.hooks.append(lambda r: gzip_bomb(r) if r.method == "GET" else None)
    tracemalloc.start()
    try:
        error = resolve_error(client, req("reg.example/app:v1"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.reason == "InvalidResponse" and "exceeds" in str(error), error
    assert peak < 32 * 1024 * 1024


@pytest.mark.parametrize(
    "wild", ["html", "huge-content-length", "redirect-loop", "gzip-bomb", "not-gzip"]
)
def test_a_wild_token_service_is_a_failure(
    fake: FakeRegistry, client: RegistryClient, wild: str
) -> None:
    fake.require_token = True
    answer, _ = WILD[wild]
    fake.hooks.append(lambda r: answer(r) if r.url.host == "auth.example" else None)
    error = resolve_error(client, req("reg.example/app:v1"))
    assert error.reason == "InvalidResponse", error
    assert len(fake.token_requests()) == 1  # the token request is never redirected


def test_a_tag_list_link_to_another_host_is_refused(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    def tags(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/tags/list"):
            return httpx.Response(
                200,
                json={"name": "app", "tags": ["v1"]},
                headers={
                    "Link": '<https://elsewhere.example/v2/app/tags/list?last=v1>; rel="next"'
                },
            )
        return None

    fake.hooks.append(tags)
    with pytest.raises(ResolveError) as info:
        client.list_tags(parse_image_reference("reg.example/app"))
    assert info.value.reason == "InvalidResponse"
    assert "elsewhere.example" in info.value.message
    assert all(r.url.host == "reg.example" for r in fake.seen)
