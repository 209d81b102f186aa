"""``exclude-tags`` end to end against a real docker-registry and a bare git remote, with an
injected clock (tests/test_holds_integration.py's set-up): a known-bad release, pinned and
written back, is excluded in a human's commit; the next pass moves the tag down to the best
remaining candidate, and the lock, the plan, the commit message, the trigger records and
`describe` say so."""

from __future__ import annotations

from pathlib import Path

import pytest
from git_fixtures import git
from policy_fixtures import (
    NS,
    Clock,
    MakeRemote,
    command,
    deployment,
    entry,
    last_message,
    picked,
    reconcile,
    records,
    stream_yaml,
)

from reconciler.core.lockrecords import PolicySpec
from testsupport.images import push_tags
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
CONFIG = f"defaultNamespace: {NS}\nwriteBack: true\n"


def test_an_excluded_pinned_release_moves_the_tag_down(
    local_registry: LocalRegistry,
    upstream: tuple[str, dict[str, str]],
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
) -> None:
    repository, digests = upstream
    added = push_tags(local_registry.url, unique_repo, ["1.4.8"], unique_repo)["1.4.8"]
    remote = make_remote(
        {
            ".reconciler.yaml": CONFIG,
            "app.yaml": stream_yaml(
                {
                    "stable": (repository, {"semver": "~1.4"}),
                    "guarded": (repository, {"semver": "~1.4"}),
                }
            ),
            "web.yaml": deployment("web", "stable"),
        }
    )
    clock = Clock()
    assert reconcile(remote, tmp_path, clock).pushed
    assert picked(remote) == {"stable": "1.4.8", "guarded": "1.4.8"}
    assert entry(remote, "stable").digest == added
    before = records(remote)

    # 1.4.8 is bad. The human excludes it on stable, whose from.name (written back) still
    # names 1.4.8: neither the lock's pin nor from.name holds the floor at an excluded tag.
    git("pull", "-q", "origin", "main", cwd=remote.human)
    written = remote.show("app.yaml")
    assert f"name: {repository}:1.4.8" in written
    excluded = written.replace(
        "imagestream-reconciler.io/semver: '~1.4'\n",
        "imagestream-reconciler.io/semver: '~1.4'\n"
        "        imagestream-reconciler.io/exclude-tags: '1.4.8, 1.5.*'\n",
        1,
    )
    assert excluded != written
    remote.commit({"app.yaml": excluded}, "exclude 1.4.8")
    clock.advance(hours=1)
    result = reconcile(remote, tmp_path, clock)
    assert result.pushed
    assert picked(remote) == {"stable": "1.4.7", "guarded": "1.4.8"}  # guarded: no exclusion
    stable = entry(remote, "stable")
    assert stable.digest == digests["1.4.7"]
    assert stable.source.policy == PolicySpec(semver="~1.4", exclude=("1.4.8", "1.5.*"))
    lock_text = remote.show("images.lock.yaml")
    assert "policy: {semver: '~1.4', exclude: [1.4.8, '1.5.*']}" in lock_text
    assert f"{NS}/app:stable: moving down from 1.4.8 to 1.4.7 (1.4.8 excluded by exclude-tags)" in (
        result.plan.notes
    )
    message = last_message(remote)
    assert (
        f"{NS}/app:stable: {added[:19]} -> {digests['1.4.7'][:19]} (1.4.8 -> 1.4.7: 1.4.8 "
        "excluded (exclude-tags); picked 1.4.7 over 1.4.6 by semver ~1.4 (2 candidates))"
    ) in message, message
    assert f"name: {repository}:1.4.7" in remote.show("app.yaml")  # written back
    assert [name for name in records(remote) - before if "deploy-web" in name], "a record opens"

    # describe shows the list; a pass later nothing moves back up to 1.4.8.
    git("pull", "-q", "origin", "main", cwd=remote.human)
    code, out = command("describe", "is/app", "--repo", str(remote.human), "--now", clock.text)
    assert code == 0, out
    assert (
        "    version policy: semver ~1.4, excluding 1.4.8, 1.5.*; picked 1.4.7 over 1.4.6 by "
        "semver ~1.4 (2 candidates)"
    ) in out
    code, out = command(
        "describe", "is/app", "-o", "json", "--repo", str(remote.human), "--now", clock.text
    )
    assert code == 0 and '"exclude": [' in out, out
    clock.advance(hours=1)
    assert reconcile(remote, tmp_path, clock).commit is None
    assert picked(remote) == {"stable": "1.4.7", "guarded": "1.4.8"}
