"""Unit tests of the pure modules behind the oc-style verbs (round-trip editing, describe
and get views, the prune policy, new-app objects), of the registry places the verbs ask
(registry/places.py), and of prune's existence check through the registry client against
a real registry."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest

from reconciler.cli.verbs.prune import missing_images
from reconciler.core import editing, tagedits
from reconciler.core.describe import render_describe
from reconciler.core.lockfile import Condition, HistoryItem, Lock, TagLock, TagSource
from reconciler.core.manifests import parse_manifests
from reconciler.core.newapp import Port, app_name, build_objects, parse_image_config
from reconciler.core.prune import (
    MISSING,
    OLD_REVISION,
    DurationError,
    PrunePolicy,
    parse_duration,
    prune_lock,
)
from reconciler.core.registries import RegistriesConf, parse_registries_conf
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.streams import TagRef
from reconciler.core.tables import render_table
from reconciler.core.times import human_duration
from reconciler.core.views import find_istag, stream_view
from reconciler.registry import places
from reconciler.registry.client import RegistryClient
from reconciler.registry.errors import ResolveError
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
D = {n: "sha256:" + (str(n) * 64)[:64] for n in range(1, 8)}


def stamp(minutes_ago: float) -> str:
    return (NOW - dt.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- ages


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (19 * 60, "19 minutes"),
        (59 * 60 + 59, "59 minutes"),
        (60 * 60, "About an hour"),
        (95 * 60, "2 hours"),
        (47 * 3600, "47 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration_matches_go_units(seconds: int, text: str) -> None:
    assert human_duration(dt.timedelta(seconds=seconds)) == text


# ---------------------------------------------------------------- editing

SEQ_OFFSET_0 = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
   name: x   # three-space mapping indent
spec:
   tags:
   - name: a
     from:
        kind: DockerImage
        name: "x:1"
"""


def test_detect_style_reads_indent_offset_and_quotes() -> None:
    assert editing.detect_style(SEQ_OFFSET_0) == editing.Style(
        mapping=3, sequence=2, offset=0, quote='"'
    )
    seed = "spec:\n  tags:\n    - name: 'a'\n      from: {}\n"
    assert editing.detect_style(seed) == editing.Style(2, 4, 2, "'")


def test_changing_one_field_is_a_one_line_diff_and_keeps_quotes() -> None:
    doc = editing.ManifestFile(SEQ_OFFSET_0)
    stream = doc.object_at(0, ())
    assert tagedits.apply_tag(stream, tagedits.TagEdit("a", "DockerImage", "x:2"), '"')
    after = doc.render()
    changed = [
        (a, b) for a, b in zip(SEQ_OFFSET_0.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert changed == [('        name: "x:1"', '        name: "x:2"')]


def test_same_edit_twice_changes_nothing() -> None:
    doc = editing.ManifestFile(SEQ_OFFSET_0)
    assert not tagedits.apply_tag(
        doc.object_at(0, ()), tagedits.TagEdit("a", "DockerImage", "x:1"), '"'
    )
    assert doc.render() == SEQ_OFFSET_0


def test_new_tag_follows_the_file_indentation() -> None:
    doc = editing.ManifestFile(SEQ_OFFSET_0)
    edit = tagedits.TagEdit("1.0", "DockerImage", "x:1.0", scheduled=True)
    tagedits.apply_tag(doc.object_at(0, ()), edit, '"')
    assert doc.render() == SEQ_OFFSET_0 + (
        '   - name: "1.0"\n'
        "     from:\n"
        "        kind: DockerImage\n"
        "        name: x:1.0\n"
        "     importPolicy:\n"
        "        scheduled: true\n"
        "     referencePolicy:\n"
        "        type: Source\n"
    )


def test_merge_keeps_lines_ruamel_would_respell() -> None:
    text = "---\nkind: ImageStream\nmetadata:   {name: x}\nspec:\n  tags:\n  - name: a\n    from:\n      kind: DockerImage\n      name: x:1\n"
    doc = editing.ManifestFile(text)
    tagedits.apply_tag(doc.object_at(0, ()), tagedits.TagEdit("a", "DockerImage", "x:2"), '"')
    assert doc.render() == text.replace("x:1", "x:2")


def test_remove_tag_takes_its_comment_and_keeps_the_next_ones() -> None:
    text = (
        "kind: ImageStream\nspec:\n  tags:\n    - name: a\n      from: {kind: DockerImage, name: a:1}\n"
        "    # about b\n    - name: b\n      from: {kind: DockerImage, name: b:1}\n"
        "    # about c\n    - name: c\n      from: {kind: DockerImage, name: c:1}\n"
    )
    doc = editing.ManifestFile(text)
    assert tagedits.remove_tag(doc.object_at(0, ()), "b")
    assert "about b" not in doc.render() and "# about c\n    - name: c" in doc.render()
    assert not tagedits.remove_tag(doc.object_at(0, ()), "nope")


def test_multi_document_file_edits_the_right_document() -> None:
    text = "kind: Service\nmetadata: {name: s}\n---\n" + SEQ_OFFSET_0
    parsed = parse_manifests(text, "f.yaml")
    obj = parsed.objects[0]
    doc = editing.ManifestFile(text)
    tagedits.apply_tag(
        doc.object_at(obj.document, obj.base), tagedits.TagEdit("a", "DockerImage", "x:9"), '"'
    )
    assert doc.render() == text.replace('"x:1"', '"x:9"')


# ---------------------------------------------------------------- describe / get

STREAM = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: marsview
  namespace: toms-project
spec:
  tags:
    - name: latest
      from:
        kind: DockerImage
        name: registry.marsrover.space/engine/marsview:latest
      importPolicy:
        scheduled: true
    - name: stable
      from:
        kind: ImageStreamTag
        name: marsview:latest
      referencePolicy:
        type: Local
"""


def _lock() -> Lock:
    src = TagSource(
        "DockerImage", "registry.marsrover.space/engine/marsview:latest", scheduled=True
    )
    img = "registry.marsrover.space/engine/marsview@"
    latest = TagLock(
        source=src,
        digest=D[2],
        image=img + D[2],
        history=(
            HistoryItem(D[2], img + D[2], stamp(1), 2),
            HistoryItem(D[1], img + D[1], stamp(19), 1),
        ),
        condition=Condition(
            "Unauthorized", "registry.marsrover.space/engine/marsview: no", stamp(0.5)
        ),
    )
    return Lock(tags={TagRef("toms-project", "marsview", "latest"): latest})


def test_describe_layout_follows_oc() -> None:
    obj = parse_manifests(STREAM, "imagestreams/marsview.yaml").objects[0]
    view = stream_view("toms-project", "marsview", obj, _lock(), RepoConfig())
    text = render_describe(view, NOW)
    assert text == (
        "Name:              marsview\n"
        "Namespace:         toms-project\n"
        "Created:           19 minutes ago\n"
        "Labels:            <none>\n"
        "Annotations:       <none>\n"
        "Image Repository:  image-registry.openshift-image-registry.svc:5000/toms-project/marsview\n"
        "Image Lookup:      local=false\n"
        "Unique Images:     2\n"
        "Tags:              2\n"
        "\n"
        "latest\n"
        "  updates automatically from registry registry.marsrover.space/engine/marsview:latest\n"
        "\n"
        "  ! error: Import failed (Unauthorized): registry.marsrover.space/engine/marsview: no\n"
        "      30 seconds ago\n"
        f"  * registry.marsrover.space/engine/marsview@{D[2]}\n"
        "      About a minute ago\n"
        f"    registry.marsrover.space/engine/marsview@{D[1]}\n"
        "      19 minutes ago\n"
        "\n"
        "stable\n"
        "  tagged from marsview:latest\n"
        "    prefer registry pullthrough when referencing this tag\n"
    )
    data = json.loads(json.dumps(view.to_data(NOW)))
    assert set(data) == {
        "name", "namespace", "file", "created", "labels", "annotations",
        "imageRepository", "imageLookup", "uniqueImages", "tags",
    }  # fmt: skip
    assert data["tags"][0]["items"][0]["age"] == "About a minute ago"
    assert data["tags"][0]["conditions"][0]["reason"] == "Unauthorized"
    assert data["tags"][1]["inManifest"] is True and data["tags"][1]["digest"] is None


def test_find_istag_by_tag_and_by_image() -> None:
    obj = parse_manifests(STREAM, "s.yaml").objects[0]
    views = [stream_view("toms-project", "marsview", obj, _lock(), RepoConfig())]
    assert find_istag(views, "marsview").name == "marsview:latest"  # type: ignore[union-attr]
    pinned = find_istag(views, f"marsview@{D[1]}")
    assert pinned is not None and pinned.to_object()["kind"] == "ImageStreamImage"
    assert find_istag(views, "marsview:nope") is None


def test_table_columns_like_kubectl() -> None:
    assert render_table(["NAME", "X"], [["a", "1"], ["longer-name-here", "2"]]) == (
        "NAME               X\na                  1\nlonger-name-here   2\n"
    )


# ---------------------------------------------------------------- prune


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60m", 3600), ("1h30m", 5400), ("90s", 90), ("0", 0), ("1.5h", 5400), ("250ms", 0.25)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "60", "1x", "m", "1h 2m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def _history_lock(ages: list[float], pin: str | None = None) -> Lock:
    items = tuple(
        HistoryItem(D[i + 1], f"r/x@{D[i + 1]}", stamp(age), len(ages) - i)
        for i, age in enumerate(ages)
    )
    tags = {
        TagRef("ns", "x", "t"): TagLock(
            TagSource("DockerImage", "r/x:t"), "r/x:t", D[1], f"r/x@{D[1]}", items
        )
    }
    if pin:
        tags[TagRef("ns", "y", "p")] = TagLock(TagSource("ImageStreamImage", pin, namespace="ns"))
    return Lock(tags=tags)


@pytest.mark.parametrize(
    ("ages", "policy", "missing", "removed"),
    [
        # keeps 3 revisions by default, and anything younger than 60m
        ([1, 2, 3, 120, 130], PrunePolicy(), set(), {4: OLD_REVISION, 5: OLD_REVISION}),
        ([1, 2, 3, 20, 130], PrunePolicy(), set(), {5: OLD_REVISION}),
        # one revision: only the current one (if old enough)
        (
            [100, 200, 300],
            PrunePolicy(1, dt.timedelta(0)),
            set(),
            {2: OLD_REVISION, 3: OLD_REVISION},
        ),
        # zero revisions still never removes the current image, even when it is missing
        ([100, 200], PrunePolicy(0, dt.timedelta(0)), {1}, {2: OLD_REVISION}),
        # a missing image goes even when young and within the revisions kept
        ([1, 2], PrunePolicy(), {2}, {2: MISSING}),
    ],
)
def test_prune_policy(
    ages: list[float], policy: PrunePolicy, missing: set[int], removed: dict[int, str]
) -> None:
    lock = _history_lock(ages)
    pruned, removals = prune_lock(lock, policy, NOW, {f"r/x@{D[i]}" for i in missing})
    assert {D.__getitem__(i): why for i, why in removed.items()} == {
        r.item.digest: r.reason for r in removals
    }
    kept = [h.digest for h in pruned.tags[TagRef("ns", "x", "t")].history]
    assert kept == [D[i + 1] for i in range(len(ages)) if (i + 1) not in removed]


def test_prune_keeps_an_image_another_tag_pins() -> None:
    lock = _history_lock([100, 200, 300], pin=f"x@{D[3]}")
    _, removals = prune_lock(lock, PrunePolicy(1, dt.timedelta(0)), NOW, {f"r/x@{D[3]}"})
    assert [r.item.digest for r in removals] == [D[2]]


# ---------------------------------------------------------------- new-app


def test_image_config_ports_and_names() -> None:
    config = parse_image_config(
        {
            "created": "2025-01-01T00:00:00Z",
            "config": {
                "ExposedPorts": {"8443/tcp": {}, "8080/tcp": {}, "53/udp": {}},
                "Labels": {"io.openshift.expose-services": "8080:http"},
                "Volumes": {"/data": {}},
                "User": "0",
            },
        }
    )
    assert config.ports == (Port(53, "UDP"), Port(8080, "TCP", "http"), Port(8443, "TCP"))
    assert [p.service_name for p in config.ports] == ["53-udp", "http", "8443-tcp"]
    assert config.volumes == ("/data",)


def test_build_objects_without_ports_has_no_service_and_names_other_namespace() -> None:
    objects = build_objects(
        "web",
        TagRef("shared", "nginx", "1.25"),
        "r/nginx@" + D[1],
        parse_image_config({}),
        namespace="team",
        deployment_config=True,
    )
    assert [o["kind"] for o in objects] == ["DeploymentConfig"]
    trigger = objects[0]["spec"]["triggers"][1]["imageChangeParams"]
    assert trigger["from"] == {
        "kind": "ImageStreamTag",
        "namespace": "shared",
        "name": "nginx:1.25",
    }
    assert trigger["containerNames"] == ["web"]
    assert objects[0]["metadata"]["namespace"] == "team"


@pytest.mark.parametrize(
    ("stream", "name"),
    [("my-python", "my-python"), ("Python_3.11", "python-3-11"), ("3scale", "app-3scale")],
)
def test_app_name(stream: str, name: str) -> None:
    assert app_name(stream) == name


# ---------------------------------------------------------------- registry places, prune check

CONF = """
unqualified-search-registries = ["reg.example.com", "other.example.com"]
[[registry]]
location = "reg.example.com"
[[registry.mirror]]
location = "mirror.example.com"
[[registry]]
location = "blocked.example.com"
blocked = true
"""


def test_locations_ask_search_registries_and_mirrors_before_the_primary() -> None:
    found = places.locations("lib/x:1", parse_registries_conf(CONF), insecure=True)
    assert [(str(p.logical), str(p.endpoint)) for p in found] == [
        ("reg.example.com/lib/x:1", "mirror.example.com/lib/x:1"),
        ("reg.example.com/lib/x:1", "reg.example.com/lib/x:1"),
        ("other.example.com/lib/x:1", "other.example.com/lib/x:1"),
    ]
    assert all(p.insecure for p in found)
    for bad, reason in [("blocked.example.com/x:1", "Blocked"), ("UPPER/x:1", "BadRequest")]:
        with pytest.raises(ResolveError) as caught:
            places.locations(bad, parse_registries_conf(CONF))
        assert caught.value.reason == reason


def test_first_answer_wins_and_a_definite_failure_beats_not_found() -> None:
    found = places.locations("lib/x:1", parse_registries_conf(CONF))

    def answering(host: str | None, failure: str = "NotFound") -> Callable[[places.Located], str]:
        def ask(place: places.Located) -> str:
            if place.endpoint.registry == host:
                return "found"
            if place.endpoint.registry == "mirror.example.com":
                raise ResolveError(failure, "mirror: no", registry="")
            raise ResolveError("NotFound", f"{place.endpoint.registry}: no", registry="")

        return ask

    place, answer = places.first_answer(found, answering("other.example.com", "Unauthorized"))
    assert (answer, str(place.logical)) == ("found", "other.example.com/lib/x:1")
    with pytest.raises(ResolveError) as caught:
        places.first_answer(found, answering(None, "Unauthorized"))
    assert (caught.value.reason, caught.value.message) == ("Unauthorized", "mirror: no")
    with pytest.raises(ResolveError) as caught:
        places.first_answer(found, answering(None))
    assert caught.value.reason == "NotFound"
    assert caught.value.message == (
        "not found in any of: mirror: no; reg.example.com: no; other.example.com: no"
    )


def test_prune_asks_the_registry_client_whether_old_images_exist(
    local_registry: LocalRegistry, registry_client: RegistryClient, unique_repo: str
) -> None:
    repo = f"{local_registry.host}/{unique_repo}"
    current = push_image(local_registry.url, unique_repo, "now", seed=f"{unique_repo}-now")
    kept = push_image(local_registry.url, unique_repo, "old", seed=f"{unique_repo}-old")
    gone = "sha256:" + "0" * 64
    unreachable = f"127.0.0.1:9/nothing@{gone}"  # nothing listens there: unchecked, kept
    history = (
        HistoryItem(current, f"{repo}@{current}", stamp(1), 4),
        HistoryItem(kept, f"{repo}@{kept}", stamp(100), 3),
        HistoryItem(gone, f"{repo}@{gone}", stamp(200), 2),
        HistoryItem(gone, unreachable, stamp(300), 1),
    )
    source = TagSource("DockerImage", f"{repo}:now", insecure=True)
    ref = TagRef("ns", "x", "t")
    lock = Lock(tags={ref: TagLock(source, f"{repo}:now", current, f"{repo}@{current}", history)})
    asked: list[str] = []

    def secrets(namespace: str) -> tuple[str, ...]:
        asked.append(namespace)
        return ()

    missing, unknown = missing_images(lock, RegistriesConf(), registry_client, None, secrets)
    assert missing == {f"{repo}@{gone}"}
    assert len(unknown) == 1 and unknown[0].startswith(f"{unreachable}: ")
    assert set(asked) == {"ns"}
    # scoped to another namespace: nothing to ask
    assert missing_images(lock, RegistriesConf(), registry_client, "other") == (set(), [])


@pytest.mark.parametrize(
    "verb",
    [
        ["import-image", "x", "--from=r/x"],
        ["tag", "r/x:1", "x:1"],
        ["new-app", "--image-stream=x"],
        ["prune"],
    ],
)
def test_verbs_take_the_shared_registry_and_credential_flags(verb: list[str]) -> None:
    from reconciler.cli import main as cli

    flags = [
        "--registries-conf", "r.conf", "--authfile", "a.json", "--authfile", "b.json",
        "--pull-secrets-dir", "secrets", "--allowed-registries-for-import", "allowed.yaml",
        "--platform", "linux/arm64", "--concurrency", "3", "--timeout", "4.5",
        "--ca-bundle", "ca.pem", "--cache-dir", "cache",
    ]  # fmt: skip
    args = cli.build_parser().parse_args([*verb, *flags])
    assert (args.registries_conf, args.authfile, args.pull_secrets_dir) == (
        "r.conf",
        ["a.json", "b.json"],
        "secrets",
    )
    assert (args.allowed_registries_for_import, args.platform, args.concurrency) == (
        "allowed.yaml",
        "linux/arm64",
        3,
    )
    assert (args.timeout, args.ca_bundle, args.cache_dir) == (4.5, "ca.pem", "cache")


FIRST_TAG = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: web
spec:
  tags:
    # first tag
    - name: "1"
      from:
        kind: DockerImage
        name: a
    # second tag: keep
    # and this line too
    - name: "2"
      from:
        kind: DockerImage
        name: b
"""


@pytest.mark.parametrize(
    ("text", "expected_head"),
    [
        (FIRST_TAG, '    # second tag: keep\n    # and this line too\n    - name: "2"\n'),
        (
            FIRST_TAG.replace("    # first tag\n", ""),
            '    # second tag: keep\n    # and this line too\n    - name: "2"\n',
        ),
        (
            FIRST_TAG.replace("    # second tag: keep\n    # and this line too\n", ""),
            '    - name: "2"\n',
        ),
    ],
    ids=["both-comments", "only-the-second", "only-the-first"],
)
def test_removing_the_first_tag_keeps_the_second_tags_comment(
    text: str, expected_head: str
) -> None:
    doc = editing.ManifestFile(text)
    assert tagedits.remove_tag(doc.object_at(0, ()), "1")
    rendered = doc.render()
    assert rendered.split("  tags:\n", 1)[1].startswith(expected_head)
    assert "# first tag" not in rendered
