"""The fast reader of our own YAML dialect (reconciler.core.yamlfast) against the full
loader: on everything we write it takes the fast path and gives the same data; on any
other text (mutations of ours, hand edits) it either gives what the full loader gives or
steps aside (NOT_OURS), never something else, and never when the full loader refuses
the text. Random cases come from a fixed seed: the same cases on every run."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.error import YAMLError

from reconciler.core import yamlfast
from reconciler.core.lockfile import render_lock
from reconciler.core.manifests import ObjectKey
from reconciler.core.streams import TagRef
from reconciler.core.triggers import TriggerRecord, render_record
from reconciler.core.yamltext import Flow, dump_machine_yaml, machine_yaml

GOLDEN = Path(__file__).parent / "golden"
# Strings that YAML might read as something else, or that need quoting somewhere.
TRICKY = [
    "", " ", "a b", "a: b", "a:b", "a #b", "a#b", "#a", "-", "- a", "?", ":", "'", "''",
    '"', "\\", "\\n", "true", "True", "yes", "no", "on", "null", "~", "1", "0", "012",
    "1.0", "1e3", ".inf", "0x1F", "1_000", "2024-01-01", "2024-01-01T00:00:00Z", "=", "<<",
    "{}", "[]", "{a: b}", "[a]", "a,b", "a]", "&a", "*a", "!a", "|", ">", "%a", "@a", "`a",
    "é", "日本", "\t", "a\tb", "\n", "a\nb", "\x00", "\x7f", "\x85", "\u2028", "\ufeff",
    "sha256:" + "a" * 64, "quay.io/team/web@sha256:" + "b" * 64, "127.0.0.1:5000/x:1",
    "$(VAR)", "${PARAM}", "a b ", " a", "a'b", "it's", "a\"b",
]  # fmt: skip


def full(text: str) -> Any:
    return machine_yaml().load(text)


def random_scalar(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.1:
        return rng.choice([True, False])
    if roll < 0.2:
        return rng.randrange(0, 10**6)
    if roll < 0.6:
        return rng.choice(TRICKY)
    return "".join(rng.choice("abc:/.-_ #'\"é0{}") for _ in range(rng.randrange(1, 12)))


def random_data(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = Flow() if depth > 0 and rng.random() < 0.2 else {}
    for _ in range(rng.randrange(1, 5)):
        key = str(random_scalar(rng))
        if isinstance(out, Flow) and rng.random() < 0.25:
            # A list of scalars in a flow mapping (a policy's exclude: [1.4.8, '1.5.*']).
            out[key] = [random_scalar(rng) for _ in range(rng.randrange(0, 4))]
        elif isinstance(out, Flow) or depth >= 3 or rng.random() < 0.5:
            out[key] = random_scalar(rng)
        elif rng.random() < 0.5:
            out[key] = random_data(rng, depth + 1)
        else:
            out[key] = [
                random_data(rng, depth + 1) if rng.random() < 0.5 else random_scalar(rng)
                for _ in range(rng.randrange(0, 4))
            ]
    return out


def ours() -> list[str]:
    """Texts we write: the golden locks (v2 rendered again from v1), a lock with every
    record of how a tag was chosen, a trigger record."""
    from test_core_lockfile import basic_lock  # one model, both formats
    from test_core_lockrecords import policy_lock  # waiting items with a tag, a digest, both

    texts = [render_lock(basic_lock()).decode(), (GOLDEN / "lock_basic_v1.yaml").read_text()]
    texts.append(render_lock(policy_lock()).decode())
    record = TriggerRecord(
        id="dc-web-0123456789ab",
        type="ImageChange",
        consumer=ObjectKey("DeploymentConfig", "team", "web"),
        tag=TagRef("team", "web", "1.0"),
        from_digest=None,
        to_digest="sha256:" + "c" * 64,
        image="quay.io/team/web@sha256:" + "c" * 64,
        automatic=True,
        container_names=("web", "side car"),
        created="2024-01-01T00:00:00Z",
    )
    texts.append(render_record(record).decode())
    return texts


@pytest.mark.parametrize("index", range(4))
def test_what_we_write_takes_the_fast_path(index: int) -> None:
    text = ours()[index]
    fast = yamlfast.load(text)
    assert fast is not yamlfast.NOT_OURS
    assert fast == full(text)


def test_random_data_round_trips_through_the_fast_path() -> None:
    rng = random.Random(12)
    for _ in range(600):
        data = random_data(rng)
        text = dump_machine_yaml(data, "# header\n").decode()
        fast = yamlfast.load(text)
        expected = full(text)
        # Strings we cannot write raw are written escaped; the fast path may step
        # aside there, but never disagree.
        assert fast is yamlfast.NOT_OURS or fast == expected, text
        if all(ch not in str(data) for ch in "\x00\x7f\x85\u2028\ufeff\t\n\\"):
            assert fast == expected == data, text


@pytest.mark.parametrize(
    "text",
    [
        "p: {a: [x,y]}\n",  # YAML's list, not ours: stepped aside
        "p: {a: [x, ]}\n",
        "p: {a: [ x]}\n",
        "p: {a: [[x]]}\n",
        "p: {a: [{b: c}]}\n",
        "p: {a: [b: c]}\n",  # a one-pair mapping in a flow sequence
        "p: {a: [x]]}\n",
        "p: {a: [x}\n",
        "p: {[x]: y}\n",
        "p: [x, y]\n",  # a flow sequence as a block value: we never write one
    ],
)
def test_flow_lists_we_do_not_write_give_the_full_answer_or_step_aside(text: str) -> None:
    fast = yamlfast.load(text)
    try:
        expected = full(text)
    except (YAMLError, ValueError, TypeError):
        assert fast is yamlfast.NOT_OURS
        return
    assert fast is yamlfast.NOT_OURS or fast == expected


def test_a_policys_exclude_list_takes_the_fast_path() -> None:
    text = "policy: {semver: '~1.4', exclude: [1.4.8, '1.5.*', '1.6.?'], tags: []}\n"
    assert (
        dump_machine_yaml(
            {"policy": Flow(semver="~1.4", exclude=["1.4.8", "1.5.*", "1.6.?"], tags=[])}
        )
        == text.encode()
    )
    assert yamlfast.load(text) == full(text)
    assert yamlfast.load(text)["policy"]["exclude"] == ["1.4.8", "1.5.*", "1.6.?"]


def mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    at = rng.randrange(len(lines))
    roll = rng.random()
    if roll < 0.25 and lines[at]:
        col = rng.randrange(len(lines[at]))
        lines[at] = lines[at][:col] + rng.choice([*TRICKY, " ", "  "]) + lines[at][col:]
    elif roll < 0.45 and lines[at]:
        col = rng.randrange(len(lines[at]))
        lines[at] = lines[at][:col] + lines[at][col + 1 :]
    elif roll < 0.6:
        lines.insert(at, lines[rng.randrange(len(lines))])
    elif roll < 0.75:
        lines[at] = " " * rng.choice([1, 2, 3]) + lines[at]
    elif roll < 0.85:
        lines[at] = lines[at].lstrip(" ")
    else:
        del lines[at]
    return "\n".join(lines)


def test_mutations_give_the_full_loaders_answer_or_step_aside() -> None:
    rng = random.Random(7)
    bases = ours()
    for _ in range(1200):
        text = mutate(rng, rng.choice(bases))
        for _ in range(rng.randrange(3)):
            text = mutate(rng, text)
        fast = yamlfast.load(text)
        try:
            expected = full(text)
        except (YAMLError, ValueError, TypeError):
            assert fast is yamlfast.NOT_OURS, text
            continue
        assert fast is yamlfast.NOT_OURS or fast == expected, text
