"""Holds, the downgrade guard, the minimum age and write-back of policy tags, end to end
against a real docker-registry and a bare git remote, with an injected clock (issue 9
parts 3 and 4): `reconciler hold` and `release` in a checkout, passes at chosen times,
and what the lock, the plan, `describe` and the commit messages say."""

from __future__ import annotations

from pathlib import Path

import pytest
from git_fixtures import GitRemote, git
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

from reconciler.core.lockrecords import HoldRecord, WaitingItem
from reconciler.core.schedule import ImportPolicy
from reconciler.daemon import statuspage
from reconciler.daemon.status import tag_status
from testsupport.images import push_image, push_tags
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
CONFIG = f"defaultNamespace: {NS}\n"


def test_a_held_tag_keeps_its_digest_until_released_or_its_hold_ends(
    local_registry: LocalRegistry,
    upstream: tuple[str, dict[str, str]],
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
) -> None:
    repository, digests = upstream
    remote = make_remote(
        {
            ".reconciler.yaml": CONFIG,
            "app.yaml": stream_yaml(
                {
                    "stable": (repository, {"semver": "~1.4"}),
                    "beta": (repository, {"semver": "~1.4"}),
                }
            ),
            "web.yaml": deployment("web", "stable"),
        }
    )
    clock = Clock()
    assert reconcile(remote, tmp_path, clock).pushed
    assert picked(remote) == {"stable": "1.4.7", "beta": "1.4.7"}
    first_records = records(remote)

    # Hold stable in a checkout, with a reason and an end; the lock mirrors it.
    git("pull", "-q", "origin", "main", cwd=remote.human)
    code, out = command(
        "hold", "app:stable", "--reason", "INC-4711: canary failing", "--until", "2026-03-05",
        "--repo", str(remote.human), "--commit", "--now", clock.text,
    )  # fmt: skip
    assert code == 0, out
    assert f"Tag app:stable held at {digests['1.4.7'][:19]} until 2026-03-05T00:00:00Z" in out
    manifest = (remote.human / "app.yaml").read_text()
    assert "imagestream-reconciler.io/hold: 'INC-4711: canary failing'" in manifest
    assert "imagestream-reconciler.io/hold-until: '2026-03-05'" in manifest
    assert git("log", "-1", "--format=%s", cwd=remote.human) == "reconciler hold app:stable"
    git("push", "-q", "origin", "HEAD:main", cwd=remote.human)
    assert entry(remote, "stable").hold == HoldRecord(
        "INC-4711: canary failing", clock.text, "2026-03-05T00:00:00Z"
    )
    code, out = command("describe", "is/app", "--repo", str(remote.human), "--now", clock.text)
    assert (
        "  ! held since less than a second ago, until 2026-03-05T00:00:00Z: not updated: "
        "INC-4711: canary failing" in out
    )
    assert (
        "    version policy: semver ~1.4; picked 1.4.7 over 1.4.6 by semver ~1.4 (2 candidates)"
        in out
    )

    # 1.4.8 appears: beta moves, stable stays, and the pass says why.
    push_tags(local_registry.url, unique_repo, ["1.4.8"], unique_repo)
    clock.advance(hours=1)
    result = reconcile(remote, tmp_path, clock)
    assert picked(remote) == {"stable": "1.4.7", "beta": "1.4.8"}
    assert entry(remote, "stable").digest == digests["1.4.7"]
    assert (
        f"held: {NS}/app:stable at 1.4.7 ({digests['1.4.7'][:19]}): INC-4711: canary failing "
        "(until 2026-03-05T00:00:00Z)"
    ) in result.plan.notes
    assert not [
        name for name in records(remote) if "deploy-web" in name and name not in first_records
    ]
    opened = records(remote)
    # The daemon's /status shows the hold and the pick, in its JSON and on its page.
    status = tag_status(lock_of(remote), {}, [], ImportPolicy())
    stable = status[f"{NS}/app:stable"]
    assert stable["hold"] == {
        "reason": "INC-4711: canary failing",
        "until": "2026-03-05T00:00:00Z",
        "since": stable["hold"]["since"],
    }
    assert stable["policy"] == {"semver": "~1.4"}
    assert stable["chosen"] == {"tag": "1.4.7", "over": "1.4.6", "candidates": 2}
    page = statuspage.render({"tags": status}, clock.now.timestamp())
    assert "INC-4711: canary failing" in page and ">held<" in page
    assert "picked 1.4.7 over 1.4.6 by semver ~1.4 (2 candidates)" in page

    # The hold ends by itself: the next pass moves the tag and says the hold expired.
    clock.now = clock.now.replace(day=5, hour=0, minute=0, second=1)
    result = reconcile(remote, tmp_path, clock)
    assert result.pushed
    assert picked(remote)["stable"] == "1.4.8"
    assert entry(remote, "stable").hold is None
    message = last_message(remote)
    assert f"hold expired: {NS}/app:stable: the hold (INC-4711: canary failing) ended at" in message
    assert [name for name in records(remote) - opened if "deploy-web" in name]
    code, out = command("validate", str(remote.human), "--now", clock.text)
    assert code == 0 and "the hold ended at 2026-03-05T00:00:00Z and no longer applies" in out


def test_release_moves_the_tag_in_the_same_change(
    local_registry: LocalRegistry,
    upstream: tuple[str, dict[str, str]],
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
) -> None:
    repository, _ = upstream
    remote = make_remote(
        {
            ".reconciler.yaml": CONFIG,
            "app.yaml": stream_yaml({"stable": (repository, {"semver": "^1"})}),
        }
    )
    clock = Clock()
    reconcile(remote, tmp_path, clock)
    git("pull", "-q", "origin", "main", cwd=remote.human)
    human = str(remote.human)
    assert command("hold", "app:stable", "--reason", "freeze", "--repo", human, "--commit")[0] == 0
    code, out = command("hold", "app:stable", "--reason", "freeze", "--repo", human)
    assert (code, out) == (0, "app:stable is held already: freeze\n")
    git("push", "-q", "origin", "HEAD:main", cwd=remote.human)
    added = push_tags(local_registry.url, unique_repo, ["1.9.0"], unique_repo)["1.9.0"]
    clock.advance(hours=1)
    reconcile(remote, tmp_path, clock)
    assert picked(remote)["stable"] == "1.4.7"

    git("pull", "-q", "origin", "main", cwd=remote.human)
    code, out = command("release", "app:stable", "--repo", human, "--commit")
    assert code == 0, out
    assert out.startswith("Tag app:stable released; moved sha256:")
    assert "imagestream-reconciler.io/hold" not in (remote.human / "app.yaml").read_text()
    assert (
        "annotations:\n        imagestream-reconciler.io/semver"
        in (remote.human / "app.yaml").read_text()
    )
    git("push", "-q", "origin", "HEAD:main", cwd=remote.human)
    assert entry(remote, "stable").digest == added
    assert entry(remote, "stable").hold is None
    assert command("release", "app:stable", "--repo", human) == (
        0,
        "app:stable is not held: nothing to release\n",
    )
    code, _ = command("hold", "app:nope", "--reason", "x", "--repo", human)
    assert code == 1


def test_allow_downgrade_is_the_only_way_back(
    local_registry: LocalRegistry,
    upstream: tuple[str, dict[str, str]],
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
) -> None:
    repository, digests = upstream
    remote = make_remote(
        {
            ".reconciler.yaml": CONFIG,
            "app.yaml": stream_yaml(
                {
                    "guarded": (repository, {"semver": "~1.4"}),
                    "loose": (repository, {"semver": "~1.4", "allow-downgrade": "true"}),
                }
            ),
        }
    )
    clock = Clock()
    added = push_tags(local_registry.url, unique_repo, ["1.4.8"], unique_repo)["1.4.8"]
    reconcile(remote, tmp_path, clock)
    assert picked(remote) == {"guarded": "1.4.8", "loose": "1.4.8"}
    delete_tag(local_registry.url, unique_repo, added)
    clock.advance(hours=1)
    result = reconcile(remote, tmp_path, clock)
    assert picked(remote) == {"guarded": "1.4.8", "loose": "1.4.7"}
    assert entry(remote, "loose").digest == digests["1.4.7"]
    assert f"{NS}/app:loose: moving down from 1.4.8 to 1.4.7 (allow-downgrade)" in result.plan.notes

    # A lock lost (or taken from the other side of a merge) does not lower the floor: the
    # tag written back in from.name still counts.
    remote.commit(
        {
            "app.yaml": stream_yaml({"guarded": (f"{repository}:1.4.8", {"semver": "~1.4"})}),
            "images.lock.yaml": None,
        }
    )
    clock.advance(hours=1)
    result = reconcile(remote, tmp_path, clock)
    assert any("kept 1.4.8" in note for note in result.plan.notes), result.plan.notes
    assert entry(remote, "guarded").digest is None


def test_a_new_candidate_waits_out_the_minimum_age(
    local_registry: LocalRegistry,
    upstream: tuple[str, dict[str, str]],
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
) -> None:
    repository, digests = upstream
    remote = make_remote(
        {
            ".reconciler.yaml": CONFIG,
            "app.yaml": stream_yaml(
                {"stable": (repository, {"semver": "~1.4", "minimum-age": "24h"})}
            ),
        }
    )
    clock = Clock()
    # First sight: nothing has been seen for 24h yet, so nothing is pinned.
    result = reconcile(remote, tmp_path, clock)
    assert entry(remote, "stable").digest is None
    # Each candidate is recorded with the digest it has when first seen.
    assert entry(remote, "stable").waiting == (
        WaitingItem(clock.text, tag="1.4.7", digest=digests["1.4.7"]),
        WaitingItem(clock.text, tag="1.4.6", digest=digests["1.4.6"]),
    )
    assert (
        f"waiting: {NS}/app:stable 1.4.7 first seen now, pinnable in 24 hours (minimum-age 24h)"
        in result.plan.notes
    )
    clock.advance(hours=24)
    assert reconcile(remote, tmp_path, clock).pushed
    assert entry(remote, "stable").digest == digests["1.4.7"]
    assert entry(remote, "stable").waiting == ()

    # 1.4.8 appears: recorded as first seen, pinned 24h later, not before.
    added = push_tags(local_registry.url, unique_repo, ["1.4.8"], unique_repo)["1.4.8"]
    clock.advance(hours=1)
    seen = clock.text
    result = reconcile(remote, tmp_path, clock)
    assert result.pushed  # the first sighting is committed: it must survive a restart
    assert entry(remote, "stable").waiting == (WaitingItem(seen, tag="1.4.8", digest=added),)
    assert entry(remote, "stable").digest == digests["1.4.7"]
    assert "waiting out the minimum age: 1.4.8" in last_message(remote)
    clock.advance(hours=3)
    git("pull", "-q", "origin", "main", cwd=remote.human)
    code, out = command("plan", "--repo", str(remote.human), "--now", clock.text)
    assert code == 0, out
    assert (
        f"waiting: {NS}/app:stable 1.4.8 first seen 3 hours ago, pinnable in 21 hours (minimum-age 24h)"
        in out
    ), out
    count = remote.commit_count()
    assert reconcile(remote, tmp_path, clock).commit is None  # still waiting: nothing new
    assert remote.commit_count() == count
    clock.advance(hours=21)
    assert reconcile(remote, tmp_path, clock).pushed
    assert picked(remote)["stable"] == "1.4.8"
    assert entry(remote, "stable").waiting == ()


def test_a_plain_tags_new_digest_waits_and_a_repush_restarts_the_clock(
    local_registry: LocalRegistry,
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
) -> None:
    url, host = local_registry.url, local_registry.host
    first = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-1")
    remote = make_remote(
        {
            ".reconciler.yaml": CONFIG,
            # The stream's minimum age applies to each registry tag.
            "app.yaml": stream_yaml(
                {"latest": (f"{host}/{unique_repo}:latest", {})}, {"minimum-age": "1h"}
            ),
        }
    )
    clock = Clock()
    reconcile(remote, tmp_path, clock)
    assert entry(remote, "latest").waiting == (WaitingItem(clock.text, digest=first),)
    clock.advance(hours=1)
    reconcile(remote, tmp_path, clock)
    assert entry(remote, "latest").digest == first

    second = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-2")
    clock.advance(minutes=10)
    reconcile(remote, tmp_path, clock)
    assert entry(remote, "latest").digest == first
    assert entry(remote, "latest").waiting == (WaitingItem(clock.text, digest=second),)
    third = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-3")
    clock.advance(minutes=30)
    restarted = clock.text
    reconcile(remote, tmp_path, clock)
    clock.advance(minutes=40)  # second's hour is over; third's is not
    reconcile(remote, tmp_path, clock)
    assert entry(remote, "latest").digest == first
    assert entry(remote, "latest").waiting == (WaitingItem(restarted, digest=third),)
    clock.advance(minutes=20)
    reconcile(remote, tmp_path, clock)
    assert entry(remote, "latest").digest == third
    assert entry(remote, "latest").waiting == ()


def test_write_back_names_the_picked_tag_in_the_stream(
    local_registry: LocalRegistry,
    upstream: tuple[str, dict[str, str]],
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
) -> None:
    repository, _ = upstream
    original = stream_yaml({"stable": (repository, {"semver": "~1.4"})})
    remote = make_remote(
        {
            ".reconciler.yaml": CONFIG + "writeBack: true\n",
            "app.yaml": original,
            "web.yaml": deployment("web", "stable"),
        }
    )
    clock = Clock()
    assert reconcile(remote, tmp_path, clock).pushed
    written = remote.show("app.yaml")
    assert f"        name: {repository}:1.4.7\n" in written + "\n"
    assert written.replace(f"{repository}:1.4.7", repository) == original.rstrip("\n")
    assert "Written back:" in last_message(remote)
    count = remote.commit_count()
    clock.advance(minutes=5)
    assert reconcile(remote, tmp_path, clock).commit is None  # the written tag is no change
    assert remote.commit_count() == count
    push_tags(local_registry.url, unique_repo, ["1.4.8"], unique_repo)
    clock.advance(minutes=5)
    assert reconcile(remote, tmp_path, clock).pushed
    assert f"name: {repository}:1.4.8" in remote.show("app.yaml")
    assert remote.commit_count() == count + 1  # lock, record and manifests in one commit


def pinned_a_day_later(
    make_remote: MakeRemote, repository: str, tmp_path: Path
) -> tuple[GitRemote, Clock]:
    """Stream ``app``, tag ``stable``: semver ~1.4, minimum-age 24h; reconciled now and a
    day later, when its best candidate is pinned."""
    remote = make_remote(
        {
            ".reconciler.yaml": CONFIG,
            "app.yaml": stream_yaml(
                {"stable": (repository, {"semver": "~1.4", "minimum-age": "24h"})}
            ),
        }
    )
    clock = Clock()
    reconcile(remote, tmp_path, clock)
    clock.advance(hours=24)
    reconcile(remote, tmp_path, clock)
    return remote, clock


def test_a_policy_tags_re_push_restarts_the_clock(
    local_registry: LocalRegistry,
    upstream: tuple[str, dict[str, str]],
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
) -> None:
    """The reviewer's reproduction: minimum age goes by digest, not by tag name, for the
    pinned tag's re-push (a) and for a candidate re-pushed while it waits (b)."""
    repository, digests = upstream
    url = local_registry.url
    remote, clock = pinned_a_day_later(make_remote, repository, tmp_path)
    assert picked(remote)["stable"] == "1.4.7"
    assert entry(remote, "stable").digest == digests["1.4.7"]

    # (a) 1.4.7 is re-pushed with new content: 10 minutes later it is not pinned; it
    # waits 24 hours like a plain tag's new digest.
    repushed = push_image(url, unique_repo, "1.4.7", seed=f"{unique_repo}-1.4.7-again")
    clock.advance(minutes=10)
    seen = clock.text
    result = reconcile(remote, tmp_path, clock)
    assert entry(remote, "stable").digest == digests["1.4.7"]
    assert entry(remote, "stable").waiting == (WaitingItem(seen, tag="1.4.7", digest=repushed),)
    assert (
        f"waiting: {NS}/app:stable 1.4.7 (new digest {repushed[:19]}) first seen now, "
        "pinnable in 24 hours (minimum-age 24h)"
    ) in result.plan.notes
    clock.advance(hours=23, minutes=50)
    reconcile(remote, tmp_path, clock)
    assert entry(remote, "stable").digest == digests["1.4.7"]
    clock.advance(minutes=10)
    reconcile(remote, tmp_path, clock)
    assert entry(remote, "stable").digest == repushed
    assert picked(remote)["stable"] == "1.4.7" and entry(remote, "stable").waiting == ()

    # (b) 1.4.8 appears and ages 23h50m; it is re-pushed with other content: ten minutes
    # later that ten-minute-old digest is not pinned. Its clock started at the re-push.
    first = push_image(url, unique_repo, "1.4.8", seed=f"{unique_repo}-1.4.8-first")
    clock.advance(minutes=1)
    reconcile(remote, tmp_path, clock)
    assert entry(remote, "stable").waiting == (WaitingItem(clock.text, tag="1.4.8", digest=first),)
    clock.advance(hours=23, minutes=50)
    reconcile(remote, tmp_path, clock)
    second = push_image(url, unique_repo, "1.4.8", seed=f"{unique_repo}-1.4.8-second")
    clock.advance(minutes=5)
    restarted = clock.text
    reconcile(remote, tmp_path, clock)
    assert entry(remote, "stable").waiting == (WaitingItem(restarted, tag="1.4.8", digest=second),)
    clock.advance(minutes=5)  # the first sighting of the name is now a day old
    reconcile(remote, tmp_path, clock)
    assert entry(remote, "stable").digest == repushed
    assert picked(remote)["stable"] == "1.4.7"
    clock.advance(hours=23, minutes=55)  # the second digest's day is over
    reconcile(remote, tmp_path, clock)
    assert picked(remote)["stable"] == "1.4.8"
    assert entry(remote, "stable").digest == second
    assert entry(remote, "stable").waiting == ()


def test_a_first_seen_in_the_future_counts_as_now(
    local_registry: LocalRegistry,
    upstream: tuple[str, dict[str, str]],
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
) -> None:
    """A hand-edited lock, or a CI job whose clock ran ahead, recorded 1.4.8 as first seen
    a year from now: it is read as seen now, rewritten so, and pinned a day later."""
    repository, _ = upstream
    added = push_tags(local_registry.url, unique_repo, ["1.4.8"], unique_repo)["1.4.8"]
    remote, clock = pinned_a_day_later(make_remote, repository, tmp_path)
    assert picked(remote)["stable"] == "1.4.8"
    # 1.4.8 is re-pushed; someone's lock says its new digest was first seen next year.
    repushed = push_image(local_registry.url, unique_repo, "1.4.8", seed=f"{unique_repo}-x")
    lock = remote.show("images.lock.yaml")
    future = clock.now.replace(year=clock.now.year + 1).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"          waiting:\n            - {{tag: 1.4.8, digest: '{repushed}', firstSeen: '{future}'}}\n"
    marker = "          history:\n"
    assert marker in lock
    remote.commit({"images.lock.yaml": lock.replace(marker, line + marker, 1)})
    assert entry(remote, "stable").waiting == (WaitingItem(future, tag="1.4.8", digest=repushed),)
    clock.advance(minutes=1)
    seen = clock.text
    assert reconcile(remote, tmp_path, clock).pushed
    assert entry(remote, "stable").waiting == (WaitingItem(seen, tag="1.4.8", digest=repushed),)
    assert entry(remote, "stable").digest == added
    clock.advance(hours=24)
    reconcile(remote, tmp_path, clock)
    assert entry(remote, "stable").digest == repushed
    assert entry(remote, "stable").waiting == ()


def test_tag_and_import_image_refuse_a_tag_that_a_policy_or_a_hold_decides(
    upstream: tuple[str, dict[str, str]],
    make_remote: MakeRemote,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``tag SRC DEST`` (or ``import-image DEST --from=SRC``) onto a held tag, or onto a
    tag a version policy picks for, would say "Tag ... set to SRC" and pin nothing of the
    kind (the hold keeps the digest, the
    policy picks again): it writes nothing, exits 1 and says what to do instead."""
    repository, digests = upstream
    remote = make_remote(
        {
            ".reconciler.yaml": CONFIG,
            "app.yaml": stream_yaml(
                {
                    "stable": (repository, {"semver": "~1.4"}),
                    "prod": (f"{repository}:2.0.0", {"hold": "freeze"}),
                }
            ),
        }
    )
    reconcile(remote, tmp_path, Clock())
    git("pull", "-q", "origin", "main", cwd=remote.human)
    human = str(remote.human)
    before = (remote.human / "app.yaml").read_text()
    capsys.readouterr()
    assert command("tag", f"{repository}:1.4.6", "app:stable", "--repo", human) == (1, "")
    err = capsys.readouterr().err
    assert "app:stable picks its image by semver ~1.4" in err
    assert "remove its imagestream-reconciler.io/semver annotation" in err
    assert command("tag", f"{repository}:1.2.0", "app:prod", "--repo", human) == (1, "")
    err = capsys.readouterr().err
    assert "app:prod is held (freeze): release it first (reconciler release app:prod)" in err
    code, _ = command(
        "import-image", "app:stable", f"--from={repository}:1.4.6", "--confirm", "--repo", human
    )
    assert code == 1
    assert "app:stable picks its image by semver ~1.4" in capsys.readouterr().err
    assert (remote.human / "app.yaml").read_text() == before
    assert entry(remote, "stable").digest == digests["1.4.7"]
