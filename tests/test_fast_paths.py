"""The fast paths of issue 12 give the answers of the full paths, over the real-world
corpus (``../shared/corpus/real``) and over repos of the scale bench's generator
(``testsupport.scalerepo``, here at a small size):

- manifests read through libyaml (reconciler.core.yamldata) against ruamel.yaml's safe
  loader and its round-trip loader (which keeps positions): the same data, objects and
  places, or (when it is not sure) no answer, never another one;
- the compiled schema check (jsonschema-rs) with ``jsonschema`` only on what it refuses,
  against ``jsonschema`` on every object: the same violations, messages and places;
- a pass that takes its parsed files, verdicts, lock and records from a cache (in
  memory as the daemon keeps it, on disk as the CLI does, keyed by git blob id) against
  one that reads and parses everything: the same report and the same lock bytes;
- the lockfile read by the fast reader against the full YAML loader.

Nothing here looks at a clock: the scale bench (bench/scale.py) does that.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.config.settings import Settings
from reconciler.core import manifests, yamldata, yamlfast
from reconciler.core.lockfile import parse_lock, render_lock
from reconciler.core.manifests import ManifestObject
from reconciler.core.yamltext import machine_yaml
from reconciler.files import loader
from reconciler.files.contentcache import ContentCache, blob_id
from reconciler.files.schemas import check_schema, full_check
from reconciler.gitrepo.workspace import Workspace
from reconciler.passes.plan import compute_plan
from reconciler.passes.run import run_pass
from reconciler.registry.client import RegistryClient
from testsupport.images import push_tags
from testsupport.registry import LocalRegistry
from testsupport.scalerepo import write_repo

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def corpus_objects() -> list[ManifestObject]:
    if not CORPUS.is_dir():
        pytest.skip(f"the real-world corpus is not checked out at {CORPUS}")
    found: list[ManifestObject] = []
    for path in sorted(CORPUS.iterdir()):
        if path.suffix in (".yaml", ".yml", ".json"):
            found += loader.load_file(path, path.name, "corpus").objects
    return found


def manifest_texts(tmp_path: Path) -> list[tuple[str, str]]:
    """(name, text) of every manifest file we have: the corpus (when it is there), a
    generated repo, the sample repo and the golden test repos."""
    write_repo(tmp_path / "gen", 200, "registry.example.com")
    here = Path(__file__).resolve().parent
    roots = [tmp_path / "gen", here.parent / "sample-repo", here / "golden"]
    paths = [p for root in roots for p in sorted(root.rglob("*.y*ml"))]
    if CORPUS.is_dir():
        paths += sorted(p for p in CORPUS.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    return [(p.name, p.read_text(encoding="utf-8-sig")) for p in paths]


def as_json(data: object) -> str:
    """Data compared strictly: True is not 1, 1.0 is not 1."""
    return json.dumps(data, sort_keys=True, default=repr) + repr(_types(data))


def _types(data: object) -> object:
    if isinstance(data, dict):
        return {k: _types(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_types(v) for v in data]
    return type(data).__name__


def test_libyaml_reads_manifests_as_ruamel_does(tmp_path: Path) -> None:
    texts = manifest_texts(tmp_path)
    answered = 0
    for name, text in texts:
        fast = yamldata.load_all(text, manifests.MAX_NODES)
        if fast is None:
            continue
        answered += 1
        assert as_json(fast) == as_json(manifests._load_safe(text)), name
    assert answered > 0.9 * len(texts)


def test_fast_and_round_trip_parses_give_the_same_objects_and_places(tmp_path: Path) -> None:
    for name, text in manifest_texts(tmp_path):
        fast = manifests.parse_manifests(text, name)
        full = manifests._parse_round_trip(text, name, "default")
        assert fast.violations == full.violations, name
        assert fast.other_documents == full.other_documents, name
        assert len(fast.objects) == len(full.objects), name
        for a, b in zip(fast.objects, full.objects, strict=True):
            assert as_json(a.body) == as_json(b.body), name
            assert (a.document, a.base, a.in_template) == (b.document, b.base, b.in_template)
            assert dict(a.positions) == dict(b.positions), name


SCALARS = [
    "yes", "no", "on", "off", "y", "n", "true", "True", "TRUE", "false", "FALSE", "tRue",
    "null", "Null", "~", "", "0", "-0", "+5", "-5", "007", "012", "0o17", "0x1F", "0b11",
    "1_000", "1.0", "-1.5", "00.5", "1.", ".5", "1e3", "1.5e3", ".inf", "-.inf", ".nan",
    "inf", "2024-01-01", "2024-01-01T00:00:00Z", "2024-1-1 1:00:00", "12:30", "1:20:30",
    "<<", "=", "!x", "'q'", '"d"', "a b", "8080", "99999999999999999999", "0.5Gi", "500m",
]  # fmt: skip


@pytest.mark.parametrize("scalar", SCALARS)
def test_libyaml_scalars_read_as_ruamel_reads_them_or_not_at_all(scalar: str) -> None:
    for text in (f"value: {scalar}\n", f"{scalar}: value\n", f"list:\n  - {scalar}\n"):
        fast = yamldata.load_all(text, manifests.MAX_NODES)
        try:
            safe = manifests._load_safe(text)
        except Exception:  # whatever ruamel makes of it, the fast path must step aside
            safe = None
        assert fast is None or as_json(fast) == as_json(safe), text


def generated_objects(tmp_path: Path) -> list[ManifestObject]:
    write_repo(tmp_path / "gen", 300, "registry.example.com")
    return loader.load_repo(tmp_path / "gen", "default").objects


def broken(obj: ManifestObject) -> list[ManifestObject]:
    """Variants of a valid object that the schema refuses, so that the full path runs
    behind the compiled one."""
    spec = dict(obj.body.get("spec") or {})
    variants = [
        {**obj.body, "spec": {**spec, "unknownField": 1}},
        {**obj.body, "metadata": {"name": "Not_A_Name!"}},
        {**obj.body, "spec": {**spec, "triggers": "ImageChange"}},
    ]
    return [dataclasses.replace(obj, body=body) for body in variants]


def test_compiled_schema_check_agrees_with_jsonschema_on_the_corpus() -> None:
    objects = corpus_objects()
    assert len(objects) > 100
    for obj in objects:
        assert check_schema(obj) == full_check(obj), obj.display


def test_compiled_schema_check_agrees_on_generated_and_broken_objects(tmp_path: Path) -> None:
    objects = generated_objects(tmp_path)
    for obj in objects[:40]:
        for variant in [obj, *broken(obj)]:
            assert check_schema(variant) == full_check(variant), variant.body
    assert all(check_schema(o) == [] for o in objects)


# ---------------------------------------------------------------------------------------
# a whole pass, cached and not


@pytest.fixture(scope="module")
def reconciled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A generated repo of ~120 tags, with the images it names in a local registry, after
    a first pass: (bare remote, a directory for the test)."""
    tmp = tmp_path_factory.mktemp("fast")
    with LocalRegistry() as registry:
        seed, bare = tmp / "seed", tmp / "remote.git"
        shape = write_repo(seed, 120, registry.host)
        for repository, tags in shape.images.items():
            push_tags(registry.url, repository, tags, "fast")
        for args in (
            ["init", "-q", "--initial-branch=main"],
            ["add", "-A"],
            ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed"],
            ["init", "-q", "--bare", "--initial-branch=main", str(bare)],
            ["push", "-q", str(bare), "main"],
        ):
            subprocess.run(["git", *args], cwd=seed, check=True, capture_output=True)
        settings = Settings(cache_dir=tmp / "cache")
        with RegistryClient(max_concurrency=8) as client:
            first = run_pass(Workspace(str(bare), "main", tmp / "work"), settings, client)
        assert first.pushed
        yield bare, tmp


def _plan_offline(root: Path, contents: ContentCache, blobs: dict[str, str] | None):
    return compute_plan(
        root, Settings(cache_dir=root.parent / "c"), None, NOW, contents=contents, blobs=blobs
    )


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.report.violations == b.report.violations
    assert [o.display for o in a.report.valid] == [o.display for o in b.report.valid]
    assert [o.display for o in a.report.invalid] == [o.display for o in b.report.invalid]
    assert a.old_lock == b.old_lock and a.new_lock == b.new_lock
    assert a.new_bytes == b.new_bytes
    assert [t.id for t in a.triggers] == [t.id for t in b.triggers]


@pytest.mark.integration
def test_a_cached_pass_gives_the_same_report_and_lock(reconciled: tuple[Path, Path]) -> None:
    bare, tmp = reconciled
    workspace = Workspace(str(bare), "main", tmp / "check")
    workspace.sync()
    root, blobs = workspace.path, workspace.tree_blobs()
    assert blobs[loader.LOCKFILE_NAME] == blob_id((root / loader.LOCKFILE_NAME).read_bytes())
    # The corpus too, when it is there (Templates, Lists, invalid objects), beside what
    # git listed: read from disk and keyed by the blob id of the bytes read.
    if CORPUS.is_dir():
        ignore = shutil.ignore_patterns("*.json", "*.md")
        shutil.copytree(CORPUS, root / "corpus", ignore=ignore)

    full = _plan_offline(root, ContentCache(), None)
    daemon = ContentCache()
    _plan_offline(root, daemon, blobs)
    warm = _plan_offline(root, daemon, blobs)  # the daemon's next pass: nothing parsed
    stored = tmp / "content.pickle"
    daemon.save(stored)
    from_disk = _plan_offline(root, ContentCache.load(stored), blobs)  # the CLI's next run
    for cached in (warm, from_disk):
        _same(full, cached)
    if CORPUS.is_dir():
        assert full.report.invalid, "the corpus's invalid objects are judged too"


@pytest.mark.integration
def test_no_yaml_is_parsed_when_the_tree_did_not_change(
    reconciled: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, tmp = reconciled
    settings = Settings(cache_dir=tmp / "cache")
    workspace = Workspace(str(bare), "main", tmp / "noop")
    contents = ContentCache()
    with RegistryClient(max_concurrency=8) as client:
        run_pass(workspace, settings, client, contents=contents)
        parsed: list[str] = []
        for name in (
            "reconciler.files.contentcache.parse_manifests",
            "reconciler.files.contentcache.parse_lock",
            "reconciler.files.triggerstore.parse_record",
        ):
            monkeypatch.setattr(name, lambda *a, name=name: parsed.append(name))
        again = run_pass(workspace, settings, client, contents=contents)
    assert again.commit is None and not again.plan.has_changes
    assert parsed == []


@pytest.mark.integration
def test_the_lock_reads_the_same_fast_and_full(reconciled: tuple[Path, Path]) -> None:
    bare, _ = reconciled
    text = subprocess.run(
        ["git", "show", "main:images.lock.yaml"], cwd=bare, check=True, capture_output=True
    ).stdout
    assert b"apiVersion: reconciler.imagestreams.io/v2" in text
    fast = yamlfast.load(text)
    assert fast is not yamlfast.NOT_OURS
    assert fast == machine_yaml().load(text)
    assert render_lock(parse_lock(text)) == text
