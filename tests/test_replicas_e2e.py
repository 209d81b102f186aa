"""Three daemons on one repository, as production runs them: a real docker-registry that
notifies all three, a bare git remote, humans committing and images pushed every 0.5-2 s
(randomized with fixed seeds). Checked over every commit of the remote: no tag ever
moves back, no record is lost or duplicated, and each record reaches the receiver once.
Then failover: the leader is SIGKILLed, another replica takes over within the lease
period, and what happens after is delivered once; a clean stop hands over at once, and
the new leader delivers the newest open record once more."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from daemon_fixtures import (
    NotifyingRegistry,
    Receiver,
    RunningDaemon,
    daemon_config,
    start_daemon,
    start_receiver,
    wait_for,
)
from git_fixtures import GitRemote, git
from prometheus_client.parser import text_string_to_metric_families

from reconciler.core.leases import parse_record
from reconciler.core.lockfile import Lock, parse_lock
from reconciler.core.streams import TagRef
from reconciler.core.triggers import TriggerRecord, record_from_data
from reconciler.core.yamltext import load_machine_yaml
from reconciler.daemon.config import DeliveryTarget
from reconciler.gitrepo.lease import LEASE_REFS
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
MakeRemote = Callable[[Mapping[str, str]], GitRemote]
NS = "team"
APPS = ("app1", "app2", "app3")


def stream(name: str, source: str) -> str:
    return f"""\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: {name}, namespace: {NS}}}
spec:
  tags:
    - name: latest
      from: {{kind: DockerImage, name: "{source}"}}
      importPolicy: {{insecure: true, scheduled: true}}
"""


def deployment(name: str, istag: str) -> str:
    return f"""\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata: {{name: {name}, namespace: {NS}}}
spec:
  template:
    spec:
      containers:
        - {{name: web, image: web}}
  triggers:
    - type: ImageChange
      imageChangeParams:
        automatic: true
        containerNames: [web]
        from: {{kind: ImageStreamTag, name: "{istag}"}}
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = start_receiver()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


# ---------------------------------------------------------------- what the remote holds


def show_many(remote: GitRemote, objects: list[str]) -> list[str | None]:
    """``git show`` of many ``rev:path`` at once (one ``cat-file --batch``); None for
    what does not exist."""
    out = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=remote.bare, input="".join(f"{o}\n" for o in objects).encode(),
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    texts: list[str | None] = []
    while out:
        header, _, out = out.partition(b"\n")
        if header.endswith(b" missing"):
            texts.append(None)
            continue
        size = int(header.split()[2])
        texts.append(out[:size].decode())
        out = out[size + 1 :]
    return texts


def locks_in_order(remote: GitRemote) -> list[Lock]:
    """The lock at every commit of the branch, oldest first."""
    commits = git("rev-list", "--reverse", "main", cwd=remote.bare).splitlines()
    texts = show_many(remote, [f"{c}:images.lock.yaml" for c in commits])
    return [parse_lock(t) for t in texts if t is not None]  # none before the first lock


def assert_never_backwards(remote: GitRemote, pushed: Mapping[TagRef, list[str]]) -> int:
    """In every commit each tag's history is in the order its images were pushed, with no
    digest twice, and from commit to commit a tag only moves forward. Returns how many
    commits were checked."""
    locks = locks_in_order(remote)
    position = {ref: -1 for ref in pushed}
    for n, lock in enumerate(locks):
        for ref, order in pushed.items():
            entry = lock.get(ref)
            if entry is None or entry.digest is None:
                continue
            ranks = [order.index(h.digest) for h in entry.history]
            assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) == len(ranks), (
                f"commit {n}: {ref} history out of push order: {ranks}"
            )
            assert ranks[0] >= position[ref], f"commit {n}: {ref} moved back"
            position[ref] = ranks[0]
    return len(locks)


def records_of(remote: GitRemote) -> list[TriggerRecord]:
    paths = [p for p in remote.files() if p.startswith("triggers/")]
    texts = show_many(remote, [f"main:{p}" for p in paths])
    return [
        record_from_data(load_machine_yaml(t or ""), p) for p, t in zip(paths, texts, strict=True)
    ]


def assert_no_record_lost_or_twice(remote: GitRemote, consumers: Mapping[str, TagRef]) -> None:
    """Exactly one record per (consumer, tag, digest); for the consumers that were there
    from the start, one for every digest their tag ever had."""
    records = records_of(remote)
    keys = Counter((r.consumer.name, r.tag, r.to_digest) for r in records)
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]
    lock = parse_lock(remote.show("images.lock.yaml"))
    for name, ref in consumers.items():
        entry = lock.get(ref)
        assert entry is not None
        had = {h.digest for h in entry.history}
        opened = {r.to_digest for r in records if r.consumer.name == name}
        assert opened == had, name


def lease_holder(remote: GitRemote) -> tuple[str, int, bool] | None:
    try:
        text = git("log", "-1", "--format=%B", LEASE_REFS + "main", cwd=remote.bare)
    except subprocess.CalledProcessError:
        return None
    record = parse_record(text)
    return None if record is None else (record.holder, record.term, record.released)


# ---------------------------------------------------------------- three replicas, churn


@pytest.mark.parametrize(
    ("lease", "seconds"),
    [
        pytest.param(True, 10.0, id="one-leader"),
        # No lease: all three write at once, racing each other's pushes all the time. The
        # lock and the records must still be right; each replica delivers everything.
        pytest.param(False, 4.0, id="all-three-write"),
    ],
)
def test_three_replicas_under_churn(
    make_remote: MakeRemote, tmp_path: Path, receiver: Receiver, lease: bool, seconds: float
) -> None:
    remote = make_remote({"README.md": "images\n"})
    target = DeliveryTarget(match="*", url=receiver.url, max_attempts=20)
    replicas: list[RunningDaemon] = []
    for name in ("r1", "r2", "r3"):
        config = daemon_config(tmp_path, remote.url, name=name, interval=1.0, poll=0.5)
        config = replace(
            config, delivery=(target,), lease=lease, lease_seconds=10.0, replica_id=name
        )  # fmt: skip
        replicas.append(start_daemon(config))
    endpoints = [f"{r.url}/hooks/registry" for r in replicas]
    try:
        with NotifyingRegistry(endpoints) as registry:
            pushed: dict[TagRef, list[str]] = {}
            files: dict[str, str] = {}
            consumers: dict[str, TagRef] = {}
            for app in APPS:
                ref = TagRef(NS, app, "latest")
                pushed[ref] = [push_image(registry.url, f"team/{app}", "latest", seed=f"{app}-0")]
                files[f"{app}.yaml"] = stream(app, f"{registry.host}/team/{app}:latest")
                files[f"web-{app}.yaml"] = deployment(f"web-{app}", f"{app}:latest")
                consumers[f"web-{app}"] = ref
            remote.commit(files, "streams and consumers")
            for r in replicas:
                r.daemon.notify_git("test")

            stop = threading.Event()
            errors: list[BaseException] = []
            counts = Counter[str]()

            def registry_pushes() -> None:
                rnd = random.Random(1)
                n = 0
                while not stop.wait(rnd.uniform(0.5, 2.0)):
                    app = rnd.choice(APPS)
                    ref = TagRef(NS, app, "latest")
                    # Sometimes a burst (CI pushing twice or more): replicas asking at
                    # nearly the same time then get different answers for one tag.
                    for _ in range(rnd.choice((1, 1, 2, 3))):
                        n += 1
                        seed = f"{app}-{n}"
                        digest = push_image(registry.url, f"team/{app}", "latest", seed=seed)
                        pushed[ref].append(digest)
                        counts["image pushes"] += 1
                        time.sleep(rnd.uniform(0.0, 0.1))

            def human_commits() -> None:
                rnd = random.Random(2)
                n = 0
                while not stop.wait(rnd.uniform(0.5, 2.0)):
                    n += 1
                    if rnd.random() < 0.5:  # a new consumer of one of the tags
                        app = rnd.choice(APPS)
                        change = {f"extra-{n}.yaml": deployment(f"extra-{n}", f"{app}:latest")}
                    else:  # a change that moves nothing
                        change = {"README.md": f"images, edit {n}\n"}
                    remote.commit(change, f"human change {n}")
                    for r in replicas:  # the push webhook, to every replica
                        r.daemon.notify_git("test")
                    counts["human commits"] += 1

            def guarded(work: Callable[[], None]) -> Callable[[], None]:
                def run() -> None:
                    try:
                        work()
                    except BaseException as exc:
                        errors.append(exc)

                return run

            drivers = [
                threading.Thread(target=guarded(w)) for w in (registry_pushes, human_commits)
            ]
            for d in drivers:
                d.start()
            time.sleep(seconds)
            stop.set()
            for d in drivers:
                d.join(timeout=30)
            assert not errors, errors

            # Converged: every tag at its last image, every newest record delivered.
            def converged() -> bool:
                lock = parse_lock(remote.show("images.lock.yaml"))
                at_last = all(
                    (e := lock.get(ref)) is not None and e.digest == order[-1]
                    for ref, order in pushed.items()
                )
                if not at_last:
                    return False
                newest = {
                    r.id
                    for r in records_of(remote)
                    if r.tag is not None and lock.get(r.tag).digest == r.to_digest  # type: ignore[union-attr]
                }
                return newest <= receiver.keys()

            wait_for(converged, timeout=30)
            if not lease:  # every replica delivers the newest records: wait for all three
                newest = {r.id for r in records_of(remote) if r.to_digest in last_digests(remote)}
                wait_for(
                    lambda: all(sum(k == i for k, _ in receiver.received) == 3 for i in newest)
                )
            time.sleep(0.5)  # anything late would show now

        commits = assert_never_backwards(remote, pushed)
        assert_no_record_lost_or_twice(remote, consumers)
        records = records_of(remote)
        extras = {r.consumer.name for r in records if r.consumer.name.startswith("extra-")}
        assert extras == {n for n in files_added(remote) if n.startswith("extra-")}
        deliveries = Counter(key for key, _ in receiver.received)
        leaders = [r.daemon.config.replica_id for r in replicas if r.daemon.passes]
        print(
            f"\n3 replicas, lease {'on' if lease else 'off'}, {seconds:.0f} s: "
            f"{counts['image pushes']} image pushes, {counts['human commits']} human commits, "
            f"{commits} commits checked; "
            f"{len(records)} records, {len(deliveries)} delivered, "
            f"{len(records) - len(deliveries)} superseded before delivery; "
            f"deliveries per record: {sorted(Counter(deliveries.values()).items())}; "
            f"passes by replica: {[r.daemon.passes for r in replicas]}"
        )
        assert set(deliveries) <= {r.id for r in records}
        if not lease:  # each replica delivers each record at most once
            assert len(leaders) == 3 and max(deliveries.values()) <= 3
            return
        assert max(deliveries.values()) == 1  # each record delivered once
        assert len(leaders) == 1  # one leader ran every pass
        # Followers answer too: ready, `leader: false`, the leader gauge at 0.
        statuses = [httpx.get(f"{r.url}/status").json() for r in replicas]
        assert sorted(s["leader"] for s in statuses) == [False, False, True]
        assert {s["lease"]["holder"] for s in statuses} == set(leaders)
        assert all(httpx.get(f"{r.url}/readyz").status_code == 200 for r in replicas)
        gauges = [
            s.value
            for r in replicas
            for f in text_string_to_metric_families(httpx.get(f"{r.url}/metrics").text)
            if f.name == "reconciler_leader"
            for s in f.samples
        ]
        assert sorted(gauges) == [0.0, 0.0, 1.0]
    finally:
        for r in replicas:
            r.stop()


def last_digests(remote: GitRemote) -> set[str | None]:
    return {e.digest for e in parse_lock(remote.show("images.lock.yaml")).tags.values()}


def files_added(remote: GitRemote) -> set[str]:
    """The consumers' names, from the files the humans added."""
    return {p[: -len(".yaml")] for p in remote.files() if p.endswith(".yaml")}


# ---------------------------------------------------------------- failover


LEASE = 3.0  # short, for a quick failover; a loaded machine still renews in time


def _replica_yaml(directory: Path, remote: GitRemote, receiver: Receiver, name: str) -> Path:
    config = directory / f"{name}.yaml"
    config.write_text(
        f"""\
repo: {{url: "{remote.url}"}}
workDir: {name}/work
stateDir: {name}/state
gitPollIntervalSeconds: 0.2
imagePolicy:
  ScheduledImageImportMinimumIntervalSeconds: 0.5
  MaxScheduledImageImportsPerMinute: 1000
listen: 127.0.0.1:0
delivery:
  - {{match: "*", url: "{receiver.url}", maxAttempts: 50}}
replicas: {{leaseSeconds: {LEASE}, id: {name}}}
logFormat: json
"""
    )
    return config


def test_failover_after_the_leader_is_killed(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, receiver: Receiver
) -> None:
    repo = "failover/app"
    first = push_image(local_registry.url, repo, "latest", seed="failover-1")
    remote = make_remote(
        {
            "app.yaml": stream("app", f"{local_registry.host}/{repo}:latest"),
            "web.yaml": deployment("web", "app:latest"),
        }
    )
    ref = TagRef(NS, "app", "latest")
    names = ("r1", "r2", "r3")
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name in names:
        config = _replica_yaml(tmp_path, remote, receiver, name)
        with open(tmp_path / f"{name}.log", "ab") as log:
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", "reconciler", "run", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
    try:

        def digest() -> str | None:
            try:
                entry = parse_lock(remote.show("images.lock.yaml")).get(ref)
            except subprocess.CalledProcessError:
                return None
            return entry.digest if entry else None

        def delivered(to: str) -> bool:
            ids = {r.id for r in records_of(remote) if r.to_digest == to}
            return bool(ids) and ids <= receiver.keys()

        wait_for(lambda: digest() == first and delivered(first), timeout=30)
        holder = lease_holder(remote)
        assert holder is not None and not holder[2]
        leader, term = holder[0], holder[1]

        # SIGKILL the leader: no release, its lease just stops being renewed.
        processes[leader].kill()
        processes[leader].wait(timeout=10)
        killed = time.monotonic()
        second = push_image(local_registry.url, repo, "latest", seed="failover-2")
        new = wait_for(
            lambda: (h := lease_holder(remote)) is not None and h[0] != leader and h, timeout=30
        )
        takeover = time.monotonic() - killed
        assert new[1] == term + 1
        wait_for(lambda: digest() == second and delivered(second), timeout=30)

        # A clean stop (SIGTERM) of the new leader releases the lease: the third replica
        # takes over at its next look, not a lease period later.
        successor = new[0]
        processes[successor].send_signal(signal.SIGTERM)
        assert processes[successor].wait(timeout=30) == 0
        stopped = time.monotonic()
        assert "lease released" in (tmp_path / f"{successor}.log").read_text()
        now_held = lease_holder(remote)  # released, or already taken by the third replica
        assert now_held == (successor, new[1], True) or (
            now_held is not None and now_held[0] != successor and now_held[1] == new[1] + 1
        )
        last = wait_for(
            lambda: (h := lease_holder(remote)) is not None and h[0] != successor and h,
            timeout=30,
        )
        handover = time.monotonic() - stopped
        # Nothing moved meanwhile: the new leader sends the newest open record again
        # (it cannot know the old leader had), once.
        (again,) = [r.id for r in records_of(remote) if r.to_digest == second]
        wait_for(lambda: sum(k == again for k, _ in receiver.received) == 2, timeout=30)
        third = push_image(local_registry.url, repo, "latest", seed="failover-3")
        wait_for(lambda: digest() == third and delivered(third), timeout=30)
        time.sleep(0.5)

        deliveries = Counter(key for key, _ in receiver.received)
        print(
            f"\nfailover: takeover {takeover:.2f} s after SIGKILL (lease {LEASE} s), "
            f"handover {handover:.2f} s after SIGTERM; leaders {leader} -> {successor} -> "
            f"{last[0]}; deliveries per record: {dict(sorted(deliveries.items()))}"
        )
        assert takeover <= LEASE + LEASE / 3 + 3.0  # slack for a loaded machine
        assert handover <= LEASE / 3 + 3.0
        records = records_of(remote)
        assert {r.to_digest for r in records} == {first, second, third}
        assert len(records) == 3
        assert set(deliveries) == {r.id for r in records}
        # Each delivered once, but for the one re-delivery after the clean handover.
        assert {r.to_digest: deliveries[r.id] for r in records} == {first: 1, second: 2, third: 1}
        assert_never_backwards(remote, {ref: [first, second, third]})
    finally:
        for proc in processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in processes.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
