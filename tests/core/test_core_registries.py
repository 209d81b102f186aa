"""Table tests for reconciler.core.registries: parsing registries.conf (v2) and routing
references through it (search list, prefix/location rewrite, mirrors, blocked, aliases)."""

from __future__ import annotations

import pytest

from reconciler.core.references import parse_image_reference
from reconciler.core.registries import (
    DEFAULT_SEARCH_REGISTRIES,
    BlockedRegistry,
    RegistriesConf,
    RegistriesConfError,
    parse_registries_conf,
)

DIGEST = "sha256:" + "a" * 64

CONF = """\
unqualified-search-registries = ["quay.io", "index.docker.io", "docker.io"]

[[registry]]
prefix = "docker.io/library"
location = "hub-cache.local/library"

[[registry]]
location = "quay.io"
insecure = true

[[registry]]
prefix = "quay.io/org"
location = "internal.local:5000/quay-org"

[[registry.mirror]]
location = "mirror-0.local/org"

[[registry.mirror]]
location = "mirror-1.local/mirrors/org"
insecure = true

[[registry]]
prefix = "bad.example.com"
blocked = true

[[registry]]
prefix = "*.corp.example"
insecure = true

[aliases]
"ubi" = "registry.access.redhat.com/ubi9/ubi"
"web" = "quay.io/org/web:stable"
"""


@pytest.fixture(scope="module")
def conf() -> RegistriesConf:
    return parse_registries_conf(CONF)


def ref(text: str):
    return parse_image_reference(text)


# ---------------------------------------------------------------------------
# search list and aliases


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx:1", ["quay.io/nginx:1", "docker.io/library/nginx:1"]),  # duplicates once
        ("team/app", ["quay.io/team/app", "docker.io/team/app"]),
        ("ghcr.io/o/a:1", ["ghcr.io/o/a:1"]),  # qualified: itself
        ("ubi:9.3", ["registry.access.redhat.com/ubi9/ubi:9.3"]),
        ("ubi", ["registry.access.redhat.com/ubi9/ubi"]),
        ("web", ["quay.io/org/web:stable"]),
        ("web:1", ["quay.io/org/web:1"]),
        (f"ubi@{DIGEST}", [f"registry.access.redhat.com/ubi9/ubi@{DIGEST}"]),
        ("docker.io/ubi:1", ["docker.io/library/ubi:1"]),  # aliases are for short names
    ],
)
def test_expand(conf, text, expected):
    assert [str(r) for r in conf.expand(ref(text))] == expected


@pytest.mark.parametrize(
    ("text", "search"),
    [
        ("", DEFAULT_SEARCH_REGISTRIES),
        ("unqualified-search-registries = []", ()),
        ('unqualified-search-registries = ["a.io", "b.io"]', ("a.io", "b.io")),
    ],
)
def test_search_list(text, search):
    parsed = parse_registries_conf(text)
    assert parsed.search == search
    assert [str(r) for r in parsed.expand(ref("x:1"))] == [
        str(ref("x:1").qualified(s)) for s in search
    ]


# ---------------------------------------------------------------------------
# endpoints


@pytest.mark.parametrize(
    ("text", "tag_insecure", "expected"),
    [
        pytest.param("ghcr.io/o/a:1", False, [("ghcr.io/o/a:1", False, False)], id="no-entry"),
        pytest.param(
            "ghcr.io/o/a:1", True, [("ghcr.io/o/a:1", True, False)], id="no-entry-tag-insecure"
        ),
        pytest.param(
            "docker.io/library/nginx:1.25",
            False,
            [("hub-cache.local/library/nginx:1.25", False, False)],
            id="prefix-location-rewrite",
        ),
        pytest.param(
            "docker.io/team/app:1",
            False,
            [("docker.io/team/app:1", False, False)],
            id="prefix-not-matching-namespace",
        ),
        pytest.param(
            "quay.io/other/app:1",
            False,
            [("quay.io/other/app:1", True, False)],
            id="location-only-entry-insecure",
        ),
        pytest.param(
            f"quay.io/org/team/app@{DIGEST}",
            False,
            [
                (f"mirror-0.local/org/team/app@{DIGEST}", False, True),
                (f"mirror-1.local/mirrors/org/team/app@{DIGEST}", True, True),
                (f"internal.local:5000/quay-org/team/app@{DIGEST}", False, False),
            ],
            id="longest-prefix-mirrors-first",
        ),
        pytest.param(
            "quay.io/org/app:2",
            True,
            [
                ("mirror-0.local/org/app:2", True, True),
                ("mirror-1.local/mirrors/org/app:2", True, True),
                ("internal.local:5000/quay-org/app:2", True, False),
            ],
            id="tag-insecure-everywhere",
        ),
        pytest.param(
            "quay.io/organic/app:1",
            False,
            [("quay.io/organic/app:1", True, False)],
            id="prefix-stops-at-separator",
        ),
        pytest.param(
            "a.b.corp.example/x:1",
            False,
            [("a.b.corp.example/x:1", True, False)],
            id="wildcard-subdomain",
        ),
        pytest.param(
            "corp.example/x:1",
            False,
            [("corp.example/x:1", False, False)],
            id="wildcard-not-the-domain-itself",
        ),
    ],
)
def test_endpoints(conf, text, tag_insecure, expected):
    got = [
        (str(e.reference), e.insecure, e.mirror) for e in conf.endpoints(ref(text), tag_insecure)
    ]
    assert got == expected


@pytest.mark.parametrize("text", ["bad.example.com/x:1", "bad.example.com/deep/er/x"])
def test_blocked(conf, text):
    with pytest.raises(BlockedRegistry) as info:
        conf.endpoints(ref(text))
    assert "is blocked by registries.conf" in str(info.value)
    assert "'bad.example.com'" in str(info.value)
    assert info.value.reference == ref(text)


def test_longer_blocked_prefix_wins_over_allowed_one():
    parsed = parse_registries_conf(
        '[[registry]]\nlocation = "q.io"\n\n[[registry]]\nprefix = "q.io/evil"\nblocked = true\n'
    )
    assert [str(e.reference) for e in parsed.endpoints(ref("q.io/good/a"))] == ["q.io/good/a"]
    with pytest.raises(BlockedRegistry):
        parsed.endpoints(ref("q.io/evil/a"))


def test_entry_order_does_not_matter_for_longest_prefix():
    a = '[[registry]]\nprefix = "q.io"\nlocation = "one.local"\n'
    b = '[[registry]]\nprefix = "q.io/x"\nlocation = "two.local/x"\n'
    for text in (a + "\n" + b, b + "\n" + a):
        (e,) = parse_registries_conf(text).endpoints(ref("q.io/x/y:1"))
        assert str(e.reference) == "two.local/x/y:1"


def test_wildcard_prefix_mirrors_rewrite_the_host():
    parsed = parse_registries_conf(
        '[[registry]]\nprefix = "*.corp.example"\n\n'
        '[[registry.mirror]]\nlocation = "mirror.local/corp"\n'
    )
    got = [(str(e.reference), e.mirror) for e in parsed.endpoints(ref("git.corp.example/t/a:1"))]
    assert got == [("mirror.local/corp/t/a:1", True), ("git.corp.example/t/a:1", False)]


# ---------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [
        pytest.param("unqualified-search-registries = [", 1, [], id="toml-syntax"),
        pytest.param("a = 1\na = 2\n", 2, [], id="toml-duplicate"),
        pytest.param(
            'unqualified-search-registries = "docker.io"',
            1,
            ["unqualified-search-registries must be a list of strings"],
            id="search-not-list",
        ),
        pytest.param(
            "unqualified-search-registries = [1]",
            1,
            ["unqualified-search-registries must be a list of strings"],
            id="search-not-strings",
        ),
        pytest.param(
            "[[registry]]\ninsecure = true\n",
            1,
            ["[[registry]] #1: needs a prefix or a location"],
            id="no-prefix-no-location",
        ),
        pytest.param(
            '[[registry]]\nlocation = "a.io"\n[[registry]]\nprefix = "b.io"\n'
            "[[registry.mirror]]\ninsecure = true\n",
            5,
            ["[[registry]] #2: mirror #1 needs a location"],
            id="mirror-without-location",
        ),
        pytest.param(
            '[[registry]]\nprefix = "Bad Host/x"\n',
            2,
            ["[[registry]] #1: prefix 'Bad Host/x'"],
            id="bad-prefix",
        ),
        pytest.param('aliases = "x"\n', 1, ["[aliases] must be a table"], id="aliases-not-table"),
    ],
)
def test_parse_errors(text, line, fragments):
    with pytest.raises(RegistriesConfError) as info:
        parse_registries_conf(text, "etc/r.conf")
    message = str(info.value)
    assert message.startswith(f"etc/r.conf:{line}:")
    for fragment in fragments:
        assert fragment in message


def test_parsed_entries(conf):
    prefixes = [
        (e.prefix, e.location, e.insecure, e.blocked, len(e.mirrors)) for e in conf.registries
    ]
    assert prefixes == [
        ("docker.io/library", "hub-cache.local/library", False, False, 0),
        ("quay.io", "quay.io", True, False, 0),  # prefix defaults to location
        ("quay.io/org", "internal.local:5000/quay-org", False, False, 2),
        ("bad.example.com", "bad.example.com", False, True, 0),
        ("*.corp.example", "*.corp.example", True, False, 0),
    ]
    assert conf.registries[2].mirrors == (
        ("mirror-0.local/org", False),
        ("mirror-1.local/mirrors/org", True),
    )
    assert conf.aliases == {
        "ubi": "registry.access.redhat.com/ubi9/ubi",
        "web": "quay.io/org/web:stable",
    }
