"""RegistryClient against a real docker-registry, cross-checked with skopeo and with what the
test pushed (testsupport.images)."""

from __future__ import annotations

import hashlib
import json
import ssl
import subprocess

import httpx
import pytest

from reconciler.core.platforms import Platform
from reconciler.core.references import parse_image_reference
from reconciler.registry.client import RegistryClient
from reconciler.registry.errors import ResolveError
from reconciler.registry.media_types import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
)
from reconciler.registry.models import Resolved, ResolveRequest
from testsupport.images import manifest_digest, push_image, push_tags
from testsupport.registry import LocalRegistry

# Fixtures (local_registry, fresh_registry, registry_client, unique_repo) come from
# tests/registry_fixtures.py. Registering it as a plugin by module name is idempotent, so this
# module runs on its own and shares one session registry with tests/conftest.py doing the same.
pytest_plugins = ["registry_fixtures"]
pytestmark = pytest.mark.integration

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")
ARMV7 = Platform("linux", "arm", "v7")
ARMV6 = Platform("linux", "arm", "v6")


def request(
    registry: LocalRegistry,
    repo: str,
    ref: str,
    *,
    insecure: bool = True,
    import_mode: str = "Legacy",
    platform: Platform = AMD64,
) -> ResolveRequest:
    sep = "@" if ref.startswith("sha256:") else ":"
    reference = parse_image_reference(f"{registry.host}/{repo}{sep}{ref}")
    return ResolveRequest(reference, insecure=insecure, import_mode=import_mode, platform=platform)


def skopeo_raw(registry: LocalRegistry, repo: str, ref: str) -> bytes:
    sep = "@" if ref.startswith("sha256:") else ":"
    result = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=false",
            f"docker://{registry.host}/{repo}{sep}{ref}",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_single_platform_tag_resolves_to_registry_digest(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    pushed = push_image(local_registry.url, unique_repo, "v1", seed="single")
    resolved = registry_client.resolve(request(local_registry, unique_repo, "v1"))
    assert resolved == Resolved(digest=pushed, media_type=OCI_MANIFEST, index_digest=None)
    assert resolved.digest == manifest_digest(local_registry.url, unique_repo, "v1")
    assert resolved.digest == sha256(skopeo_raw(local_registry, unique_repo, "v1"))


def test_docker_schema2_and_seed_determinism(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    a = push_image(local_registry.url, unique_repo, "a", seed="s1", media_type=DOCKER_MANIFEST_V2)
    b = push_image(local_registry.url, unique_repo, "b", seed="s1", media_type=DOCKER_MANIFEST_V2)
    c = push_image(local_registry.url, unique_repo, "c", seed="s2", media_type=DOCKER_MANIFEST_V2)
    assert a == b != c
    resolved = registry_client.resolve(request(local_registry, unique_repo, "c"))
    assert resolved == Resolved(digest=c, media_type=DOCKER_MANIFEST_V2)


def test_oci_index_modes_and_platforms_match_skopeo(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    index_digest = push_image(
        local_registry.url, unique_repo, "multi", seed="idx", platforms=[AMD64, ARM64]
    )
    raw_index = skopeo_raw(local_registry, unique_repo, "multi")
    assert sha256(raw_index) == index_digest
    children = {
        (m["platform"]["architecture"]): m["digest"] for m in json.loads(raw_index)["manifests"]
    }
    assert len(set(children.values())) == 2
    for child in children.values():
        # skopeo fetches the child by digest; its bytes must hash to that digest.
        assert sha256(skopeo_raw(local_registry, unique_repo, child)) == child

    legacy = registry_client.resolve(request(local_registry, unique_repo, "multi"))
    assert legacy == Resolved(children["amd64"], OCI_MANIFEST, index_digest)

    arm = registry_client.resolve(
        request(local_registry, unique_repo, "multi", platform=Platform("linux", "arm64"))
    )
    assert arm == Resolved(children["arm64"], OCI_MANIFEST, index_digest)

    preserve = registry_client.resolve(
        request(local_registry, unique_repo, "multi", import_mode="PreserveOriginal")
    )
    assert preserve == Resolved(index_digest, OCI_INDEX, None)


def test_docker_manifest_list_variant_selection(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    list_digest = push_image(
        local_registry.url,
        unique_repo,
        "arm",
        seed="variants",
        media_type=DOCKER_MANIFEST_V2,
        platforms=[ARMV6, ARMV7, AMD64],
    )
    entries = json.loads(skopeo_raw(local_registry, unique_repo, "arm"))["manifests"]
    by_variant = {m["platform"].get("variant"): m["digest"] for m in entries}

    v7 = registry_client.resolve(request(local_registry, unique_repo, "arm", platform=ARMV7))
    v6 = registry_client.resolve(request(local_registry, unique_repo, "arm", platform=ARMV6))
    assert v7 == Resolved(by_variant["v7"], DOCKER_MANIFEST_V2, list_digest)
    assert v6 == Resolved(by_variant["v6"], DOCKER_MANIFEST_V2, list_digest)

    preserve = registry_client.resolve(
        request(local_registry, unique_repo, "arm", import_mode="PreserveOriginal")
    )
    assert preserve == Resolved(list_digest, DOCKER_MANIFEST_LIST, None)

    with pytest.raises(ResolveError) as info:
        registry_client.resolve(
            request(local_registry, unique_repo, "arm", platform=Platform("linux", "s390x"))
        )
    assert info.value.reason == "NoMatchingPlatform"
    assert info.value.retryable is False
    assert "linux/arm/v7" in info.value.message


def test_resolve_by_digest(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    digest = push_image(local_registry.url, unique_repo, "v1", seed="bydigest")
    resolved = registry_client.resolve(request(local_registry, unique_repo, digest))
    assert resolved.digest == digest
    missing = "sha256:" + "0" * 64
    with pytest.raises(ResolveError) as info:
        registry_client.resolve(request(local_registry, unique_repo, missing))
    assert info.value.reason == "NotFound"


def test_tag_move_is_seen(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    first = push_image(local_registry.url, unique_repo, "latest", seed="one")
    assert registry_client.resolve(request(local_registry, unique_repo, "latest")).digest == first
    second = push_image(local_registry.url, unique_repo, "latest", seed="two")
    assert second != first
    assert registry_client.resolve(request(local_registry, unique_repo, "latest")).digest == second


def test_missing_tag_and_repo_are_not_found(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    push_image(local_registry.url, unique_repo, "v1", seed="nf")
    for repo, tag in ((unique_repo, "nope"), (unique_repo + "-absent", "v1")):
        with pytest.raises(ResolveError) as info:
            registry_client.resolve(request(local_registry, repo, tag))
        assert info.value.reason == "NotFound"
        assert info.value.retryable is False
        assert info.value.registry == local_registry.host
        assert repo in info.value.message


def test_stopped_registry_is_unavailable_then_recovers(
    fresh_registry: LocalRegistry, registry_client: RegistryClient
) -> None:
    pushed = push_image(fresh_registry.url, "app", "v1", seed="stop")
    req = request(fresh_registry, "app", "v1")
    assert registry_client.resolve(req).digest == pushed
    fresh_registry.stop()
    with pytest.raises(ResolveError) as info:
        registry_client.resolve(req)
    assert info.value.reason == "RegistryUnavailable"
    assert info.value.retryable is True
    assert fresh_registry.host in info.value.message
    # Same storage, same port: the retry the error invited now succeeds.
    fresh_registry.start()
    assert registry_client.resolve(req).digest == pushed


def test_resolve_many_fifty_tags(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    tags = [f"t{i}" for i in range(50)]
    pushed = push_tags(local_registry.url, unique_repo, tags, "many")
    assert len(set(pushed.values())) == 50
    requests = [request(local_registry, unique_repo, tag) for tag in tags]
    missing = request(local_registry, unique_repo, "missing")
    # A duplicate is resolved once and reported once.
    results = registry_client.resolve_many([*requests, requests[0], missing])
    assert len(results) == 51
    for tag, req in zip(tags, requests, strict=True):
        outcome = results[req]
        assert isinstance(outcome, Resolved), outcome
        assert outcome.digest == pushed[tag]
    failure = results[missing]
    assert isinstance(failure, ResolveError)
    assert failure.reason == "NotFound"


def test_insecure_false_uses_https_and_fails_against_plain_http(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    push_image(local_registry.url, unique_repo, "v1", seed="tls")
    req = request(local_registry, unique_repo, "v1", insecure=False)
    with pytest.raises(ResolveError) as info:
        registry_client.resolve(req)
    # The plain-http registry cannot complete a TLS handshake: a transport-level failure.
    assert info.value.reason == "RegistryUnavailable"


def test_https_registry_with_trusted_ca(tls_registry: LocalRegistry, unique_repo: str) -> None:
    ca = tls_registry.tls_certificate
    assert ca is not None and tls_registry.url.startswith("https://")
    with httpx.Client(verify=ssl_context(ca)) as http:
        pushed = push_image(tls_registry.url, unique_repo, "v1", seed="tls", client=http)
    with RegistryClient(verify=str(ca)) as client:
        resolved = client.resolve(request(tls_registry, unique_repo, "v1", insecure=False))
    assert resolved.digest == pushed


def test_https_registry_untrusted_certificate(
    tls_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    with pytest.raises(ResolveError) as info:
        registry_client.resolve(request(tls_registry, unique_repo, "v1", insecure=False))
    assert info.value.reason == "TLSVerificationFailed"
    assert info.value.retryable is False
    assert "insecure" in info.value.message


def ssl_context(ca: object) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))
