"""The lease on a real bare remote, with a clock the test moves: one replica leads, the
others follow; a leader that stops renewing is replaced after the lease period; a
clean stop hands over at the next look; a leader that cannot renew steps down before
anyone may take over; and the lease ref never grows a history."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.core.leases import parse_record
from reconciler.daemon.leadership import Leadership
from reconciler.gitrepo.lease import LEASE_REFS, LeaseRef

pytestmark = pytest.mark.integration
TTL = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bare(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


def replica(remote: Path, tmp_path: Path, name: str, clock: Clock) -> Leadership:
    lease = LeaseRef(str(remote), "main", tmp_path / f"{name}.lease.git")
    return Leadership(lease, name, TTL, monotonic=clock, wall=lambda: 1_767_225_600.0)


def holder(remote: Path) -> tuple[str, int, bool]:
    text = subprocess.run(
        ["git", "log", "-1", "--format=%B", LEASE_REFS + "main"],
        cwd=remote, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    record = parse_record(text)
    assert record is not None
    return record.holder, record.term, record.released


def test_one_leads_the_others_follow_and_take_over_when_it_stops(tmp_path: Path) -> None:
    remote, clock = bare(tmp_path), Clock()
    a, b, c = (replica(remote, tmp_path, n, clock) for n in "abc")
    assert not a.view().known and not a.following()  # not looked yet: neither
    assert a.check().leading and a.view().term == 1
    for follower in (b, c):
        view = follower.check()
        assert view.known and not view.leading and view.holder == "a" and view.term == 1
        assert follower.following()

    # a renews every period; b and c see new versions and never take over.
    for _ in range(6):
        clock.now += 10
        assert a.check().leading
        assert not b.check().leading and not c.check().leading
    assert holder(remote) == ("a", 1, False)

    # a stops renewing (killed): one follower takes over after a whole lease period
    # of seeing the same version, not before.
    clock.now += 29
    assert not b.check().leading and not c.check().leading
    assert not a.leading()  # a's own term ran out a period before: it would not act
    clock.now += 1
    assert b.check().leading and b.view().term == 2
    assert not c.check().leading and c.view().holder == "b"
    assert holder(remote) == ("b", 2, False)
    # a comes back: its renewal loses to b's term, and it follows.
    assert not a.check().leading and a.view().holder == "b"

    # b stops cleanly: the lease is released and c takes over at its next look.
    b.release()
    assert holder(remote) == ("b", 2, True)
    assert not b.leading()
    assert c.check().leading and c.view().term == 3
    # The ref is one parentless commit, whatever happened.
    parents = subprocess.run(
        ["git", "rev-list", "--count", LEASE_REFS + "main"],
        cwd=remote, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert parents == "1"


def test_a_restarted_replica_resumes_its_own_lease(tmp_path: Path) -> None:
    remote, clock = bare(tmp_path), Clock()
    assert replica(remote, tmp_path, "a", clock).check().leading
    again = replica(remote, tmp_path, "a", clock)  # same id, fresh process
    assert again.check().leading and again.view().term == 1


def test_a_leader_that_cannot_renew_steps_down_before_a_follower_may_start(
    tmp_path: Path,
) -> None:
    remote, clock = bare(tmp_path), Clock()
    a, b = (replica(remote, tmp_path, n, clock) for n in "ab")
    assert a.check().leading
    assert not b.check().leading
    assert a.lease is not None
    a.lease.url = str(tmp_path / "unreachable.git")  # a's network goes away
    clock.now += 10
    assert a.check().leading  # one failed renewal: still within its term
    assert a.status()["error"]
    clock.now += 10
    assert not a.check().leading and not a.leading()  # 20 s = 30 s - one period
    clock.now += 10
    assert b.check().leading  # b takes over only now


def test_both_taking_an_absent_lease_at_once_leaves_one_leader(tmp_path: Path) -> None:
    remote, clock = bare(tmp_path), Clock()
    a, b = (replica(remote, tmp_path, n, clock) for n in "ab")
    assert a.lease is not None and b.lease is not None
    # Both read "no lease" before either writes.
    assert a.lease.read() is None and b.lease.read() is None
    from reconciler.core.leases import LeaseRecord, render_record

    first = a.lease.replace(render_record(LeaseRecord("a", 1, "t", TTL)), None)
    second = b.lease.replace(render_record(LeaseRecord("b", 1, "t", TTL)), None)
    assert first is not None and second is None
    assert holder(remote)[0] == "a"
