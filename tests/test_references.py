"""Table-driven tests for reconciler.core.references (pure grammar, no I/O)."""

from __future__ import annotations

import pytest

from reconciler.core.references import (
    ImageReference,
    InvalidReference,
    candidates,
    parse_image_reference,
    registry_endpoint_host,
)

D = "sha256:" + "ab" * 32

VALID: list[tuple[str, ImageReference, str]] = [
    # text, parsed, canonical str()
    ("nginx", ImageReference(None, "nginx"), "nginx"),
    ("nginx:1.25", ImageReference(None, "nginx", "1.25"), "nginx:1.25"),
    ("bitnami/apache:2.4", ImageReference(None, "bitnami/apache", "2.4"), "bitnami/apache:2.4"),
    (
        "docker.io/nginx",
        ImageReference("docker.io", "library/nginx"),
        "docker.io/library/nginx",
    ),
    (
        "index.docker.io/bitnami/apache:2.4",
        ImageReference("docker.io", "bitnami/apache", "2.4"),
        "docker.io/bitnami/apache:2.4",
    ),
    (
        "localhost:5000/x",
        ImageReference("localhost:5000", "x"),
        "localhost:5000/x",
    ),
    ("localhost/x:t", ImageReference("localhost", "x", "t"), "localhost/x:t"),
    (
        "quay.io/org/sub/repo:v1@" + D,
        ImageReference("quay.io", "org/sub/repo", "v1", D),
        "quay.io/org/sub/repo:v1@" + D,
    ),
    ("repo@" + D, ImageReference(None, "repo", None, D), "repo@" + D),
    (
        "127.0.0.1:5000/a/b:latest",
        ImageReference("127.0.0.1:5000", "a/b", "latest"),
        "127.0.0.1:5000/a/b:latest",
    ),
    (
        "Registry.Example.COM/app",
        ImageReference("registry.example.com", "app"),
        "registry.example.com/app",
    ),
    (
        "a/b__c/d-e.f_g:T_1.x-y",
        ImageReference(None, "a/b__c/d-e.f_g", "T_1.x-y"),
        "a/b__c/d-e.f_g:T_1.x-y",
    ),
    ("a--b", ImageReference(None, "a--b"), "a--b"),
    ("x:" + "t" * 128, ImageReference(None, "x", "t" * 128), "x:" + "t" * 128),
    ("[::1]:5000/x", ImageReference("[::1]:5000", "x"), "[::1]:5000/x"),
]


@pytest.mark.parametrize(("text", "expected", "canonical"), VALID, ids=[v[0][:40] for v in VALID])
def test_parse_valid(text: str, expected: ImageReference, canonical: str) -> None:
    ref = parse_image_reference(text)
    assert ref == expected
    assert str(ref) == canonical
    # Canonical text parses back to the same reference.
    assert parse_image_reference(str(ref)) == ref


INVALID: list[tuple[str, str]] = [
    ("", "empty"),
    (" nginx", "whitespace"),
    ("Nginx", "lowercase"),
    ("bitnami/Apache:2.4", "lowercase"),
    ("quay.io/Org/repo", "lowercase"),
    ("x:" + "t" * 129, "tag"),
    ("x:", "tag"),
    ("x:.bad", "tag"),
    ("x:-bad", "tag"),
    ("repo@sha256:abc", "digest"),
    ("repo@sha256:" + "AB" * 32, "digest"),
    ("repo@md5:" + "ab" * 16, "digest"),
    ("repo@" + D + "x", "digest"),
    ("a//b", "path component"),
    ("a/b/", "path component"),
    ("-a", "path component"),
    ("a_", "path component"),
    ("a...b", "path component"),
    ("bad_host.io:x/repo", "registry host"),
    ("-host.io/repo", "registry host"),
    ("localhost:5000/", "path component"),
    (":tag", "missing repository"),
    ("@" + D, "missing repository"),
    ("a" * 256, "255"),
]


@pytest.mark.parametrize(("text", "fragment"), INVALID, ids=[v[0][:40] or "empty" for v in INVALID])
def test_parse_invalid(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_image_reference(text)
    assert fragment in str(info.value)


def test_invalid_reference_is_value_error() -> None:
    assert issubclass(InvalidReference, ValueError)


@pytest.mark.parametrize(
    ("text", "registry", "expected"),
    [
        ("nginx:1", "docker.io", "docker.io/library/nginx:1"),
        ("bitnami/apache:2.4", "docker.io", "docker.io/bitnami/apache:2.4"),
        ("nginx:1", "quay.io", "quay.io/nginx:1"),
        ("nginx:1", "index.docker.io", "docker.io/library/nginx:1"),
        ("nginx", "localhost:5000", "localhost:5000/nginx"),
    ],
)
def test_qualified(text: str, registry: str, expected: str) -> None:
    assert str(parse_image_reference(text).qualified(registry)) == expected


def test_with_digest_drops_tag_keeps_name() -> None:
    ref = parse_image_reference("quay.io/org/app:v1")
    pinned = ref.with_digest(D)
    assert pinned == ImageReference("quay.io", "org/app", None, D)
    assert str(pinned) == f"quay.io/org/app@{D}"
    with pytest.raises(InvalidReference):
        ref.with_digest("sha256:nothex")


def test_candidates_in_search_order_and_deduplicated() -> None:
    ref = parse_image_reference("nginx:1.25")
    got = candidates(ref, ["docker.io", "quay.io", "index.docker.io", "registry.local:5000"])
    assert [str(c) for c in got] == [
        "docker.io/library/nginx:1.25",
        "quay.io/nginx:1.25",
        "registry.local:5000/nginx:1.25",
    ]


def test_candidates_qualified_is_itself() -> None:
    ref = parse_image_reference("quay.io/org/app:v1")
    assert candidates(ref, ["docker.io", "quay.io"]) == [ref]


def test_candidates_empty_search_list() -> None:
    assert candidates(parse_image_reference("nginx"), []) == []


@pytest.mark.parametrize(
    ("registry", "host"),
    [
        ("docker.io", "registry-1.docker.io"),
        ("index.docker.io", "registry-1.docker.io"),
        ("quay.io", "quay.io"),
        ("localhost:5000", "localhost:5000"),
    ],
)
def test_registry_endpoint_host(registry: str, host: str) -> None:
    assert registry_endpoint_host(registry) == host


def test_references_are_hashable_values() -> None:
    a = parse_image_reference("quay.io/x:1")
    b = parse_image_reference("quay.io/x:1")
    assert a == b
    assert len({a, b}) == 1
