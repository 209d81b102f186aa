"""RegistryClient against a scripted registry (httpx.MockTransport) speaking the distribution
protocol: Bearer tokens, redirects, digest checks, size caps and error mapping."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from reconciler.core.platforms import Platform
from reconciler.core.references import parse_image_reference
from reconciler.registry.client import RegistryClient
from reconciler.registry.errors import ResolveError
from reconciler.registry.manifests import MAX_MANIFEST_BYTES
from reconciler.registry.media_types import MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST
from reconciler.registry.models import Resolved, ResolveRequest

REGISTRY = "reg.example"
TOKEN = "tok-secret-1"


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def manifest(seed: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "x", "digest": digest_of(seed.encode()), "size": 1},
            "layers": [],
        }
    ).encode()


AMD64_BODY = manifest("amd64")
ARM64_BODY = manifest("arm64")
INDEX_BODY = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest_of(b"attestation"),
                "size": 1,
                "platform": {"os": "unknown", "architecture": "unknown"},
            },
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest_of(AMD64_BODY),
                "size": len(AMD64_BODY),
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest_of(ARM64_BODY),
                "size": len(ARM64_BODY),
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
        ],
    }
).encode()


@dataclass
class FakeRegistry:
    """A scripted registry at https://reg.example with a token service at auth.example.

    ``hooks`` may answer a request first (return a Response) to inject a fault.
    """

    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    require_token: bool = False
    realm: str = "https://auth.example/token"
    token_body: dict[str, object] = field(
        default_factory=lambda: {"token": TOKEN, "expires_in": 300}
    )
    head_digest: bool = True
    hooks: list[Callable[[httpx.Request], httpx.Response | None]] = field(default_factory=list)
    seen: list[httpx.Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, repo: str, tag: str, body: bytes, media_type: str = OCI_MANIFEST) -> str:
        self.manifests[(repo, tag)] = (body, media_type)
        self.manifests[(repo, digest_of(body))] = (body, media_type)
        return digest_of(body)

    def token_requests(self) -> list[httpx.Request]:
        return [r for r in self.seen if r.url.path == "/token"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.seen.append(request)
        for hook in self.hooks:
            answer = hook(request)
            if answer is not None:
                return answer
        if request.url.host == "auth.example" and request.url.path == "/token":
            return httpx.Response(200, json=self.token_body)
        if request.url.host != REGISTRY:
            return httpx.Response(404)
        if self.require_token and request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(
                401,
                headers={
                    "WWW-Authenticate": f'Bearer realm="{self.realm}",service="{REGISTRY}",'
                    'scope="repository:app:pull"'
                },
                json={"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
            )
        assert request.headers["accept"] == MANIFEST_ACCEPT
        path = request.url.path
        prefix = "/v2/"
        if not path.startswith(prefix) or "/manifests/" not in path:
            return httpx.Response(404)
        repo, ref = path[len(prefix) :].split("/manifests/", 1)
        found = self.manifests.get((repo, ref))
        if found is None:
            return httpx.Response(
                404, json={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
            )
        body, media_type = found
        headers = {"Content-Type": media_type}
        if request.method == "GET" or self.head_digest:
            headers["Docker-Content-Digest"] = digest_of(body)
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return httpx.Response(200, headers=headers)
        return httpx.Response(200, headers=headers, content=body)


@pytest.fixture
def fake() -> FakeRegistry:
    registry = FakeRegistry()
    registry.add("app", "v1", AMD64_BODY)
    registry.add("app", "multi", INDEX_BODY, OCI_INDEX)
    registry.add("app", digest_of(ARM64_BODY), ARM64_BODY)
    return registry


@pytest.fixture
def client(fake: FakeRegistry) -> Iterator[RegistryClient]:
    # Retries and backoff without wall-clock waits.
    with RegistryClient(
        max_concurrency=4, transport=httpx.MockTransport(fake), sleep=lambda seconds: None
    ) as c:
        yield c


def req(text: str, **kwargs: object) -> ResolveRequest:
    return ResolveRequest(parse_image_reference(text), **kwargs)  # type: ignore[arg-type]


def resolve_error(client: RegistryClient, request: ResolveRequest) -> ResolveError:
    with pytest.raises(ResolveError) as info:
        client.resolve(request)
    # No message may ever carry the token.
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)
    return info.value


# -- happy paths over the mock -------------------------------------------------------------


def test_head_naming_the_pinned_digest_is_used_without_get(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    pinned = digest_of(AMD64_BODY)
    assert client.resolve(req("reg.example/app:v1", known_digest=pinned)) == Resolved(
        pinned, OCI_MANIFEST
    )
    assert [(r.method, r.url.scheme) for r in fake.seen] == [("HEAD", "https")]


def test_a_new_head_digest_is_read_by_digest_before_it_is_answered(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    digest = digest_of(AMD64_BODY)
    assert client.resolve(req("reg.example/app:v1")) == Resolved(digest, OCI_MANIFEST)
    assert [(r.method, r.url.path) for r in fake.seen] == [
        ("HEAD", "/v2/app/manifests/v1"),
        ("GET", f"/v2/app/manifests/{digest}"),
    ]


def test_missing_head_digest_falls_back_to_get_and_hashes_body(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    fake.head_digest = False
    # The GET carries no digest header either: the client must compute sha256 itself.
    fake.hooks.append(
        lambda r: (
            httpx.Response(200, headers={"Content-Type": OCI_MANIFEST}, content=AMD64_BODY)
            if r.method == "GET"
            else None
        )
    )
    assert client.resolve(req("reg.example/app:v1")).digest == digest_of(AMD64_BODY)
    assert [r.method for r in fake.seen] == ["HEAD", "GET"]


def test_index_legacy_preserve_and_platform(fake: FakeRegistry, client: RegistryClient) -> None:
    index = digest_of(INDEX_BODY)
    assert client.resolve(req("reg.example/app:multi")) == Resolved(
        digest_of(AMD64_BODY), OCI_MANIFEST, index
    )
    assert client.resolve(
        req("reg.example/app:multi", platform=Platform("linux", "arm64", "v8"))
    ) == Resolved(digest_of(ARM64_BODY), OCI_MANIFEST, index)
    preserve = client.resolve(req("reg.example/app:multi", import_mode="PreserveOriginal"))
    assert preserve == Resolved(index, OCI_INDEX, None)
    wrong_variant = resolve_error(
        client, req("reg.example/app:multi", platform=Platform("linux", "arm64", "v9"))
    )
    assert wrong_variant.reason == "NoMatchingPlatform"


def test_insecure_uses_http(fake: FakeRegistry, client: RegistryClient) -> None:
    client.resolve(req("reg.example/app:v1", insecure=True))
    assert fake.seen[0].url.scheme == "http"


# -- Bearer tokens --------------------------------------------------------------------------


def test_bearer_challenge_token_fetched_once_for_many_resolves(fake: FakeRegistry) -> None:
    fake.require_token = True
    for i in range(20):
        fake.add("app", f"t{i}", manifest(f"t{i}"))

    def pinned(i: int) -> ResolveRequest:
        return req(f"reg.example/app:t{i}", known_digest=digest_of(manifest(f"t{i}")))

    with RegistryClient(max_concurrency=8, transport=httpx.MockTransport(fake)) as client:
        first = client.resolve(pinned(0))
        assert first.digest == digest_of(manifest("t0"))
        results = client.resolve_many([pinned(i) for i in range(1, 20)])
    assert all(isinstance(v, Resolved) for v in results.values())
    tokens = fake.token_requests()
    assert len(tokens) == 1
    assert tokens[0].url.params["service"] == REGISTRY
    assert tokens[0].url.params["scope"] == "repository:app:pull"
    assert "authorization" not in tokens[0].headers  # anonymous
    # One 401 before the token, then every manifest request carried it.
    registry_requests = [r for r in fake.seen if r.url.host == REGISTRY]
    assert sum(1 for r in registry_requests if "authorization" not in r.headers) == 1
    assert len(registry_requests) == 21


def test_token_fetched_once_under_concurrent_first_use(fake: FakeRegistry) -> None:
    fake.require_token = True
    for i in range(30):
        fake.add("app", f"c{i}", manifest(f"c{i}"))
    # The first four unauthenticated requests are held until all four are in flight, so four
    # threads really do get a 401 at the same time and race for the token.
    barrier = threading.Barrier(4, timeout=10)
    held = [0]

    def hold(r: httpx.Request) -> httpx.Response | None:
        if r.url.host == REGISTRY and "authorization" not in r.headers:
            with fake.lock:
                held[0] += 1
                wait = held[0] <= 4
            if wait:
                barrier.wait()
        return None  # then answer normally (401)

    fake.hooks.append(hold)
    with RegistryClient(max_concurrency=4, transport=httpx.MockTransport(fake)) as client:
        results = client.resolve_many([req(f"reg.example/app:c{i}") for i in range(30)])
    assert all(isinstance(v, Resolved) for v in results.values())
    assert held[0] >= 4
    assert len(fake.token_requests()) == 1


def test_access_token_field_and_expiry_refetch(fake: FakeRegistry) -> None:
    fake.require_token = True
    fake.token_body = {"access_token": TOKEN, "expires_in": 10}  # below the 60 s minimum
    now = [1000.0]
    with RegistryClient(
        max_concurrency=4,
        transport=httpx.MockTransport(fake),
        sleep=lambda seconds: None,
        clock=lambda: now[0],
    ) as client:
        client.resolve(req("reg.example/app:v1"))
        now[0] += 50  # still inside the 60 s floor
        client.resolve(req("reg.example/app:v1"))
        assert len(fake.token_requests()) == 1
        now[0] += 3600
        client.resolve(req("reg.example/app:v1"))
    assert len(fake.token_requests()) == 2


def test_http_realm_refused_for_https_registry(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.require_token = True
    fake.realm = "http://auth.example/token"
    error = resolve_error(client, req("reg.example/app:v1"))
    assert error.reason == "Unauthorized"
    assert "https" in error.message
    assert fake.token_requests() == []


def test_http_realm_allowed_for_insecure_registry(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    fake.require_token = True
    fake.realm = "http://auth.example/token"
    assert client.resolve(req("reg.example/app:v1", insecure=True)).digest == digest_of(AMD64_BODY)


def test_still_unauthorized_after_token(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.require_token = True
    fake.token_body = {"token": "not-the-right-one"}
    error = resolve_error(client, req("reg.example/app:v1"))
    assert error.reason == "Unauthorized"
    assert error.retryable is False
    assert "not-the-right-one" not in str(error)
    assert len(fake.token_requests()) == 1


def test_token_service_failures(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.require_token = True
    fake.hooks.append(lambda r: httpx.Response(503) if r.url.host == "auth.example" else None)
    assert resolve_error(client, req("reg.example/app:v1")).reason == "RegistryUnavailable"
    fake.hooks[:] = [
        lambda r: httpx.Response(200, content=b"<html>") if r.url.host == "auth.example" else None
    ]
    assert resolve_error(client, req("reg.example/app:v1")).reason == "InvalidResponse"


def test_basic_challenge_is_unauthorized(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.hooks.append(
        lambda r: httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="registry"'})
    )
    error = resolve_error(client, req("reg.example/app:v1"))
    assert error.reason == "Unauthorized"
    assert "basic" in error.message


def test_credentials_go_to_the_realm_only(fake: FakeRegistry) -> None:
    fake.require_token = True
    asked: list[str] = []

    def creds(registry: str) -> tuple[str, str]:
        asked.append(registry)
        return ("robot", "hunter2")

    with RegistryClient(transport=httpx.MockTransport(fake), credentials=creds) as client:
        client.resolve(req("reg.example/app:v1"))
    assert asked == [REGISTRY]
    (token_request,) = fake.token_requests()
    assert token_request.headers["authorization"].startswith("Basic ")
    for r in fake.seen:
        if r.url.host == REGISTRY:
            assert not r.headers.get("authorization", "").startswith("Basic")


# -- digests and bodies ----------------------------------------------------------------------


def test_wrong_digest_on_get_refused(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.head_digest = False
    fake.hooks.append(
        lambda r: (
            httpx.Response(
                200,
                headers={
                    "Content-Type": OCI_MANIFEST,
                    "Docker-Content-Digest": digest_of(b"other"),
                },
                content=AMD64_BODY,
            )
            if r.method == "GET"
            else None
        )
    )
    error = resolve_error(client, req("reg.example/app:v1"))
    assert error.reason == "DigestMismatch"
    assert error.retryable is False


def test_index_body_not_matching_its_digest_refused(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    # HEAD says the tag is an index with digest D; GET by D returns other bytes.
    tampered = INDEX_BODY.replace(b"arm64", b"armxx")
    fake.hooks.append(
        lambda r: (
            httpx.Response(200, headers={"Content-Type": OCI_INDEX}, content=tampered)
            if r.method == "GET"
            else None
        )
    )
    assert resolve_error(client, req("reg.example/app:multi")).reason == "DigestMismatch"


def test_digest_reference_answered_with_other_digest(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    wanted = "sha256:" + "1" * 64
    fake.manifests[("app", wanted)] = (AMD64_BODY, OCI_MANIFEST)
    error = resolve_error(client, req(f"reg.example/app@{wanted}"))
    assert error.reason == "DigestMismatch"


def test_oversized_body_refused_by_length_and_by_stream(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    fake.head_digest = False
    big = b"{" + b" " * MAX_MANIFEST_BYTES + b"}"
    fake.hooks.append(
        lambda r: (
            httpx.Response(200, headers={"Content-Type": OCI_MANIFEST}, content=big)
            if r.method == "GET"
            else None
        )
    )
    error = resolve_error(client, req("reg.example/app:v1"))
    assert (error.reason, "limit" in error.message) == ("InvalidResponse", True)

    def chunks() -> Iterator[bytes]:
        # No Content-Length: the cap must hold while streaming.
        for _ in range(MAX_MANIFEST_BYTES // 65536 + 2):
            yield b" " * 65536

    fake.hooks[:] = [
        lambda r: (
            httpx.Response(200, headers={"Content-Type": OCI_MANIFEST}, content=chunks())
            if r.method == "GET"
            else None
        )
    ]
    error = resolve_error(client, req("reg.example/app:v1"))
    assert (error.reason, "limit" in error.message) == ("InvalidResponse", True)


def test_non_json_garbage_is_invalid_response(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.hooks.append(
        lambda r: httpx.Response(
            200, headers={"Content-Type": "text/html"}, content=b"<html>hi</html>"
        )
    )
    assert resolve_error(client, req("reg.example/app:v1")).reason == "InvalidResponse"


def test_index_without_manifests_is_invalid(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.add(
        "app",
        "broken",
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX}).encode(),
        OCI_INDEX,
    )
    assert resolve_error(client, req("reg.example/app:broken")).reason == "InvalidResponse"


def test_schema1_is_unsupported(fake: FakeRegistry, client: RegistryClient) -> None:
    body = json.dumps({"schemaVersion": 1, "name": "app", "tag": "old"}).encode()
    fake.add("app", "old", body, "application/vnd.docker.distribution.manifest.v1+prettyjws")
    assert resolve_error(client, req("reg.example/app:old")).reason == "UnsupportedMediaType"


# -- status codes and transport errors -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "retryable"),
    [
        (500, "RegistryUnavailable", True),
        (503, "RegistryUnavailable", True),
        (429, "TooManyRequests", True),
        (403, "Forbidden", False),
        (404, "NotFound", False),
        (418, "InvalidResponse", False),
    ],
)
def test_status_mapping(
    fake: FakeRegistry, client: RegistryClient, status: int, reason: str, retryable: bool
) -> None:
    fake.hooks.append(lambda r: httpx.Response(status))
    error = resolve_error(client, req("reg.example/app:v1"))
    assert (error.reason, error.retryable, error.registry) == (reason, retryable, REGISTRY)
    assert "reg.example/app" in error.message


def test_missing_tag_not_found(client: RegistryClient) -> None:
    error = resolve_error(client, req("reg.example/app:nope"))
    assert (error.reason, error.retryable) == ("NotFound", False)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ConnectError("connection refused"), "RegistryUnavailable"),
        (httpx.ReadTimeout("read timed out"), "Timeout"),
        (httpx.RemoteProtocolError("peer closed"), "RegistryUnavailable"),
    ],
)
def test_transport_errors(
    fake: FakeRegistry, client: RegistryClient, exc: Exception, reason: str
) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise exc

    fake.hooks.append(boom)
    error = resolve_error(client, req("reg.example/app:v1"))
    assert (error.reason, error.retryable) == (reason, True)


# -- redirects -------------------------------------------------------------------------------


def test_redirect_to_other_host_drops_authorization(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    fake.require_token = True
    body = AMD64_BODY

    def redirect(r: httpx.Request) -> httpx.Response | None:
        if r.url.host == REGISTRY and r.method == "GET" and "authorization" in r.headers:
            return httpx.Response(307, headers={"Location": "https://cdn.example/blob/abc"})
        if r.url.host == "cdn.example":
            return httpx.Response(200, headers={"Content-Type": OCI_MANIFEST}, content=body)
        return None

    fake.head_digest = False
    fake.hooks.append(redirect)
    assert client.resolve(req("reg.example/app:v1")).digest == digest_of(body)
    cdn = [r for r in fake.seen if r.url.host == "cdn.example"]
    assert len(cdn) == 1
    assert "authorization" not in cdn[0].headers
    # The request that was redirected did carry the token (so the redirect is the only reason
    # the CDN request lacks it).
    assert any(r.url.host == REGISTRY and "authorization" in r.headers for r in fake.seen)


def test_same_host_redirect_keeps_authorization(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.require_token = True

    def redirect(r: httpx.Request) -> httpx.Response | None:
        if (
            r.url.path == "/v2/app/manifests/v1"
            and r.method == "HEAD"
            and "authorization" in r.headers
        ):
            return httpx.Response(
                301, headers={"Location": "/v2/app/manifests/" + digest_of(AMD64_BODY)}
            )
        return None

    fake.hooks.append(redirect)
    assert client.resolve(req("reg.example/app:v1")).digest == digest_of(AMD64_BODY)
    last = fake.seen[-1]
    assert last.url.path.endswith(digest_of(AMD64_BODY))
    assert last.headers["authorization"] == f"Bearer {TOKEN}"


def test_redirect_loop_and_downgrade_refused(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.hooks.append(lambda r: httpx.Response(302, headers={"Location": str(r.url)}))
    error = resolve_error(client, req("reg.example/app:v1"))
    assert (error.reason, "redirects" in error.message) == ("InvalidResponse", True)
    assert len(fake.seen) == 4  # the request plus three redirects followed

    fake.hooks[:] = [lambda r: httpx.Response(302, headers={"Location": "http://reg.example/x"})]
    error = resolve_error(client, req("reg.example/app:v1"))
    assert error.reason == "InvalidResponse"
    assert all(r.url.scheme == "https" for r in fake.seen)


# -- request validation and resolve_many ------------------------------------------------------


def test_bad_requests(client: RegistryClient) -> None:
    assert resolve_error(client, req("app:v1")).reason == "BadRequest"  # unqualified
    assert resolve_error(client, req("reg.example/app")).reason == "BadRequest"  # no tag
    assert (
        resolve_error(client, req("reg.example/app:v1", import_mode="Bogus")).reason == "BadRequest"
    )


def test_resolve_many_mixes_results_and_errors(client: RegistryClient) -> None:
    good = req("reg.example/app:v1")
    bad = req("reg.example/app:missing")
    results = client.resolve_many([good, bad, good])
    assert set(results) == {good, bad}
    assert results[good] == Resolved(digest_of(AMD64_BODY), OCI_MANIFEST)
    outcome = results[bad]
    assert isinstance(outcome, ResolveError) and outcome.reason == "NotFound"
    assert client.resolve_many([]) == {}
