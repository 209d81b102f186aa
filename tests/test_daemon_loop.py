"""The daemon loop's decisions, without a network: waking under the per-minute cap,
registry notifications that arrive before the first pass, which deliveries are still
worth sending, and failing tags retried on the schedule rather than on every pass."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest
from daemon_fixtures import daemon_config
from git_fixtures import GitRemote

from reconciler.config.settings import Settings
from reconciler.core.lockfile import Lock, TagLock, TagSource, parse_lock
from reconciler.core.manifests import ObjectKey
from reconciler.core.resolution import DesiredTags, import_requests
from reconciler.core.schedule import ImportPolicy
from reconciler.core.streams import TagRef
from reconciler.core.triggers import ACKNOWLEDGED, CONFIG_CHANGE, IMAGE_CHANGE, TriggerRecord
from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.runner import MIN_WAIT, Daemon
from reconciler.daemon.state import Delivery
from reconciler.daemon.webhooks import PushedRepository
from testsupport.images import push_image, push_tags
from testsupport.registry import LocalRegistry

MakeRemote = Callable[[Mapping[str, str]], GitRemote]
NS = "team"
A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


class FakeClock:
    def __init__(self, now: float = 100_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_daemon(tmp_path: Path, clock: FakeClock, **policy: object) -> Daemon:
    config = DaemonConfig(
        repo_url=str(tmp_path / "nowhere.git"),
        work_dir=tmp_path / "work",
        state_dir=tmp_path / "state",
        git_poll_interval=300,
        policy=ImportPolicy(**policy),  # type: ignore[arg-type]
    )
    return Daemon(config, Settings(cache_dir=tmp_path), clock=clock)


def test_overdue_tags_over_the_cap_sleep_until_the_window_frees(tmp_path: Path) -> None:
    clock = FakeClock()
    daemon = make_daemon(tmp_path, clock, minimum_interval=10, per_minute=2)
    try:
        refs = [TagRef(NS, "s", str(i)) for i in range(4)]
        daemon._recheckable = refs
        daemon.state.record_checks(refs, clock.now - 100)  # all overdue
        assert daemon.next_wakeup() == MIN_WAIT  # budget left: look now
        daemon._recent_checks = [clock.now - 20, clock.now - 5]  # this minute's 2 spent
        assert daemon.next_wakeup() == pytest.approx(40.0)  # when the first leaves the window
    finally:
        daemon.close()


def test_failing_tags_follow_the_schedule() -> None:
    ref = TagRef(NS, "s", "t")
    source = TagSource("DockerImage", "quay.io/team/app:1")
    lock = Lock(tags={ref: TagLock(source).failed("NotFound", "gone", "2026-01-01T00:00:00Z")})
    desired = DesiredTags({ref: source}, frozenset())
    asked = lambda due: [r.ref for r in import_requests(desired, lock, scheduled_due=due)[0]]  # noqa: E731
    assert asked(None) == [ref]  # a one-shot pass retries it
    assert asked([]) == []  # a daemon pass for another reason does not
    assert asked([ref]) == [ref]  # ...until it is due


def record(rid: str, tag: TagRef, digest: str, status: str = "open") -> TriggerRecord:
    return TriggerRecord(
        id=rid,
        type=IMAGE_CHANGE,
        consumer=ObjectKey("DeploymentConfig", NS, "web"),
        tag=tag,
        from_digest=None,
        to_digest=digest,
        image=f"q.io/app@{digest}",
        automatic=True,
        container_names=(),
        created="2026-01-01T00:00:00Z",
        status=status,
    )


def test_only_the_newest_open_record_is_delivered(tmp_path: Path) -> None:
    daemon = make_daemon(tmp_path, FakeClock())
    try:
        tag = TagRef(NS, "app", "latest")
        entry = TagLock(TagSource("DockerImage", "q.io/app:latest")).moved_to(
            B, f"q.io/app@{B}", "2026-01-01T00:00:00Z"
        )
        web = ObjectKey("DeploymentConfig", NS, "web")
        daemon._lock_model = Lock(tags={tag: entry}, consumers={web: "sha256:spec2"})
        old, new, acked = (
            record("dc-web-old", tag, A),
            record("dc-web-new", tag, B),
            record("dc-web-ack", tag, B, ACKNOWLEDGED),
        )
        config = TriggerRecord(
            **{
                **new.__dict__,
                "id": "dc-web-cfg",
                "type": CONFIG_CHANGE,
                "spec_hash": "sha256:spec1",
            }
        )
        daemon._records = {r.id: r for r in (old, new, acked, config)}

        def reason(rid: str) -> str | None:
            return daemon._skip_reason(
                Delivery(rid, "http://x/", "{}", "pending", 0, 5, 0, None, None)
            )

        assert reason("dc-web-new") is None
        assert reason("dc-web-old") == f"superseded: {tag} has moved on to {B[:19]}"
        assert reason("dc-web-ack") == "the record is acknowledged"
        assert reason("dc-web-cfg") == f"superseded: the spec of {web} changed again"
        assert reason("dc-web-gone") == "the record is no longer in the repository"
    finally:
        daemon.close()


STREAM = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: app, namespace: team}}
spec:
  tags:
    - name: latest
      from:
        kind: DockerImage
        name: {host}/early/app:latest
      importPolicy:
        insecure: true
        scheduled: true
"""


def test_a_notification_before_the_first_pass_is_kept(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path
) -> None:
    """The registry queues events while the daemon is down; they arrive before the
    restarted daemon's first pass, when there is no index yet to match them against."""
    push_image(local_registry.url, "early/app", "latest", seed="early-1")
    remote = make_remote({"app.yaml": STREAM.format(host=local_registry.host)})
    config = daemon_config(tmp_path, remote.url)
    first = Daemon(config, Settings(cache_dir=tmp_path))
    first.step()  # checks the tag, records the check time
    first.close()

    moved = push_image(local_registry.url, "early/app", "latest", seed="early-2")
    second = Daemon(config, Settings(cache_dir=tmp_path))
    try:
        second.notify_registry([PushedRepository(local_registry.host, "early/app", "latest")])
        second.step()  # the first pass: the tag is not due (interval 3600 s)
        second.step()  # the kept notification forces the re-check
    finally:
        second.close()
    entry = parse_lock(remote.show("images.lock.yaml")).get(TagRef(NS, "app", "latest"))
    assert entry is not None and entry.digest == moved


def test_held_and_floor_kept_tags_do_not_keep_the_loop_busy(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    """A scheduled tag the pass answers without asking the registry (a hold; a policy
    tag kept at its floor because its pinned tag is gone upstream) still counts as
    checked: once its turn has passed, the loop sleeps until the next one instead of
    running a pass that asks nothing, over and over."""
    digests = push_tags(local_registry.url, unique_repo, ["1.4.7", "1.4.8"], unique_repo)
    repo = f"{local_registry.host}/{unique_repo}"
    policy = "        annotations:\n          imagestream-reconciler.io/semver: '~1.4'\n"
    stream = f"""\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: app, namespace: {NS}}}
spec:
  tags:
    - name: held
      annotations:
        imagestream-reconciler.io/hold: "INC-1: canary"
      from: {{kind: DockerImage, name: "{repo}:1.4.7"}}
      importPolicy: {{insecure: true, scheduled: true}}
    - name: stable
{policy.replace("        ", "      ")}      from: {{kind: DockerImage, name: "{repo}"}}
      importPolicy: {{insecure: true, scheduled: true}}
"""
    remote = make_remote({"app.yaml": stream})
    clock = FakeClock(time.time())
    config = daemon_config(tmp_path, remote.url, interval=600, poll=3600)
    daemon = Daemon(config, Settings(cache_dir=tmp_path), clock=clock)
    try:
        assert daemon.step() is not None  # the first pass pins 1.4.8 and holds the other
        lock = parse_lock(remote.show("images.lock.yaml"))
        stable = lock.get(TagRef(NS, "app", "stable"))
        assert stable is not None and stable.digest == digests["1.4.8"]
        reply = httpx.delete(
            f"{local_registry.url}/v2/{unique_repo}/manifests/{digests['1.4.8']}", timeout=10
        )
        assert reply.status_code == 202
        clock.now += 700  # both tags' turns have come
        result = daemon.step()
        assert result is not None and result.plan.requested == []  # held; kept at 1.4.8
        assert daemon.next_wakeup() > 60  # not due again before the next interval
        assert daemon.step() is None  # no pass that asks nothing, again and again
    finally:
        daemon.close()
