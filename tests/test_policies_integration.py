"""Version policies end to end (issue 9): a real docker-registry holding a repository with
tags ``1.2.0 1.4.6 1.4.7 1.5.0-rc.1 2.0.0 latest``, a bare git remote, and streams whose
tags choose from it by ``~1.4``, ``^1`` and ``>=1.0 <3``, each with and without
pre-releases. Adding ``1.4.8`` upstream moves only the tags that should move, with one
trigger record per consumer; removing it moves nothing back. The lock and the commit
message say what was picked over what, by which policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from git_fixtures import git
from policy_fixtures import (
    NS,
    Clock,
    MakeRemote,
    command,
    delete_tag,
    deployment,
    entry,
    last_message,
    lock_of,
    picked,
    reconcile,
    records,
    stream_yaml,
)

from reconciler.core.lockrecords import ChosenRecord
from reconciler.core.streams import TagRef
from testsupport.images import push_tags
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
# stream tag -> (range, pre-releases)
POLICIES = {
    "tilde": ("~1.4", False),
    "tilde-pre": ("~1.4", True),
    "caret": ("^1", False),
    "caret-pre": ("^1", True),
    "range": (">=1.0 <3", False),
    "range-pre": (">=1.0 <3", True),
}


def policy_stream(repository: str) -> str:
    return stream_yaml(
        {
            name: (
                repository,
                {"semver": semver, **({"include-prereleases": "true"} if pre else {})},
            )
            for name, (semver, pre) in POLICIES.items()
        }
    )


DEPLOYMENT_CONFIG = f"""\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: legacy
  namespace: {NS}
spec:
  replicas: 1
  selector:
    app: legacy
  template:
    metadata:
      labels:
        app: legacy
    spec:
      containers:
        - name: legacy
          image: " "
  triggers:
    - type: ImageChange
      imageChangeParams:
        automatic: true
        containerNames: [legacy]
        from:
          kind: ImageStreamTag
          name: "app:tilde"
"""


def test_policies_pick_move_only_forward_and_open_one_record_per_consumer(
    local_registry: LocalRegistry,
    upstream: tuple[str, dict[str, str]],
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
) -> None:
    repository, digests = upstream
    files = {
        ".reconciler.yaml": f"defaultNamespace: {NS}\n",
        "app.yaml": policy_stream(repository),
        "legacy.yaml": DEPLOYMENT_CONFIG,
        **{f"deploy-{tag}.yaml": deployment(f"web-{tag}", tag) for tag in POLICIES},
    }
    remote = make_remote(files)
    clock = Clock()

    first = reconcile(remote, tmp_path, clock)
    assert first.pushed
    assert picked(remote) == {
        "tilde": "1.4.7",
        "tilde-pre": "1.4.7",
        "caret": "1.4.7",
        "caret-pre": "1.5.0-rc.1",
        "range": "2.0.0",
        "range-pre": "2.0.0",
    }
    tilde = entry(remote, "tilde")
    assert tilde.chosen == ChosenRecord("1.4.7", 2, "1.4.6")
    assert tilde.digest == digests["1.4.7"]
    assert tilde.image == f"{repository}@{digests['1.4.7']}"
    assert tilde.resolved_from == f"{repository}:1.4.7"
    assert entry(remote, "caret-pre").chosen == ChosenRecord("1.5.0-rc.1", 4, "1.4.7")
    lock_text = remote.show("images.lock.yaml")
    assert "policy: {semver: '~1.4'}" in lock_text
    assert "chosen: {tag: 1.4.7, over: 1.4.6, candidates: 2}" in lock_text
    message = last_message(remote)
    assert "picked 1.4.7 over 1.4.6 by semver ~1.4 (2 candidates)" in message
    assert (
        "picked 1.5.0-rc.1 over 1.4.7 by semver ^1 (pre-releases included) (4 candidates)"
        in message
    )
    opened = records(remote)

    # Nothing new upstream: no commit.
    count = remote.commit_count()
    clock.advance(minutes=5)
    assert reconcile(remote, tmp_path, clock).commit is None
    assert remote.commit_count() == count

    # 1.4.8 appears: ~1.4 (both) and ^1 without pre-releases move; the others stay, and
    # their lock entries do not change at all.
    before = lock_of(remote)
    added = push_tags(local_registry.url, unique_repo, ["1.4.8"], unique_repo)["1.4.8"]
    clock.advance(minutes=5)
    moved = reconcile(remote, tmp_path, clock)
    assert moved.pushed
    after = lock_of(remote)
    assert (
        picked(remote)["tilde"] == picked(remote)["tilde-pre"] == picked(remote)["caret"] == "1.4.8"
    )
    for tag in ("caret-pre", "range", "range-pre"):
        ref = TagRef(NS, "app", tag)
        assert after.get(ref) == before.get(ref), tag
    assert entry(remote, "tilde").digest == added
    assert entry(remote, "tilde").chosen == ChosenRecord("1.4.8", 3, "1.4.7")
    new_records = sorted(name.split("/")[1].rsplit("-", 1)[0] for name in records(remote) - opened)
    assert new_records == [
        "dc-legacy",
        "deploy-web-caret",
        "deploy-web-tilde",
        "deploy-web-tilde-pre",
    ]
    message = last_message(remote)
    assert message.startswith("reconciler: move 3 tags, open 4 triggers")
    assert (
        f"{NS}/app:tilde: {digests['1.4.7'][:19]} -> {added[:19]} (1.4.7 -> 1.4.8: picked 1.4.8 "
        "over 1.4.7 by semver ~1.4 (3 candidates))"
    ) in message

    # 1.4.8 disappears upstream: nothing moves back, no commit; the plan says why.
    delete_tag(local_registry.url, unique_repo, added)
    count = remote.commit_count()
    clock.advance(minutes=5)
    kept = reconcile(remote, tmp_path, clock)
    assert kept.commit is None and remote.commit_count() == count
    assert picked(remote)["tilde"] == "1.4.8"
    assert any(
        n.startswith(f"{NS}/app:tilde: kept 1.4.8: {repository} lists nothing semver ~1.4 admits")
        for n in kept.plan.notes
    ), kept.plan.notes


def test_plan_json_says_what_moved_from_what_to_what_by_which_policy(
    local_registry: LocalRegistry,
    upstream: tuple[str, dict[str, str]],
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
) -> None:
    """A CI job reads ``plan -o json`` rather than parse sentences: each change has the
    digests and upstream tags it moves between, and the policy that picked."""
    repository, digests = upstream
    remote = make_remote(
        {
            ".reconciler.yaml": f"defaultNamespace: {NS}\n",
            "app.yaml": stream_yaml(
                {"tilde": (repository, {"semver": "~1.4"}), "fixed": (f"{repository}:2.0.0", {})}
            ),
        }
    )
    clock = Clock()
    assert reconcile(remote, tmp_path, clock).pushed
    added = push_tags(local_registry.url, unique_repo, ["1.4.8"], unique_repo)["1.4.8"]
    git("pull", "-q", "origin", "main", cwd=remote.human)
    code, out = command(
        "plan", "-o", "json", "--repo", str(remote.human),
        "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert code == 0, out
    (change,) = json.loads(out)["changes"]
    assert change["tag"] == f"{NS}/app:tilde" and change["kind"] == "moved"
    assert change["from"] == {"digest": digests["1.4.7"], "upstreamTag": "1.4.7"}
    assert change["to"] == {"digest": added, "upstreamTag": "1.4.8"}
    assert change["policy"] == "semver ~1.4"
