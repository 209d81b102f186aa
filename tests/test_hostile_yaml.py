"""No YAML or JSON text from a repository can crash, hang or exhaust the process
(DESIGN.md, "Whom we trust"): nesting, node counts, aliases and merge keys have limits
checked before the parser recurses (reconciler/core/yamlguard.py), and every refusal
is one line at the file, line and column it is about. Each parser of repo text is
checked: manifests, the round-trip editor, the lockfile, trigger records,
.reconciler.yaml, and the daemon's config and webhook bodies."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.core import editing, yamlguard
from reconciler.core.lockfile import LockfileError, parse_lock
from reconciler.core.manifests import parse_manifests
from reconciler.core.repoconfig import parse_repo_config
from reconciler.core.violations import Violation
from reconciler.daemon.config import DaemonConfigError, parse_daemon_config
from reconciler.daemon.webhooks import registry_pushes
from reconciler.files import triggerstore

DEEP_FLOW = "[" * 10_000 + "]" * 10_000 + "\n"
DEEP_BLOCK = "".join(" " * i + f"k{i}:\n" for i in range(150)) + " " * 150 + "leaf: 1\n"
DEEP_COMPACT = "- " * 5_000 + "x\n"
DEEP_MAPPINGS = "a: " + "{b: " * 5_000 + "c" + "}" * 5_000 + "\n"
TOO_DEEP = f"nesting deeper than {yamlguard.MAX_DEPTH} levels"


def problems_of(parser: str, text: str, tmp_path: Path) -> list[tuple[int, int, str]]:
    """What ``parser`` says about ``text``: (line, column, message) per problem. Any
    exception other than the parser's documented error fails the test."""
    if parser == "manifests":
        return [(v.line, v.column, v.message) for v in parse_manifests(text, "f.yaml").violations]
    if parser == "repoconfig":
        return [(v.line, v.column, v.message) for v in parse_repo_config(text, "f.yaml")[1]]
    if parser == "lockfile":
        try:
            parse_lock(text.encode())
        except LockfileError as exc:
            return [(exc.line, exc.column, str(exc))]
        return []
    if parser == "editor":
        try:
            editing.ManifestFile(text)
        except editing.EditError as exc:
            return [(exc.line, exc.column, str(exc))]
        return []
    if parser == "daemon-config":
        try:
            parse_daemon_config(text, "f.yaml", {})
        except DaemonConfigError as exc:
            return [_split(p.removeprefix("f.yaml:")) for p in exc.problems]
        return []
    if parser == "trigger-record":
        (tmp_path / "triggers").mkdir(exist_ok=True)
        (tmp_path / "triggers" / "f.yaml").write_text(text)
        _, found = triggerstore.read_records(tmp_path)
        return [_split(p.removeprefix("triggers/f.yaml:")) for p in found]
    raise AssertionError(parser)


def _split(text: str) -> tuple[int, int, str]:
    line, column, message = text.split(":", 2)
    return int(line), int(column), message.strip()


PARSERS = ["manifests", "repoconfig", "lockfile", "editor", "daemon-config", "trigger-record"]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        (DEEP_FLOW, 1, 101),
        (DEEP_BLOCK, 101, 101),
        (DEEP_COMPACT, 1, 1),
        (DEEP_MAPPINGS, 1, 400),
    ],
    ids=["flow", "block", "compact", "flow-mappings"],
)
def test_deep_nesting_is_one_problem_at_its_place(
    parser: str, text: str, line: int, column: int, tmp_path: Path
) -> None:
    found = problems_of(parser, text, tmp_path)
    assert len(found) == 1, found
    assert found[0][:2] == (line, column)
    assert TOO_DEEP in found[0][2]


def test_nesting_up_to_the_limit_parses() -> None:
    depth = yamlguard.MAX_DEPTH - 1  # the document's mapping is the first level
    text = "kind: ImageStream\nmetadata: {name: a}\nx: " + "[" * depth + "]" * depth + "\n"
    assert parse_manifests(text, "f.yaml").violations == []


def test_a_hundred_thousand_levels_exit_normally_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".reconciler.yaml").write_text("defaultNamespace: team\n")
    (tmp_path / "deep.yaml").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    (tmp_path / "ok.yaml").write_text(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: ok\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    assert f"deep.yaml:1:101: refused: {TOO_DEEP}" in done.stdout
    assert "invalid: 1 objects in 2 files, 1 errors" in done.stdout  # ok.yaml still read


def test_json_webhook_bodies_have_the_same_limit() -> None:
    with pytest.raises(ValueError, match=TOO_DEEP):
        registry_pushes(b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert registry_pushes(b'{"events": [[[]]]}') == []


# ------------------------------------------------------------------ super-linear parses


def timed(parse: Callable[[], list[Violation]]) -> tuple[float, list[Violation]]:
    started = time.perf_counter()
    found = parse()
    return time.perf_counter() - started, found


def test_merge_keys_sharing_an_anchor_are_capped() -> None:
    # ruamel's round-trip loader is quadratic here: 35 s at 2,500 lines before the cap.
    text = "b: &b {k: v}\n" + "".join(f"y{i}: {{<<: *b}}\n" for i in range(2_500))
    seconds, found = timed(lambda: parse_manifests(text, "f.yaml").violations)
    assert seconds < 2
    cap = yamlguard.MAX_MERGE_KEYS
    assert [v.text() for v in found] == [
        f"f.yaml:{cap + 2}:7: refused: more than {cap} merge keys (<<) in one file"
    ]


def test_aliases_are_capped() -> None:
    text = "b: &b {k: v}\n" + "".join(f"y{i}: *b\n" for i in range(1_000))
    seconds, found = timed(lambda: parse_manifests(text, "f.yaml").violations)
    assert seconds < 2
    cap = yamlguard.MAX_ALIASES
    assert [v.text() for v in found] == [
        f"f.yaml:{cap + 2}:7: refused: more than {cap} aliases in one file"
    ]


def test_nodes_per_file_are_capped() -> None:
    items = yamlguard.MAX_NODES + 10
    text = "kind: ImageStream\nitems: [" + "a, " * items + "]\n"
    seconds, found = timed(lambda: parse_manifests(text, "f.yaml").violations)
    assert seconds < 10
    assert len(found) == 1 and found[0].line == 2
    assert found[0].message == f"refused: more than {yamlguard.MAX_NODES} nodes in one file"


def test_aliases_that_expand_too_far_are_refused_at_the_anchor() -> None:
    text = "a: &a [" + ", ".join(["x"] * 10) + "]\n"
    for name, previous in zip("bcdef", "abcde", strict=True):
        text += f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]\n"
    seconds, found = timed(lambda: parse_manifests(text, "f.yaml").violations)
    assert seconds < 2
    assert len(found) == 1 and "aliases expand past" in found[0].message
    assert found[0].line > 1


@pytest.mark.parametrize("parser", ["manifests", "lockfile", "daemon-config"])
def test_an_alias_inside_its_own_anchor_is_refused(parser: str, tmp_path: Path) -> None:
    found = problems_of(parser, "a: &x\n  b: *x\n", tmp_path)
    assert len(found) == 1 and "recursive YAML alias" in found[0][2]


def test_a_long_alias_chain_in_one_stream_validates_in_linear_time() -> None:
    from reconciler.core.repoconfig import RepoConfig
    from reconciler.core.validation import validate_objects

    tags = ["    - name: t0\n      from: {kind: DockerImage, name: quay.io/a/b}\n"]
    tags += [
        f"    - name: t{i}\n      from: {{kind: ImageStreamTag, name: 'big:t{i - 1}'}}\n"
        for i in range(1, 2_000)
    ]
    text = "kind: ImageStream\nmetadata:\n  name: big\nspec:\n  tags:\n" + "".join(tags)
    objects = parse_manifests(text, "f.yaml").objects
    seconds, found = timed(
        lambda: validate_objects(objects, RepoConfig(), lambda o: [], []).violations
    )
    assert seconds < 5  # was cubic: over 8 minutes at this size
    assert found == []


# ------------------------------------------------------------------ values that cannot be built


@pytest.mark.parametrize("value", ["2024-13-45", "2024-02-30T10:00:00Z"])
def test_a_value_that_cannot_be_built_is_reported_where_it_stands(value: str) -> None:
    text = (
        "kind: ImageStream\nmetadata:\n  name: web\nspec:\n  tags:\n  - name: v1\n"
        f"    annotations:\n      built: {value}\n"
    )
    (problem,) = parse_manifests(text, "is.yaml").violations
    assert (problem.line, problem.column) == (8, 14)
    assert problem.message.startswith("YAML error:")


# ------------------------------------------------------------------ control characters


@pytest.mark.parametrize("char", ["\x07", "\x00", "\x1b", "\x7f", "\x9b"])
@pytest.mark.parametrize("parser", ["manifests", "repoconfig", "lockfile", "trigger-record"])
def test_a_control_character_is_reported_at_its_line_and_column(
    parser: str, char: str, tmp_path: Path
) -> None:
    text = f"apiVersion: v1\nkind: ImageStream\nmetadata:\n  name: a{char}b\n"
    found = problems_of(parser, text, tmp_path)
    assert len(found) == 1, found
    line, column, message = found[0]
    assert (line, column) == (4, 10)
    assert "control character \\x" in message
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", message)  # one line, nothing raw


def test_a_control_character_never_reaches_a_violations_text() -> None:
    violation = Violation("f\x00.yaml", 1, 1, "ImageStream/ns/a\x1b[2J", "x\ny", "got 'a\x07'")
    for text in (violation.text(), violation.github()):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)
        assert "\n" not in text
    assert violation.text() == "f\\x00.yaml:1:1: ImageStream/ns/a\\x1b[2J: x\\x0ay: got 'a\\x07'"


def test_the_lock_writer_writes_only_what_it_can_read_back() -> None:
    from reconciler.core.yamltext import dump_machine_yaml, load_machine_yaml

    data = {"c1": "a\x9bb", "nul": "a\x00b", "nel": "a\x85b", "ls": "a\u2028b", "e": "é"}
    assert load_machine_yaml(dump_machine_yaml(data)) == data
    # A lone surrogate has no YAML form a reader accepts: it is written as U+FFFD.
    assert load_machine_yaml(dump_machine_yaml({"s": "a\ud800b"})) == {"s": "a\ufffdb"}


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("? " * 16 + "x\n", 1, 1),  # ruamel hashes nested keys in exponential time
        ("{" * 20 + "a: b" + "}: c" * 20 + "\n", 1, 20),
        ("a: &a {x: 1}\nb: {*a : 1}\n", 1, 4),  # through an alias: at the anchor
    ],
    ids=["explicit", "flow-mapping", "alias"],
)
def test_keys_that_are_collections_are_refused_in_time(text: str, line: int, column: int) -> None:
    seconds, found = timed(lambda: parse_manifests(text, "f.yaml").violations)
    assert seconds < 2
    assert len(found) == 1 and (found[0].line, found[0].column) == (line, column)
    assert "key" in found[0].message and found[0].message.startswith("refused")


def test_an_anchor_defined_twice_in_a_document_is_refused() -> None:
    text = "a: &x 1\nb: &x 2\nc: *x\n"
    assert [v.text() for v in parse_manifests(text, "f.yaml").violations] == [
        "f.yaml:2:4: refused: anchor &x defined twice"
    ]
    assert parse_manifests("a: &x 1\n---\nb: &x 2\n", "f.yaml").violations == []
