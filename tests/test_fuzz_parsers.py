"""Fuzzing every parser of text that others write (hypothesis): manifests (with the schema
and cross-object checks behind them), the lockfile, trigger records, the daemon's config
and webhook bodies. Whatever the text (YAML-ish fragments, deep nesting, anchors and
merge keys, control characters, huge scalars, mutated real documents), no exception
escapes but the documented one, and every problem names its file and line.

The budget is fixed (the "fuzz" profile in conftest.py: a few hundred examples per
test, derandomized, well under 20 s for the module). For a long run, random each time:
``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_fuzz_parsers.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.lockfile import LockfileError, parse_lock, render_lock
from reconciler.core.manifests import parse_manifests
from reconciler.core.repoconfig import RepoConfig, parse_repo_config
from reconciler.core.secrets import Secret
from reconciler.core.triggers import TriggerRecordError, parse_record, render_record
from reconciler.core.validation import validate_objects
from reconciler.core.yamltext import dump_yaml_text
from reconciler.daemon.config import DaemonConfigError, load_daemon_config, parse_daemon_config
from reconciler.daemon.webhooks import registry_pushes, verify_bearer, verify_git_webhook
from reconciler.files import schemas

FRAGMENTS = [
    "\n",
    "  ",
    "    ",
    "- ",
    "? ",
    ": ",
    ":",
    ", ",
    "[",
    "]",
    "{",
    "}",
    "'",
    '"',
    "\\",
    "# c",
    " #",
    "&a ",
    "&b ",
    "*a",
    "*b",
    "<<: *a",
    "<<: [*a, *b]",
    "!tag ",
    "!!str ",
    "!!binary ",
    "!!python/object:os.system ",
    "|",
    ">-",
    "|2",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "\x00",
    "\x07",
    "\x1b[2J",
    "\t",
    "\r",
    "\r\n",
    "\x85",
    "\u2028",
    "\ufeff",
    '"\\0\\ud800\\x1b"',
    "~",
    "null",
    "1e400",
    "0x1F",
    "2024-13-45",
    "=",
    "kind: ImageStream\n",
    "kind: List\n",
    "kind: Template\n",
    "kind: BuildConfig\n",
    "kind: DeploymentConfig\n",
    "kind: ImageLock\n",
    "kind: TriggerRecord\n",
    "apiVersion: image.openshift.io/v1\n",
    "apiVersion: reconciler.imagestreams.io/v1\n",
    "metadata:\n  name: a\n",
    'metadata: {name: "a\\0b"}\n',
    "spec:\n  tags:\n  - name: x\n    from: {kind: ImageStreamTag, name: 'a:x'}\n",
    "items:\n- ",
    "objects:\n- ",
    "namespaces:\n  ns:\n    imageStreams:\n      s:\n        t:\n",
    "repo: {url: x}\n",
    "webhooks:\n  github: {secretEnv: NOPE}\n",
    "x" * 5_000,
]

yamlish = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=12), min_size=0, max_size=40).map(
    "".join
)


@st.composite
def deep(draw: st.DrawFn) -> str:
    """Nesting of every kind, up to far past the limit, possibly unbalanced."""
    depth = draw(st.integers(0, 3_000))
    opener, closer = draw(
        st.sampled_from(
            [("[", "]"), ("{a: ", "}"), ("[a: ", "]"), ("- ", ""), ("? ", ""), ("&x [", "]")]
        )
    )
    indented = draw(st.booleans())
    if indented and not closer:
        text = "".join(" " * i + opener + "\n" for i in range(min(depth, 400)))
    else:
        text = opener * depth + "x" + closer * draw(st.integers(0, depth))
    return draw(st.sampled_from(["", "k: ", "kind: ImageStream\nspec: "])) + text


KEYS = [
    "kind",
    "apiVersion",
    "metadata",
    "name",
    "namespace",
    "spec",
    "tags",
    "from",
    "items",
    "namespaces",
    "imageStreams",
    "consumers",
    "history",
    "digest",
    "id",
    "consumer",
    "type",
    "created",
    "status",
    "repo",
    "url",
    "webhooks",
    "listen",
]
json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["ImageStream", "DockerImage", "sha256:" + "a" * 64, "2026-01-01T00:00:00Z"]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(KEYS) | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=40,
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A well-formed document (block YAML, or JSON) with fragments spliced in."""
    data = draw(json_like)
    text = dump_yaml_text(data) if draw(st.booleans()) else json.dumps(data)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(FRAGMENTS)) + text[at:]
    return text


@st.composite
def huge(draw: st.DrawFn) -> str:
    """Long scalars, many items, many aliases or merge keys."""
    n = draw(st.integers(1, 400))
    return draw(
        st.sampled_from(
            [
                "k: " + "y" * (n * 1_000) + "\n",
                "k: '" + "''" * (n * 200) + "'\n",
                "b: &b {k: v}\n" + "".join(f"y{i}: {{<<: *b}}\n" for i in range(n)),
                "b: &b [1]\n" + "".join(f"y{i}: *b\n" for i in range(n)),
                "items: [" + "a, " * (n * 100) + "]\n",
            ]
        )
    )


texts = yamlish | deep() | mutated() | huge()
LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>[1-9][0-9]*):(?P<column>[1-9][0-9]*): .")


def located(problem: str, file: str) -> None:
    found = LOCATED.match(problem)
    assert found is not None and found["file"] == file, problem
    assert "\n" not in problem


@given(texts)
def test_manifests(text: str) -> None:
    parsed = parse_manifests(text, "f.yaml")
    report = validate_objects(parsed.objects, RepoConfig(), schemas.check_schema, parsed.violations)
    for violation in report.violations:
        assert violation.file == "f.yaml" and violation.line >= 1 and violation.column >= 1
        located(violation.text(), "f.yaml")
    config, problems = parse_repo_config(text, ".reconciler.yaml")
    assert isinstance(config, RepoConfig)
    for violation in problems:
        located(violation.text(), ".reconciler.yaml")


@given(texts | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_lockfile(text: str) -> None:
    try:
        lock = parse_lock(text.encode("utf-8", "surrogatepass"))
    except LockfileError as exc:
        assert exc.line >= 1 and exc.column >= 1
        assert "\n" not in str(exc)
        return
    assert parse_lock(render_lock(lock)) == lock  # what we read, we can write back


@given(texts | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_trigger_records(text: str) -> None:
    try:
        record = parse_record(text.encode("utf-8", "surrogatepass"), "triggers/f.yaml")
    except TriggerRecordError as exc:
        located(str(exc), "triggers/f.yaml")
        return
    assert record.summary()
    assert parse_record(render_record(record), "triggers/f.yaml") == record


@given(text=texts)
def test_daemon_config(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    directory: Path = tmp_path_factory.mktemp("daemon", numbered=True)
    file = str(directory / "daemon.yaml")
    try:
        parse_daemon_config(text, file, {})
    except DaemonConfigError as exc:
        for problem in exc.problems:
            located(problem, file)


@given(raw=st.binary(max_size=300))
def test_daemon_config_file_bytes(raw: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("daemon", numbered=True) / "daemon.yaml"
    path.write_bytes(raw)
    try:
        load_daemon_config(path, {})
    except DaemonConfigError as exc:
        for problem in exc.problems:
            located(problem, str(path))


headers = st.dictionaries(
    st.sampled_from(
        ["X-Hub-Signature-256", "X-Gitea-Signature", "X-Gitlab-Token", "Authorization", "x"]
    ),
    st.text(max_size=80) | st.sampled_from(["sha256=", "Bearer ", "Bearer s3cret"]),
    max_size=4,
)
bodies = st.binary(max_size=400) | (texts | mutated()).map(
    lambda t: t.encode("utf-8", "surrogatepass")
)
SECRET = Secret("s3cret")


@given(headers, bodies)
def test_webhooks(given_headers: dict[str, str], body: bytes) -> None:
    verdict = verify_git_webhook(given_headers, body, github=SECRET, gitea=SECRET, gitlab=SECRET)
    assert verdict.accepted in (True, False)
    assert verify_bearer(given_headers, SECRET) in (True, False)
    try:
        pushes = registry_pushes(body)
    except ValueError as exc:
        assert "\n" not in str(exc) or str(exc).startswith("not JSON")
        return
    assert all(isinstance(p.repository, str) for p in pushes)


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "action": st.sampled_from(["push", "pull", 1]),
                "target": st.fixed_dictionaries(
                    {"repository": st.text(max_size=5), "tag": st.text(max_size=3) | st.none()}
                )
                | st.none(),
                "request": st.fixed_dictionaries({"host": st.text(max_size=5)}) | st.none(),
            }
        ),
        max_size=6,
    )
)
def test_registry_notifications(events: list[dict[str, object]]) -> None:
    body = json.dumps({"events": events}).encode()
    pushes = registry_pushes(body)
    assert pushes == sorted(pushes, key=lambda p: (p.host, p.repository, p.tag or ""))


# -- version policies, holds, minimum ages (annotations a repository writes) ---------------

POLICY_PIECES = [
    "~", "^", ">=", "<=", "<", ">", "=", " ", "||", ",", " - ", "1", "0", "01", "4", ".",
    "x", "*", "v", "-rc.1", "+b", "-", "(", ")", "(?P<version>", "\\d+", ".*", "[^-]",
    "+", "*", "?", "{2,}", "|", "^", "$", "\\", "(?=", "(?i)", "YYYY", "MM", "0D", "N",
    "MICRO", "h", "d", "m", "s", "T", "Z", "\x00", "é", "\u2028",
]  # fmt: skip
policy_text = st.lists(st.sampled_from(POLICY_PIECES), max_size=12).map("".join) | st.text(
    max_size=40
)
ANNOTATIONS = ["semver", "tag-pattern", "calver", "order", "include-prereleases",
               "allow-downgrade", "exclude-tags", "minimum-age", "hold", "hold-until",
               "semvar"]  # fmt: skip


@given(st.dictionaries(st.sampled_from(ANNOTATIONS), policy_text, max_size=4))
def test_policy_annotations(values: dict[str, str]) -> None:
    from reconciler.core.choosing import choose
    from reconciler.core.resolution import desired_tags
    from reconciler.core.tagrules import rules_of

    annotations = "".join(
        f"        imagestream-reconciler.io/{k}: {json.dumps(v)}\n" for k, v in values.items()
    )
    text = (
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: s\n"
        "spec:\n  tags:\n    - name: t\n"
        + (f"      annotations:\n{annotations}" if annotations else "")
        + "      from:\n        kind: DockerImage\n        name: quay.io/a/b\n"
    )
    parsed = parse_manifests(text, "f.yaml")
    report = validate_objects(parsed.objects, RepoConfig(), schemas.check_schema, parsed.violations)
    for violation in report.violations:
        located(violation.text(), "f.yaml")
    if not report.valid:
        return
    # What validation lets through, the pass can use: it compiles, and it chooses.
    want = desired_tags(report.valid, [], [], RepoConfig())
    for ref, rules in rules_of(report.valid[0]).items():
        if rules.policy is not None:
            tags = ["1.4.7", "v2", "2026.01.31", "a" * 128, "1" * 127 + "x", "latest"]
            choose(
                ref, want.sources[ref], rules, tags, None, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            )


@given(policy_text)
def test_policy_parsers(text: str) -> None:
    from reconciler.core.calver import LayoutError, parse_layout
    from reconciler.core.semver import RangeError, parse_range
    from reconciler.core.tagexclude import ExcludeError, parse_excludes
    from reconciler.core.tagpattern import PatternError, compile_pattern

    for parse, error in (
        (parse_range, RangeError),
        (compile_pattern, PatternError),
        (parse_layout, LayoutError),
        (parse_excludes, ExcludeError),
    ):
        try:
            parse(text)
        except error as exc:  # the one documented error, placed inside the text
            assert exc.offset is None or 0 <= exc.offset <= len(text)


@st.composite
def block_nesting(draw: st.DrawFn) -> str:
    """Block-style nesting only (the texts the lexer-free shortcut may take): mappings,
    sequences under keys at the key's own column, compact "- " chains, any depth."""
    lines, indent = [], 0
    for _ in range(draw(st.integers(1, 80))):
        step = draw(st.sampled_from(["key", "seq-at-key", "compact", "scalar", "back"]))
        pad = " " * indent
        if step == "key":
            lines.append(f"{pad}k{indent}:")
            indent += draw(st.integers(1, 3))
        elif step == "seq-at-key":
            lines.append(f"{pad}s{indent}:")
            dashes = draw(st.integers(1, 3))
            lines.append(pad + "- " * dashes + f"m{indent}:")
            indent += 2 * dashes + draw(st.integers(1, 2))
        elif step == "compact":
            dashes = draw(st.integers(1, 4))
            lines.append(pad + "- " * dashes + "x")
        elif step == "scalar":
            lines.append(f"{pad}v{indent}: plain text - with: dashes")
        else:
            indent = max(0, indent - draw(st.integers(1, 6)))
    return "\n".join(lines) + "\n"


@given(block_nesting() | texts)
def test_the_plain_block_shortcut_never_takes_what_the_lexer_refuses(text: str) -> None:
    from reconciler.core import yamlguard

    # check_yaml takes the shortcut for a text with no forbidden character.
    if yamlguard._FORBIDDEN.search(text) is None and yamlguard._plainly_within_limits(
        text, yamlguard.MAX_NODES
    ):
        assert not isinstance(yamlguard.scan_yaml(text), yamlguard.Refusal), text
        # ...and what it takes composes within the depth limit (ruamel's own view).
        from ruamel.yaml import YAML

        try:
            roots = list(YAML(typ="rt").compose_all(text))
        except Exception:
            return  # not YAML: the parser words that, not the guard
        assert max((_depth(root) for root in roots if root is not None), default=0) <= (
            yamlguard.MAX_DEPTH
        )


def _depth(node: object) -> int:
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    if isinstance(node, MappingNode):
        return 1 + max((_depth(v) for pair in node.value for v in pair), default=0)
    if isinstance(node, SequenceNode):
        return 1 + max((_depth(v) for v in node.value), default=0)
    return 0
