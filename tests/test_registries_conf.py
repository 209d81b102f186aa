"""registries.conf completeness (wildcard mirrors, mirror-by-digest-only, pull-from-mirror,
short-name-mode, credential-helpers, drop-ins, v1 refused, scheme-less locations, aliases
fully qualified) and allowedRegistriesForImport as a pure check and in resolve_imports."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from reconciler.core.allowlist import (
    allowed_candidates,
    check_import_allowed,
    parse_allowed_registries,
)
from reconciler.core.platforms import Platform
from reconciler.core.references import parse_image_reference, registry_endpoint_host
from reconciler.core.registries import (
    RegistriesConfError,
    parse_registries_conf,
    parse_registries_conf_files,
)
from reconciler.core.resolution import Failure, ImportRequest, Resolution
from reconciler.core.streams import TagRef
from reconciler.registry.errors import ResolveError
from reconciler.registry.models import Resolved, ResolveRequest
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
    ("text", "fragment", "line"),
    [
        ('[registries.search]\nregistries = ["docker.io"]\n', "v1 format", 1),
        ('short-name-mode = "sometimes"\n', "short-name-mode must be one of", 1),
        ('[[registry]]\nlocation = "https://quay.io"\n', "must not have a scheme", 2),
        ('[[registry]]\nprefix = "*.x.io"\nlocation = "y.io"\n', "cannot have a location", 3),
        (
            '[[registry]]\nprefix = "a.io"\n[[registry.mirror]]\nlocation = "m.io"\n'
            'pull-from-mirror = "never"\n',
            "pull-from-mirror must be one of",
            5,
        ),
        ('[aliases]\nweb = "web:latest"\n', "must be a fully qualified name", 2),
        ('unqualified-search-registries = ["quay.io/org"]\n', "is not a registry host", 1),
        ('credential-helpers = "x"\n', "credential-helpers must be a list", 1),
    ],
)
def test_errors(text: str, fragment: str, line: int) -> None:
    with pytest.raises(RegistriesConfError) as info:
        parse_registries_conf(text, "r.conf")
    assert str(info.value).startswith(f"r.conf:{line}: ")
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
    assert str(info.value).startswith("20-bad.conf:1: ")


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


# Semantic errors name the line of the key (a scan of the text: tomllib keeps no positions).
REAL_CONF = """\
# /etc/containers/registries.conf
unqualified-search-registries = ["registry.access.redhat.com", "docker.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "quay.io"
location = "quay-cache.local"
insecure = true

[[registry]]
# the corp registry, through two mirrors
prefix = "registry.corp.example"

[[registry.mirror]]
location = "mirror-a.corp.example"

[[registry.mirror]]
location = "mirror-b.corp.example"
pull-from-mirror = "digest-only"

[aliases]
"web" = "quay.io/org/web"
api = "quay.io/org/api:1"
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        pytest.param(
            '"registry.access.redhat.com", "docker.io"]',
            '"registry.access.redhat.com", 5]',
            2,
            "unqualified-search-registries must be a list of strings",
            id="search-not-strings",
        ),
        pytest.param(
            'short-name-mode = "enforcing"',
            'short-name-mode = "strict"',
            3,
            "short-name-mode must be one of",
            id="short-name-mode",
        ),
        pytest.param(
            'location = "quay-cache.local"',
            'location = "https://quay-cache.local"',
            7,
            "[[registry]] #1: location 'https://quay-cache.local' must not have a scheme",
            id="entry-1-location",
        ),
        pytest.param(
            'prefix = "registry.corp.example"',
            'prefix = "Registry Corp"',
            12,
            "[[registry]] #2: prefix 'Registry Corp'",
            id="entry-2-prefix",
        ),
        pytest.param(
            'prefix = "registry.corp.example"',
            "insecure = true",
            10,  # no prefix or location key: the entry's [[registry]] header
            "[[registry]] #2: needs a prefix or a location",
            id="entry-2-no-prefix",
        ),
        pytest.param(
            'pull-from-mirror = "digest-only"',
            'pull-from-mirror = "sometimes"',
            19,
            "[[registry]] #2: mirror #2 pull-from-mirror must be one of",
            id="mirror-2-pull",
        ),
        pytest.param(
            'location = "mirror-b.corp.example"',
            "insecure = false",
            17,  # no location key: the mirror's [[registry.mirror]] header
            "[[registry]] #2: mirror #2 needs a location",
            id="mirror-2-no-location",
        ),
        pytest.param(
            'api = "quay.io/org/api:1"',
            'api = "api:1"',
            23,
            "[aliases] 'api': 'api:1' must be a fully qualified name",
            id="alias",
        ),
        pytest.param(
            '"web" = "quay.io/org/web"',
            '"web" = 5',
            22,
            "[aliases] 'web' must be a string",
            id="alias-quoted-key",
        ),
    ],
)
def test_semantic_errors_name_the_line(old: str, new: str, line: int, fragment: str) -> None:
    assert old in REAL_CONF
    text = REAL_CONF.replace(old, new, 1)
    with pytest.raises(RegistriesConfError) as info:
        parse_registries_conf(text, "/etc/containers/registries.conf")
    message = str(info.value)
    assert message.startswith(f"/etc/containers/registries.conf:{line}: "), message
    assert fragment in message
    shown = text.splitlines()[line - 1].strip()
    assert new in shown or shown in ("[[registry]]", "[[registry.mirror]]")


def test_inline_tables_fall_back_to_the_key_that_holds_them() -> None:
    text = 'unqualified-search-registries = ["docker.io"]\nregistry = [{insecure = true}]\n'
    with pytest.raises(RegistriesConfError) as info:
        parse_registries_conf(text, "r.conf")
    assert str(info.value).startswith("r.conf:2: [[registry]] #1: needs a prefix or a location")


def test_drop_in_errors_name_the_drop_in_and_its_line() -> None:
    drop_in = '# cache\n\n[[registry]]\nprefix = "quay.io"\nlocation = "http://cache"\n'
    with pytest.raises(RegistriesConfError) as info:
        parse_registries_conf_files([("registries.conf", REAL_CONF), ("10-cache.conf", drop_in)])
    assert str(info.value).startswith("10-cache.conf:5: [[registry]] #1: location")


def test_toml_syntax_errors_name_line_and_column() -> None:
    with pytest.raises(RegistriesConfError) as info:
        parse_registries_conf('a = 1\n[[registry]]\nprefix = "x.io\n', "r.conf")
    assert str(info.value).startswith("r.conf:3:")
