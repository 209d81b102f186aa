"""Tag listing, image config blobs and prefer-arch platform choice against the real
docker-registry (cross-checked with skopeo where it has an opinion)."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from reconciler.core.platforms import (
    PREFER_ARCH_ANNOTATION,
    PREFER_OS_ANNOTATION,
    Platform,
    platform_for,
)
from reconciler.core.references import parse_image_reference
from reconciler.registry.client import RegistryClient
from reconciler.registry.models import ResolveRequest
from testsupport.images import push_image, push_tags
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration


def test_list_tags(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    tags = [f"v{i:02d}" for i in range(7)]
    push_tags(local_registry.url, unique_repo, tags, "tags")
    ref = parse_image_reference(f"{local_registry.host}/{unique_repo}")
    # docker-registry 2.8 ignores n for tag lists and answers one page, in no particular
    # order (Link pagination itself is exercised against the scripted registry in
    # test_registry_limits); the client must accept both.
    assert sorted(registry_client.list_tags(ref, insecure=True, page_size=3)) == tags
    assert len(registry_client.list_tags(ref, insecure=True, limit=4)) == 4
    assert sorted(registry_client.list_tags(ref, insecure=True)) == tags


def test_image_config_labels_ports_created(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    digest = push_image(
        local_registry.url,
        unique_repo,
        "web",
        seed="cfg",
        exposed_ports=["8080/tcp", "8443/tcp"],
        labels={"io.openshift.expose-services": "8080:http"},
        platforms=[Platform("linux", "amd64"), Platform("linux", "arm64", "v8")],
    )
    ref = parse_image_reference(f"{local_registry.host}/{unique_repo}:web")
    config = registry_client.image_config(
        ResolveRequest(ref, insecure=True, platform=Platform("linux", "arm64", "v8"))
    )
    assert config.labels == {"io.openshift.expose-services": "8080:http"}
    assert config.exposed_ports == ("8080/tcp", "8443/tcp")
    assert (config.os, config.architecture, config.variant) == ("linux", "arm64", "v8")
    assert config.digest != digest  # the arm64 child, not the index
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false",
         f"docker://{local_registry.host}/{unique_repo}@{config.digest}"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert json.loads(raw)["config"]["digest"] == config.config_digest
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == config.digest


def test_prefer_arch_annotation_pins_that_child(
    local_registry: LocalRegistry, unique_repo: str
) -> None:
    platforms = [Platform("linux", "amd64"), Platform("linux", "arm64", "v8")]
    push_image(local_registry.url, unique_repo, "multi", seed="pref", platforms=platforms)
    ref = parse_image_reference(f"{local_registry.host}/{unique_repo}:multi")
    platform = platform_for({PREFER_ARCH_ANNOTATION: "arm64/v8"}, Platform())
    with RegistryClient() as client:
        pinned = client.resolve(ResolveRequest(ref, insecure=True, platform=platform))
    skopeo = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", "--override-arch", "arm64",
         "--override-variant", "v8", f"docker://{local_registry.host}/{unique_repo}:multi"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    index = json.loads(skopeo)
    arm = [m for m in index["manifests"] if m["platform"]["architecture"] == "arm64"]
    assert pinned.digest == arm[0]["digest"]


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        (None, Platform("linux", "amd64")),
        ({PREFER_ARCH_ANNOTATION: "arm64"}, Platform("linux", "arm64")),
        ({PREFER_ARCH_ANNOTATION: "arm/v7"}, Platform("linux", "arm", "v7")),
        ({PREFER_OS_ANNOTATION: "windows"}, Platform("windows", "amd64")),
        (
            {PREFER_OS_ANNOTATION: "linux", PREFER_ARCH_ANNOTATION: "s390x"},
            Platform("linux", "s390x"),
        ),
    ],
)
def test_platform_for(annotations: dict[str, str] | None, expected: Platform) -> None:
    assert platform_for(annotations, Platform()) == expected


@pytest.mark.parametrize("bad", ["arm64/v8/x", "ARM 64", ""])
def test_platform_for_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError, match="prefer-arch"):
        platform_for({PREFER_ARCH_ANNOTATION: bad}, Platform())
