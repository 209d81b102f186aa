"""registries.conf completeness (wildcard mirrors, mirror-by-digest-only, pull-from-mirror,
short-name-mode, credential-helpers, drop-ins, v1 refused, scheme-less locations, aliases
fully qualified) and allowedRegistriesForImport as a pure check and in resolve_imports."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from reconciler.core.plan import Failure, ImportRequest, Resolution
from reconciler.core.references import parse_image_reference, registry_endpoint_host
from reconciler.core.registries import (
    RegistriesConfError,
    allowed_candidates,
    check_import_allowed,
    parse_allowed_registries,
    parse_registries_conf,
    parse_registries_conf_files,
)
from reconciler.core.streams import TagRef
from reconciler.registry.client import Platform, Resolved, ResolveError, ResolveRequest
from reconciler.registry.resolver import resolve_imports

DIGEST = "sha256:" + "b" * 64


def ref(text: str):  # type: ignore[no-untyped-def]
    return parse_image_reference(text)


def endpoints(conf_text: str, name: str) -> list[tuple[str, bool, bool]]:
    conf = parse_registries_conf(conf_text)
    return [(str(e.reference), e.insecure, e.mirror) for e in conf.endpoints(ref(name))]


WILDCARD = """
[[registry]]
prefix = "*.corp.example"

[[registry.mirror]]
location = "mirror.local/corp"
insecure = true
"""


def test_wildcard_prefix_mirror_replaces_the_host() -> None:
    assert endpoints(WILDCARD, "git.corp.example/t/a:1") == [
        ("mirror.local/corp/t/a:1", True, True),
        ("git.corp.example/t/a:1", False, False),
    ]
    assert endpoints(WILDCARD, "corp.example/t/a:1") == [("corp.example/t/a:1", False, False)]


DIGEST_ONLY = """
[[registry]]
prefix = "quay.io/org"
mirror-by-digest-only = true

[[registry.mirror]]
location = "mirror-a.local/org"

[[registry.mirror]]
location = "mirror-b.local/org"
pull-from-mirror = "tag-only"
"""


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("quay.io/org/app:1", ["mirror-b.local/org/app:1", "quay.io/org/app:1"]),
        (
            f"quay.io/org/app@{DIGEST}",
            [f"mirror-a.local/org/app@{DIGEST}", f"quay.io/org/app@{DIGEST}"],
        ),
    ],
)
def test_mirror_by_digest_only_and_pull_from_mirror(name: str, expected: list[str]) -> None:
    assert [e[0] for e in endpoints(DIGEST_ONLY, name)] == expected


def test_top_level_settings_recorded() -> None:
    conf = parse_registries_conf(
        'short-name-mode = "enforcing"\ncredential-helpers = ["containers-auth.json", "ecr"]\n'
    )
    assert conf.short_name_mode == "enforcing"
    assert conf.credential_helpers == ("containers-auth.json", "ecr")
    assert conf.search == ("docker.io",)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[registries.search]\nregistries = ["docker.io"]\n', "v1 format"),
        ('short-name-mode = "sometimes"\n', "short-name-mode must be one of"),
        ('[[registry]]\nlocation = "https://quay.io"\n', "must not have a scheme"),
        ('[[registry]]\nprefix = "*.x.io"\nlocation = "y.io"\n', "cannot have a location"),
        (
            '[[registry]]\nprefix = "a.io"\n[[registry.mirror]]\nlocation = "m.io"\n'
            'pull-from-mirror = "never"\n',
            "pull-from-mirror must be one of",
        ),
        ('[aliases]\nweb = "web:latest"\n', "must be a fully qualified name"),
        ('unqualified-search-registries = ["quay.io/org"]\n', "is not a registry host"),
        ('credential-helpers = "x"\n', "credential-helpers must be a list"),
    ],
)
def test_errors(text: str, fragment: str) -> None:
    with pytest.raises(RegistriesConfError) as info:
        parse_registries_conf(text, "r.conf")
    assert str(info.value).startswith("r.conf: ")
    assert fragment in str(info.value)


def test_drop_ins_merge_in_order() -> None:
    main = (
        'unqualified-search-registries = ["quay.io", "docker.io"]\n'
        '[[registry]]\nprefix = "quay.io"\ninsecure = true\n'
        '[[registry]]\nprefix = "ghcr.io"\nblocked = true\n'
        '[aliases]\nweb = "quay.io/org/web"\n'
    )
    drop_in = (
        '[[registry]]\nprefix = "quay.io"\nlocation = "quay-cache.local"\n'
        '[aliases]\napi = "quay.io/org/api"\n'
    )
    conf = parse_registries_conf_files([("registries.conf", main), ("10-cache.conf", drop_in)])
    assert conf.search == ("quay.io", "docker.io")  # not set again: kept
    by_prefix = {e.prefix: e for e in conf.registries}
    assert by_prefix["quay.io"].location == "quay-cache.local"
    assert by_prefix["quay.io"].insecure is False  # replaced whole, as containers does
    assert by_prefix["ghcr.io"].blocked is True
    assert conf.aliases == {"web": "quay.io/org/web", "api": "quay.io/org/api"}
    with pytest.raises(RegistriesConfError) as info:
        parse_registries_conf_files([("main", ""), ("20-bad.conf", "x = [")])
    assert str(info.value).startswith("20-bad.conf: ")


def test_docker_hub_routing() -> None:
    assert str(ref("nginx").qualified("docker.io")) == "docker.io/library/nginx"
    assert registry_endpoint_host("docker.io") == "registry-1.docker.io"
    assert registry_endpoint_host("index.docker.io") == "registry-1.docker.io"


# -- allowedRegistriesForImport ---------------------------------------------------------------

ALLOWED = parse_allowed_registries(
    [
        {"domainName": "quay.io"},
        {"domainName": "*.corp.example", "insecure": True},
        {"domainName": "registry.local:5000"},
        {"domainName": "docker.io"},
    ]
)


@pytest.mark.parametrize(
    ("name", "insecure", "allowed"),
    [
        ("quay.io/org/app:1", False, True),
        ("quay.io:443/org/app:1", False, True),
        ("quay.io:8443/org/app:1", False, False),
        ("quay.io/org/app:1", True, False),  # allowed, but not insecurely
        ("git.corp.example/a:1", True, True),
        ("corp.example/a:1", False, False),  # the wildcard wants a subdomain
        ("evilcorp.example/a:1", False, False),
        ("registry.local:5000/a:1", False, True),
        ("registry.local/a:1", False, False),
        ("index.docker.io/library/nginx:1", False, True),
        ("ghcr.io/org/app:1", False, False),
    ],
)
def test_check_import_allowed(name: str, insecure: bool, allowed: bool) -> None:
    reason = check_import_allowed(ref(name), insecure, ALLOWED)
    assert (reason is None) == allowed, reason
    if reason is not None:
        assert "allowedRegistriesForImport" in reason


def test_no_allow_list_allows_everything() -> None:
    assert check_import_allowed(ref("ghcr.io/a:1"), True, None) is None


def test_parse_allowed_registries_errors() -> None:
    for bad in ("quay.io", [{"insecure": True}], [{"domainName": "a.io/x"}]):
        with pytest.raises(RegistriesConfError):
            parse_allowed_registries(bad)


def test_allowed_candidates_filters_search_registries() -> None:
    conf = parse_registries_conf('unqualified-search-registries = ["ghcr.io", "quay.io"]\n')
    ok, refused = allowed_candidates(conf, ref("org/app:1"), False, ALLOWED)
    assert [str(r) for r in ok] == ["quay.io/org/app:1"]
    assert len(refused) == 1 and "ghcr.io" in refused[0]


class RecordingClient:
    """Stands in for RegistryClient.resolve_many; records what would have been asked."""

    def __init__(self) -> None:
        self.asked: list[ResolveRequest] = []

    def resolve_many(
        self, requests: Sequence[ResolveRequest]
    ) -> dict[ResolveRequest, Resolved | ResolveError]:
        self.asked.extend(requests)
        return {r: Resolved(DIGEST, "application/vnd.oci.image.manifest.v1+json") for r in requests}


def test_resolve_imports_never_asks_a_registry_outside_the_allow_list() -> None:
    conf = parse_registries_conf('unqualified-search-registries = ["ghcr.io", "quay.io"]\n')
    requests = [
        ImportRequest(TagRef("ns", "a", "1"), ref("ghcr.io/org/a:1"), False, "Legacy"),
        ImportRequest(TagRef("ns", "b", "1"), ref("org/b:1"), False, "Legacy"),
    ]
    client = RecordingClient()
    outcomes = resolve_imports(
        requests,
        client,  # type: ignore[arg-type]
        conf,
        allowed=ALLOWED,
        pull_secrets=lambda r: ("pull-" + r.ref.namespace,),
        platform_for=lambda r: Platform("linux", "arm64"),
    )
    assert outcomes[TagRef("ns", "a", "1")] == Failure(
        "NotAllowed",
        "importing from ghcr.io is not allowed (allowedRegistriesForImport: quay.io, "
        "*.corp.example, registry.local:5000, docker.io)",
    )
    assert outcomes[TagRef("ns", "b", "1")] == Resolution(DIGEST, "quay.io/org/b:1")
    assert [str(r.reference) for r in client.asked] == ["quay.io/org/b:1"]
    assert client.asked[0].pull_secrets == ("pull-ns",)
    assert client.asked[0].platform == Platform("linux", "arm64")
