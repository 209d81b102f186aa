"""A new digest is read before it is pinned (issue 10, item 7).

A HEAD's ``Docker-Content-Digest`` is a claim. Unless it names the digest the tag has
pinned already, the manifest is fetched by that digest, its bytes are checked against it,
and it is parsed as a manifest or index of a known media type; only then is it answered.
So a lying registry cannot get an un-pullable digest or an unparseable manifest into the
lock, and a pass where nothing changed still costs one HEAD per tag.

The lies come from registries scripted with ``httpx.MockTransport`` (the fake of
``test_registry_faults``, and a proxy in front of the real ``docker-registry`` that changes
one answer); the request counts come from the real registry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from git_fixtures import GitRemote
from test_reconcile_integration import NS, lock_of, run, stream
from test_registry_faults import (
    AMD64_BODY,
    INDEX_BODY,
    FakeRegistry,
    digest_of,
    req,
    resolve_error,
)

from reconciler.core.platforms import Platform
from reconciler.core.references import parse_image_reference
from reconciler.core.streams import TagRef
from reconciler.registry.client import RegistryClient
from reconciler.registry.media_types import OCI_INDEX, OCI_MANIFEST
from reconciler.registry.models import ResolveRequest
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

MakeRemote = Callable[[Mapping[str, str]], GitRemote]
NOWHERE = digest_of(b"no such manifest")


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


def lying_head(digest: str, media_type: str = OCI_MANIFEST) -> Callable[[httpx.Request], object]:
    def hook(request: httpx.Request) -> httpx.Response | None:
        if request.method == "HEAD" and request.url.path.endswith("/manifests/v1"):
            return httpx.Response(
                200, headers={"Content-Type": media_type, "Docker-Content-Digest": digest}
            )
        return None

    return hook


# -- lies a HEAD can tell, against the scripted registry -----------------------------------------


def test_a_head_digest_that_does_not_match_the_body_is_refused(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    # HEAD names a digest; GET by that digest answers the tag's real bytes.
    lie = digest_of(b"not the manifest")
    fake.manifests[("app", lie)] = (AMD64_BODY, OCI_MANIFEST)
    fake.head_digest = False  # the GET carries no header, so only our own hash can tell
    fake.hooks.append(lying_head(lie))
    error = resolve_error(client, req("reg.example/app:v1"))
    assert (error.reason, error.retryable) == ("DigestMismatch", False)
    assert lie in error.message
    assert [(r.method, r.url.path) for r in fake.seen] == [
        ("HEAD", "/v2/app/manifests/v1"),
        ("GET", f"/v2/app/manifests/{lie}"),
    ]


def test_a_head_digest_of_nothing_is_refused(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.hooks.append(lying_head(NOWHERE))
    error = resolve_error(client, req("reg.example/app:v1"))
    assert error.reason == "NotFound"


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01 not json",
        b"[]",
        json.dumps({"mediaType": OCI_MANIFEST}).encode(),  # a type and nothing else
        json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode(),
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "x", "digest": "sha256:short", "size": 1},
                "layers": [],
            }
        ).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{}]}).encode(),
    ],
    ids=["binary", "json-array", "type-only", "no-config", "bad-config-digest", "bad-entry"],
)
def test_a_garbage_manifest_is_refused_even_with_an_honest_digest(
    fake: FakeRegistry, client: RegistryClient, garbage: bytes
) -> None:
    honest = fake.add("app", "v1", garbage, OCI_MANIFEST)
    error = resolve_error(client, req("reg.example/app:v1", import_mode="PreserveOriginal"))
    assert error.reason == "InvalidResponse", error
    assert [r.method for r in fake.seen] == ["HEAD", "GET"]
    assert fake.seen[1].url.path.endswith(honest)


def test_a_legacy_platform_child_is_read_before_it_is_pinned(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    # The index is honest, the child it names for linux/amd64 is not there.
    fake.add("app", "multi", INDEX_BODY, OCI_INDEX)
    child = digest_of(AMD64_BODY)
    del fake.manifests[("app", child)]
    error = resolve_error(client, req("reg.example/app:multi"))
    assert error.reason == "NotFound"
    assert fake.seen[-1].url.path == f"/v2/app/manifests/{child}"


def test_a_legacy_child_that_is_an_index_is_refused(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    fake.add("app", "multi", INDEX_BODY, OCI_INDEX)
    child = digest_of(AMD64_BODY)
    fake.manifests[("app", child)] = (INDEX_BODY, OCI_INDEX)  # and its bytes do not match
    assert resolve_error(client, req("reg.example/app:multi")).reason == "DigestMismatch"


def test_the_pinned_digest_is_confirmed_by_head_alone(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    pinned = digest_of(AMD64_BODY)
    assert client.resolve(req("reg.example/app:v1", known_digest=pinned)).digest == pinned
    assert [r.method for r in fake.seen] == ["HEAD"]
    # Another pinned digest is no excuse: the new one is read.
    other = digest_of(b"older")
    assert client.resolve(req("reg.example/app:v1", known_digest=other)).digest == pinned
    assert [r.method for r in fake.seen] == ["HEAD", "HEAD", "GET"]


# -- request counts against the real registry -------------------------------------------------


class Counting(httpx.BaseTransport):
    """The real transport, with a note of each request line."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.seen: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def counting() -> Iterator[tuple[RegistryClient, Counting]]:
    transport = Counting()
    with RegistryClient(max_concurrency=2, transport=transport) as c:
        yield c, transport


def real(registry: LocalRegistry, repo: str, tag: str, **kwargs: object) -> ResolveRequest:
    reference = parse_image_reference(f"{registry.host}/{repo}:{tag}")
    return ResolveRequest(reference, insecure=True, **kwargs)  # type: ignore[arg-type]


def test_real_registry_new_digest_is_one_head_and_one_get(
    local_registry: LocalRegistry, unique_repo: str, counting: tuple[RegistryClient, Counting]
) -> None:
    client, transport = counting
    digest = push_image(local_registry.url, unique_repo, "v1", seed="read-1")
    assert client.resolve(real(local_registry, unique_repo, "v1")).digest == digest
    assert transport.seen == [
        ("HEAD", f"/v2/{unique_repo}/manifests/v1"),
        ("GET", f"/v2/{unique_repo}/manifests/{digest}"),
    ]


def test_real_registry_unchanged_digest_is_one_head(
    local_registry: LocalRegistry, unique_repo: str, counting: tuple[RegistryClient, Counting]
) -> None:
    client, transport = counting
    digest = push_image(local_registry.url, unique_repo, "v1", seed="read-2")
    resolved = client.resolve(real(local_registry, unique_repo, "v1", known_digest=digest))
    assert resolved.digest == digest
    assert transport.seen == [("HEAD", f"/v2/{unique_repo}/manifests/v1")]


def test_real_registry_legacy_index(
    local_registry: LocalRegistry, unique_repo: str, counting: tuple[RegistryClient, Counting]
) -> None:
    client, transport = counting
    index = push_image(
        local_registry.url,
        unique_repo,
        "multi",
        seed="read-3",
        platforms=[Platform("linux", "amd64"), Platform("linux", "arm64", "v8")],
    )
    first = client.resolve(real(local_registry, unique_repo, "multi"))
    assert first.index_digest == index
    # New: HEAD, the index by digest, the chosen child by digest.
    assert transport.seen == [
        ("HEAD", f"/v2/{unique_repo}/manifests/multi"),
        ("GET", f"/v2/{unique_repo}/manifests/{index}"),
        ("GET", f"/v2/{unique_repo}/manifests/{first.digest}"),
    ]
    transport.seen.clear()
    # Pinned: the index is read to choose the child (as before), the child is not again.
    again = client.resolve(real(local_registry, unique_repo, "multi", known_digest=first.digest))
    assert again == first
    assert transport.seen == [
        ("HEAD", f"/v2/{unique_repo}/manifests/multi"),
        ("GET", f"/v2/{unique_repo}/manifests/{index}"),
    ]


# -- the whole pass: a lie becomes a condition, the last good digest stays ---------------------


class LyingProxy(httpx.BaseTransport):
    """The real registry, except that the manifest HEAD of any tag tells ``lie``:

    - ``nowhere``: names a digest the registry does not have (un-pullable);
    - ``other-bytes``: names a digest, and GET by it answers the tag's real bytes;
    - ``garbage``: names the honest digest of a body that is no manifest, and serves it.
    """

    GARBAGE = json.dumps({"mediaType": OCI_MANIFEST, "note": "proxy error"}).encode()

    def __init__(self, lie: str) -> None:
        self.lie = lie
        self.claim = {
            "nowhere": NOWHERE,
            "other-bytes": digest_of(b"x"),
            "garbage": digest_of(self.GARBAGE),
        }[lie]
        self.upstream = httpx.HTTPTransport()
        self.tag_urls: dict[str, httpx.URL] = {}

    def forward(self, request: httpx.Request) -> httpx.Response:
        answer = self.upstream.handle_request(request)
        try:
            body = answer.read()
        finally:
            answer.close()
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        repo, _, ref = request.url.path.partition("/manifests/")
        if not ref:
            return self.forward(request)
        if not ref.startswith("sha256:"):
            self.tag_urls[repo] = request.url
            if request.method == "HEAD":
                headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": self.claim}
                return httpx.Response(200, headers=headers)
            return self.forward(request)
        if ref == self.claim and self.lie == "other-bytes":
            tag = httpx.Request("GET", self.tag_urls[repo], headers=request.headers)
            content = self.forward(tag).content
            return httpx.Response(200, headers={"Content-Type": OCI_MANIFEST}, content=content)
        if ref == self.claim and self.lie == "garbage":
            return httpx.Response(200, headers={"Content-Type": OCI_MANIFEST}, content=self.GARBAGE)
        return self.forward(request)

    def close(self) -> None:
        self.upstream.close()


@pytest.mark.parametrize(
    ("lie", "reason"),
    [("nowhere", "NotFound"), ("other-bytes", "DigestMismatch"), ("garbage", "InvalidResponse")],
)
def test_a_lying_registry_never_reaches_the_lock(
    fresh_registry: LocalRegistry,
    make_remote: MakeRemote,
    tmp_path: Path,
    lie: str,
    reason: str,
) -> None:
    host = fresh_registry.host
    good = push_image(fresh_registry.url, "lie/app", "latest", seed="lie-1")
    remote = make_remote(
        {"s.yaml": stream("s", {"latest": f"{host}/lie/app:latest"}, scheduled={"latest"})}
    )
    run(remote, tmp_path)
    ref = TagRef(NS, "s", "latest")
    before = lock_of(remote).get(ref)
    assert before is not None and before.digest == good

    # The tag moves; the registry then lies about where to.
    push_image(fresh_registry.url, "lie/app", "latest", seed="lie-2")
    with RegistryClient(transport=LyingProxy(lie), max_concurrency=2) as client:
        result = run(remote, tmp_path, client=client)
    after = lock_of(remote).get(ref)
    assert after is not None
    assert after.digest == good and after.image == before.image
    assert after.history == before.history
    assert after.condition is not None and after.condition.reason == reason
    assert ref in result.plan.failures
